import { DomainError } from './errors.js';

// The key state machine: one table says which operation is allowed in which state, what
// the state becomes, and which refusal each forbidden combination returns. It cites the
// contract (docs/contract/keys.md#state-table) and the seed KMS guide (deletion: an Enabled key must be
// disabled first; cancelling returns it to Disabled). Enforced only through `transition`.

export { KEY_STATES, type KeyState } from '../model/keys.js';
import type { KeyState } from '../model/keys.js';

/**
 * The numbers ListKeyDetail's KeyState filter gives the states (docs/contract/keys.md#list-key-detail-filters; 0 = every
 * state). ListDataKeyDetail numbers its three states, a data key's Enabled, Disabled and
 * PendingDelete, the same way (docs/contract/actions.md#group-data-keys).
 */
export const KEY_STATE_NUMBERS: Readonly<Record<KeyState, number>> = { Enabled: 1, Disabled: 2, PendingDelete: 3, PendingImport: 4, Archived: 5 };

export const KEY_OPERATIONS = [
  'Encrypt', // Encrypt, GenerateDataKey, ReEncrypt destination
  'Decrypt', // Decrypt, ReEncrypt source
  'UseAsymmetric', // Sign/Verify, Asymmetric*Decrypt, GetPublicKey
  'Enable',
  'Disable',
  'ScheduleDeletion',
  'CancelDeletion',
  'Archive',
  'CancelArchive',
  'ImportMaterial', // GetParametersForImport, ImportKeyMaterial
  'DeleteImportedMaterial',
  'UpdateMetadata', // UpdateAlias, UpdateKeyDescription
  'ConfigureRotation', // EnableKeyRotation, DisableKeyRotation
  'Rotate', // RotateKey and automatic rotation
  'Read', // Describe*, List*, GetKeyRotationStatus
  'Bind', // BindCloudResource, UnbindCloudResource
] as const;
export type KeyOperation = (typeof KEY_OPERATIONS)[number];

/** Why an operation is refused; api/error-codes.ts turns each into a Tencent code. */
export type Refusal = 'Disabled' | 'PendingDelete' | 'Archived' | 'StateNotSupported' | 'ShouldBeDisabled' | 'NotPendingDelete';

/** Allowed: stay, or move to a state. `PendingImportIfNoMaterial` is CancelDeletion's EXTERNAL case. */
export type Outcome = { to: KeyState | 'same' | 'DisabledOrPendingImport' } | { refuse: Refusal };

const ok = (to: KeyState | 'same' | 'DisabledOrPendingImport' = 'same'): Outcome => ({ to });
const no = (refuse: Refusal): Outcome => ({ refuse });
const NS = no('StateNotSupported');

