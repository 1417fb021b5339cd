import { StoreConflictError } from '../model/errors.js';
import { randomUUID } from 'node:crypto';
import { parseBlob } from '../crypto/blob.js';
import type { DataKeyListFilter, DataKeyPatch, DataKeyRecord } from '../model/data-keys.js';
import type { Origin, Tag, TagMatch } from '../model/keys.js';
import type { DataKeyRepo } from '../store/data-key-repo.js';
import type { CryptoService } from './crypto-ops.js';
import { DomainError, InvalidCiphertextError } from './errors.js';
import { KeyStateError, type KeyState } from './key-state.js';
import type { Caller, KeyService } from './keys.js';

// Hosted data keys (docs/contract/actions.md#group-data-keys). A hosted data key is stored only as the
// CiphertextBlob the CryptoService seals under its CMK (no EncryptionContext, so GetDataKey-
// CiphertextBlob hands out a blob plain Decrypt opens): AES-256-GCM in the token for FIPS CMKs,
// SM4-GCM in the software module under the KEK for SM ones. Its plaintext exists only inside
// GetDataKeyPlaintext (and GenerateDataKey / ImportDataKey, which receive or make it), wiped after.
// What the CMK's state does to its data keys is docs/data-keys.md.

// ---------------------------------------------------------------------------------------------
// The data-key state machine: one table, like key-state.ts for CMKs. docs/contract/keys.md#structures: Enabled | Disabled |
// PendingDelete. "?" cells of the contract mirror the CMK rules (docs/contract/actions.md#group-data-keys ScheduleDataKeyDeletion:
// "mirror CMK rule: Disabled first"; cancelling returns the data key to Disabled).

export { DATA_KEY_STATES, type DataKeyState } from '../model/data-keys.js';
import type { DataKeyState } from '../model/data-keys.js';

export const DATA_KEY_OPERATIONS = ['GetPlaintext', 'GetCiphertext', 'Enable', 'Disable', 'ScheduleDeletion', 'CancelDeletion', 'UpdateMetadata', 'Read'] as const;
export type DataKeyOperation = (typeof DATA_KEY_OPERATIONS)[number];

/** api/error-codes.ts: ResourceUnavailable.DataKeyDisabled / DataKeyPendingDelete / DataKeyStateNotSupport / DataKeyNotPendingDelete. */
export type DataKeyRefusal = 'Disabled' | 'PendingDelete' | 'StateNotSupported' | 'NotPendingDelete';
type Outcome = { to: DataKeyState | 'same' } | { refuse: DataKeyRefusal };

const ok = (to: DataKeyState | 'same' = 'same'): Outcome => ({ to });
const no = (refuse: DataKeyRefusal): Outcome => ({ refuse });
const NS = no('StateNotSupported');
const NPD = no('NotPendingDelete');

// Columns: Enabled, Disabled, PendingDelete.
const TABLE: Record<DataKeyOperation, Record<DataKeyState, Outcome>> = {
  // docs/contract/actions.md#group-data-keys GetDataKeyPlaintext: "Disabled → DataKeyDisabled, PendingDelete → DataKeyPendingDelete".
  GetPlaintext: { Enabled: ok(), Disabled: no('Disabled'), PendingDelete: no('PendingDelete') },
  // docs/contract/actions.md#group-data-keys GetDataKeyCiphertextBlob names only DataKeyStateNotSupport: a key out of use hands nothing out.
  GetCiphertext: { Enabled: ok(), Disabled: NS, PendingDelete: NS },
  Enable: { Enabled: ok(), Disabled: ok('Enabled'), PendingDelete: NS },
  Disable: { Enabled: ok('Disabled'), Disabled: ok(), PendingDelete: NS },
  ScheduleDeletion: { Enabled: NS, Disabled: ok('PendingDelete'), PendingDelete: NS },
  // docs/contract/actions.md#group-data-keys CancelDataKeyDeletion: "Only from PendingDelete (DataKeyNotPendingDelete)"; back to Disabled.
  CancelDeletion: { Enabled: NPD, Disabled: NPD, PendingDelete: ok('Disabled') },
  // As UpdateAlias for CMKs: no renaming a key on its way out.
  UpdateMetadata: { Enabled: ok(), Disabled: ok(), PendingDelete: NS },
  Read: { Enabled: ok(), Disabled: ok(), PendingDelete: ok() },
};

export class DataKeyStateError extends DomainError {
  readonly code: string;
  constructor(
    readonly refusal: DataKeyRefusal,
    readonly operation: DataKeyOperation,
    readonly state: DataKeyState,
    dataKeyId: string,
  ) {
    super(
      refusal === 'Disabled'
        ? `data key ${dataKeyId} is disabled`
        : refusal === 'PendingDelete'
          ? `data key ${dataKeyId} is pending deletion`
          : refusal === 'NotPendingDelete'
            ? `data key ${dataKeyId} is not pending deletion`
            : `${operation} is not allowed while data key ${dataKeyId} is ${state}`,
    );
    this.code = `DataKeyState.${refusal}`;
  }
}

export function dataKeyTransition(dataKeyId: string, operation: DataKeyOperation, state: DataKeyState): DataKeyState {
  const o = TABLE[operation][state];
  if ('refuse' in o) throw new DataKeyStateError(o.refuse, operation, state, dataKeyId);
  return o.to === 'same' ? state : o.to;
}

// ---------------------------------------------------------------------------------------------
// Errors (api/error-codes.ts maps them).

export class DataKeyNotFoundError extends DomainError {
  readonly code = 'DataKeyNotFound';
}
export class DataKeyNameExistsError extends DomainError {
  readonly code = 'DataKeyNameExists';
}
export class DataKeyLimitError extends DomainError {
  readonly code = 'DataKeyLimit';
}
export class InvalidImportKeyMaterialError extends DomainError {
  readonly code = 'InvalidImportKeyMaterial';
}

// ---------------------------------------------------------------------------------------------
// Use cases.

const DAY = 86_400;
const now = () => Math.floor(Date.now() / 1000);

/** The CMK states in which its data keys can be opened: Decrypt's row of docs/contract/keys.md#state-table (Enabled, Archived). */
const CMK_OPENS: ReadonlySet<KeyState> = new Set(['Enabled', 'Archived']);

export interface HostInput {
  name: string;
  description?: string;
  tags?: Tag[];
}

export type DataKeyListInput = Omit<DataKeyListFilter, 'accountUin' | 'region'>;

export class DataKeyService {
  constructor(
    private readonly repo: DataKeyRepo,
    private readonly keys: KeyService,
    private readonly crypto: CryptoService,
    private readonly opts: { dataKeyLimit: number },
  ) {}

  private async assertRoom(caller: Caller, name: string, trx?: Parameters<DataKeyRepo['nameTaken']>[3]): Promise<void> {
    if (await this.repo.nameTaken(caller.accountUin, caller.region.name, name, trx))
      throw new DataKeyNameExistsError(`data key name ${name} is already used in ${caller.region.name}`);
    if ((await this.repo.countActive(caller.accountUin, caller.region.name, trx)) >= this.opts.dataKeyLimit) {
      throw new DataKeyLimitError(`the account has reached its limit of ${this.opts.dataKeyLimit} hosted data keys in ${caller.region.name}`);
    }
  }

  /** Seal `plaintext` under the CMK (no context) and store it; the caller keeps and wipes `plaintext`. */
  private async host(caller: Caller, keyId: string, plaintext: Buffer, origin: Origin, input: HostInput, sealed?: Buffer): Promise<DataKeyRecord> {
    const blob = sealed ?? (await this.crypto.encrypt(caller, keyId, plaintext)).blob;
    const record: DataKeyRecord = {
      dataKeyId: randomUUID(),
      accountUin: caller.accountUin,
      region: caller.region.name,
      keyId,
      keyName: '',
      name: input.name,
      description: input.description ?? '',
      state: 'Enabled',
      origin,
      creatorUin: caller.userUin,
      createdAt: now(),
      deletionDate: 0,
      numberOfBytes: plaintext.length,
      ciphertextBlob: blob,
      tags: input.tags ?? [],
    };
    try {
      await this.repo.transaction(async (trx) => {
        await this.assertRoom(caller, input.name, trx);
        await this.repo.insert(record, trx);
      });
    } catch (err) {
      if (err instanceof StoreConflictError) throw new DataKeyNameExistsError(`data key name ${input.name} is already used in ${caller.region.name}`);
      throw err;
    }
    return record;
  }

  /**
   * GenerateDataKey with IsHostedByKms=1 (docs/contract/actions.md#group-symmetric): the usual answer, plus the data key kept in KMS.
   * The caller wipes `plaintext`. With an EncryptionContext the caller's blob is bound to it and
   * the hosted copy is sealed again without one, so GetDataKeyCiphertextBlob stays Decrypt-compatible.
   */
  async generateHosted(
    caller: Caller,
    keyId: string,
    bytes: number,
    encryptionContext: string | undefined,
    input: HostInput,
  ): Promise<{ keyId: string; plaintext: Buffer; blob: Buffer; dataKeyId: string }> {
    await this.assertRoom(caller, input.name);
    const r = await this.crypto.generateDataKey(caller, keyId, bytes, encryptionContext);
    try {
      const hosted = await this.host(caller, r.keyId, r.plaintext, 'TENCENT_KMS', input, encryptionContext ? undefined : r.blob);
      return { ...r, dataKeyId: hosted.dataKeyId };
    } catch (err) {
      r.plaintext.fill(0);
      throw err;
    }
  }