// Columns: Enabled, Disabled, PendingDelete, PendingImport, Archived (docs/contract/keys.md#state-table; "?" cells take the
// contract's recommended behaviour in brackets). A PendingDelete key refuses cryptographic use
// with KeyPendingDelete (docs/contract/keys.md#state-table, docs/contract/actions.md#group-symmetric GenerateDataKey) and management with CmkStateNotSupport
// (docs/contract/actions.md#group-lifecycle UpdateAlias; the management actions' error lists name no other code).
const PD = no('PendingDelete');
const TABLE: Record<KeyOperation, Record<KeyState, Outcome>> = {
  Encrypt: { Enabled: ok(), Disabled: no('Disabled'), PendingDelete: PD, PendingImport: NS, Archived: no('Archived') },
  Decrypt: { Enabled: ok(), Disabled: no('Disabled'), PendingDelete: PD, PendingImport: NS, Archived: ok() },
  UseAsymmetric: { Enabled: ok(), Disabled: NS, PendingDelete: PD, PendingImport: NS, Archived: NS },
  Enable: { Enabled: ok(), Disabled: ok('Enabled'), PendingDelete: NS, PendingImport: NS, Archived: NS },
  Disable: { Enabled: ok('Disabled'), Disabled: ok(), PendingDelete: NS, PendingImport: NS, Archived: NS },
  // Seed KMS guide, deletion: "an enabled key must be disabled before it can be scheduled".
  ScheduleDeletion: { Enabled: no('ShouldBeDisabled'), Disabled: ok('PendingDelete'), PendingDelete: NS, PendingImport: ok('PendingDelete'), Archived: NS },
  // Seed KMS guide: cancelling returns the key to Disabled (PendingImport for EXTERNAL keys without material).
  CancelDeletion: {
    Enabled: no('NotPendingDelete'),
    Disabled: no('NotPendingDelete'),
    PendingDelete: ok('DisabledOrPendingImport'),
    PendingImport: no('NotPendingDelete'),
    Archived: no('NotPendingDelete'),
  },
  Archive: { Enabled: ok('Archived'), Disabled: NS, PendingDelete: NS, PendingImport: NS, Archived: ok() },
  CancelArchive: { Enabled: NS, Disabled: NS, PendingDelete: NS, PendingImport: NS, Archived: ok('Enabled') },
  ImportMaterial: { Enabled: ok(), Disabled: ok(), PendingDelete: NS, PendingImport: ok('Enabled'), Archived: NS },
  DeleteImportedMaterial: { Enabled: ok('PendingImport'), Disabled: ok('PendingImport'), PendingDelete: NS, PendingImport: ok(), Archived: NS },
  UpdateMetadata: { Enabled: ok(), Disabled: ok(), PendingDelete: NS, PendingImport: ok(), Archived: ok() },
  ConfigureRotation: { Enabled: ok(), Disabled: ok(), PendingDelete: NS, PendingImport: NS, Archived: NS },
  Rotate: { Enabled: ok(), Disabled: NS, PendingDelete: NS, PendingImport: NS, Archived: NS },
  Read: { Enabled: ok(), Disabled: ok(), PendingDelete: ok(), PendingImport: ok(), Archived: ok() },
  Bind: { Enabled: ok(), Disabled: ok(), PendingDelete: ok(), PendingImport: ok(), Archived: ok() },
};

export class KeyStateError extends DomainError {
  readonly code: string;
  constructor(
    readonly refusal: Refusal,
    readonly operation: KeyOperation,
    readonly state: KeyState,
    keyId: string,
  ) {
    super(describe(refusal, operation, state, keyId));
    this.code = `KeyState.${refusal}`;
  }
}

function describe(refusal: Refusal, operation: KeyOperation, state: KeyState, keyId: string): string {
  switch (refusal) {
    case 'Disabled':
      return `key ${keyId} is disabled`;
    case 'PendingDelete':
      return `key ${keyId} is pending deletion; cancel the deletion first`;
    case 'Archived':
      return `key ${keyId} is archived and can only decrypt`;
    case 'ShouldBeDisabled':
      return `key ${keyId} is enabled; disable it before scheduling its deletion`;
    case 'NotPendingDelete':
      return `key ${keyId} is not pending deletion`;
    case 'StateNotSupported':
      return `${operation} is not allowed while key ${keyId} is ${state}`;
  }
}

/** The outcome of an operation in a state, from the table. */
export function outcome(operation: KeyOperation, state: KeyState): Outcome {
  return TABLE[operation][state];
}

/**
 * The state after `operation`, or a KeyStateError. `hasMaterial` resolves CancelDeletion for
 * EXTERNAL keys whose material is gone.
 */
export function transition(keyId: string, operation: KeyOperation, state: KeyState, hasMaterial = true): KeyState {
  const o = outcome(operation, state);
  if ('refuse' in o) throw new KeyStateError(o.refuse, operation, state, keyId);
  if (o.to === 'same') return state;
  if (o.to === 'DisabledOrPendingImport') return hasMaterial ? 'Disabled' : 'PendingImport';
  return o.to;
}