  /**
   * ImportDataKey (docs/contract/actions.md#group-data-keys). Type 1: a CiphertextBlob of GenerateDataKey (made without an
   * EncryptionContext), opened and sealed again under the CMK's current version; KeyId, when given,
   * must be the CMK inside it. Type 2: the plaintext data key, sealed under KeyId. Origin EXTERNAL (docs/contract/keys.md#type-and-origin).
   */
  async import(caller: Caller, input: HostInput & { importType: 1 | 2; material: Buffer; keyId?: string }): Promise<DataKeyRecord> {
    let keyId = input.keyId;
    let plaintext: Buffer;
    if (input.importType === 1) {
      let inBlob: string;
      try {
        inBlob = parseBlob(input.material).keyId;
      } catch {
        throw new InvalidImportKeyMaterialError('ImportKeyMaterial is not a CiphertextBlob of this service');
      }
      if (keyId && keyId !== inBlob) throw new InvalidImportKeyMaterialError('ImportKeyMaterial was not made under KeyId');
      keyId = inBlob;
      // The wrapping CMK must be Enabled (docs/contract/actions.md#group-data-keys), whatever Decrypt alone would allow.
      await this.keys.get(caller, keyId, 'Encrypt');
      await this.assertRoom(caller, input.name);
      try {
        plaintext = (await this.crypto.decrypt(caller, input.material)).plaintext;
      } catch (err) {
        if (err instanceof InvalidCiphertextError) throw new InvalidImportKeyMaterialError('ImportKeyMaterial could not be decrypted (altered, or made with an EncryptionContext)');
        throw err;
      }
      if (plaintext.length > 1024) {
        plaintext.fill(0);
        throw new InvalidImportKeyMaterialError('a data key is at most 1024 bytes');
      }
    } else {
      plaintext = input.material;
      await this.assertRoom(caller, input.name);
    }
    try {
      return await this.host(caller, keyId!, plaintext, 'EXTERNAL', input);
    } finally {
      plaintext.fill(0);
    }
  }

  private async find(caller: Caller, dataKeyId: string, operation: DataKeyOperation): Promise<DataKeyRecord> {
    const d = await this.repo.get(caller.accountUin, caller.region.name, dataKeyId);
    if (!d) throw new DataKeyNotFoundError(`data key ${dataKeyId} not found in ${caller.region.name}`);
    dataKeyTransition(dataKeyId, operation, d.state);
    return d;
  }

  describe(caller: Caller, dataKeyId: string): Promise<DataKeyRecord> {
    return this.find(caller, dataKeyId, 'Read');
  }

  async describeMany(caller: Caller, dataKeyIds: string[]): Promise<DataKeyRecord[]> {
    const found = new Map((await this.repo.getMany(caller.accountUin, caller.region.name, dataKeyIds)).map((d) => [d.dataKeyId, d]));
    const missing = dataKeyIds.find((id) => !found.has(id));
    if (missing) throw new DataKeyNotFoundError(`data key ${missing} not found in ${caller.region.name}`);
    return dataKeyIds.map((id) => found.get(id)!);
  }

  list(caller: Caller, input: DataKeyListInput): Promise<{ total: number; dataKeys: DataKeyRecord[] }> {
    return this.repo.list({ accountUin: caller.accountUin, region: caller.region.name, ...input });
  }

  /** The one way out for a hosted data key's plaintext (docs/contract/actions.md#group-data-keys). The caller wipes it. */
  async plaintext(caller: Caller, dataKeyId: string): Promise<{ keyId: string; plaintext: Buffer }> {
    const d = await this.find(caller, dataKeyId, 'GetPlaintext');
    try {
      return await this.crypto.decrypt(caller, d.ciphertextBlob);
    } catch (err) {
      // docs/contract/actions.md#group-data-keys names CmkDisabled, CmkNotFound and CmkStateNotSupport for the CMK; a CMK pending
      // deletion (KeyPendingDelete for Decrypt) is reported as the latter.
      if (err instanceof KeyStateError && err.refusal === 'PendingDelete') throw new KeyStateError('StateNotSupported', err.operation, err.state, d.keyId);
      throw err;
    }
  }

  async ciphertextBlob(caller: Caller, dataKeyId: string): Promise<Buffer> {
    return (await this.find(caller, dataKeyId, 'GetCiphertext')).ciphertextBlob;
  }

  /** Enable / CancelDeletion bring a data key back: only while its CMK can open it (CmkStateNotSupport). */
  private async assertCmkOpens(caller: Caller, d: DataKeyRecord): Promise<void> {
    const key = await this.keys.get(caller, d.keyId);
    if (!CMK_OPENS.has(key.state)) throw new KeyStateError('StateNotSupported', 'Decrypt', key.state, key.keyId);
  }

  /**
   * The CMK checks read through KeyService, outside the data-key transaction (SQLite has one
   * connection: a read outside a running transaction would wait for it forever).
   */
  private async assertCmksOpen(caller: Caller, dataKeyIds: string[], which: (d: DataKeyRecord) => boolean): Promise<void> {
    for (const d of await this.repo.getMany(caller.accountUin, caller.region.name, dataKeyIds)) if (which(d)) await this.assertCmkOpens(caller, d);
  }

  async enable(caller: Caller, dataKeyIds: string[]): Promise<void> {
    await this.assertCmksOpen(caller, dataKeyIds, (d) => d.state === 'Disabled');
    await this.change(caller, dataKeyIds, 'Enable', async () => ({}));
  }

  async disable(caller: Caller, dataKeyIds: string[]): Promise<void> {
    await this.change(caller, dataKeyIds, 'Disable', async () => ({}));
  }

  async scheduleDeletion(caller: Caller, dataKeyId: string, days: number): Promise<DataKeyRecord> {
    const deletionDate = now() + days * DAY;
    const [d] = await this.change(caller, [dataKeyId], 'ScheduleDeletion', async () => ({ deletionDate }));
    return d!;
  }

  async cancelDeletion(caller: Caller, dataKeyId: string): Promise<void> {
    await this.assertCmksOpen(caller, [dataKeyId], (d) => d.state === 'PendingDelete');
    await this.change(caller, [dataKeyId], 'CancelDeletion', async (_d, trx) => {
      // A data key pending deletion does not count against the quota; back in use, it does (docs/contract/actions.md#group-data-keys).
      if ((await this.repo.countActive(caller.accountUin, caller.region.name, trx)) >= this.opts.dataKeyLimit) {
        throw new DataKeyLimitError(`the account has reached its limit of ${this.opts.dataKeyLimit} hosted data keys in ${caller.region.name}`);
      }
      return { deletionDate: 0 };
    });
  }

  async rename(caller: Caller, dataKeyId: string, name: string): Promise<void> {
    try {
      await this.change(caller, [dataKeyId], 'UpdateMetadata', async (d, trx) => {
        if (d.name === name) return {};
        if (await this.repo.nameTaken(caller.accountUin, caller.region.name, name, trx))
          throw new DataKeyNameExistsError(`data key name ${name} is already used in ${caller.region.name}`);
        return { name };
      });
    } catch (err) {
      if (err instanceof StoreConflictError) throw new DataKeyNameExistsError(`data key name ${name} is already used in ${caller.region.name}`);
      throw err;
    }
  }

  async updateDescription(caller: Caller, dataKeyId: string, description: string): Promise<void> {
    await this.change(caller, [dataKeyId], 'UpdateMetadata', async () => ({ description }));
  }

  /** The account's hosted data keys, in any region, carrying tags that match every filter. */
  idsTagged(accountUin: string, filters: readonly TagMatch[]): Promise<string[]> {
    return this.repo.idsTagged(accountUin, filters);
  }

  /** GetServiceStatus.DataKeyUsedCount. */
  count(accountUin: string, region: string): Promise<number> {
    return this.repo.countActive(accountUin, region);
  }

  /** All or none, checked before anything is written (like KeyService.change). */
  private async change(
    caller: Caller,
    dataKeyIds: string[],
    operation: DataKeyOperation,
    extra: (d: DataKeyRecord, trx: Parameters<DataKeyRepo['update']>[3]) => Promise<DataKeyPatch>,
  ): Promise<DataKeyRecord[]> {
    return this.repo.transaction(async (trx) => {
      const found = new Map((await this.repo.getMany(caller.accountUin, caller.region.name, dataKeyIds, trx)).map((d) => [d.dataKeyId, d]));
      const planned: Array<{ d: DataKeyRecord; patch: DataKeyPatch }> = [];
      for (const id of dataKeyIds) {
        const d = found.get(id);
        if (!d) throw new DataKeyNotFoundError(`data key ${id} not found in ${caller.region.name}`);
        const state = dataKeyTransition(id, operation, d.state);
        planned.push({ d, patch: { ...(await extra(d, trx)), ...(state !== d.state ? { state } : {}) } });
      }
      for (const { d, patch } of planned) {
        if (Object.keys(patch).length && !(await this.repo.update(d.dataKeyId, d.state, patch, trx)))
          throw new DataKeyNotFoundError(`data key ${d.dataKeyId} changed concurrently; retry`);
      }
      return planned.map(({ d, patch }) => ({ ...d, ...patch }));
    });
  }
}
