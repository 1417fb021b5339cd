import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startTestServer, type TestServer } from '../helpers/api-server.js';
import { clearProxy, cnKmsClient, type KmsCaller, type SdkError } from '../helpers/sdk-clients.js';

// The CMK state machine, every lifecycle action × every state, through the official CN SDK.
// The expectations below are written from the contract (docs/contract/keys.md#state-table, docs/contract/actions.md#group-lifecycle,
// docs/contract/actions.md#group-rotation, docs/contract/actions.md#group-binding) and the seed KMS guide ("Deleting Key"), deliberately NOT imported from
// src/domain/key-state.ts: this file is an independent check of that table.

// ─── Expectation table ─────────────────────────────────────────────────────────────────

const STATES = ['Enabled', 'Disabled', 'PendingDelete', 'PendingImport', 'Archived'] as const;
type State = (typeof STATES)[number];

/** Success: the key stays in its state, or moves to `to`. Refusal: exactly this error code. */
type Expect = { stay: true } | { to: State } | { code: string };
const STAY: Expect = { stay: true };
const to = (s: State): Expect => ({ to: s });
const refuse = (code: string): Expect => ({ code });

// docs/contract/protocol.md#error-codes "wrong state"; the one state code every lifecycle action in docs/contract/actions.md#group-lifecycle/docs/contract/actions.md#group-rotation declares.
const NOT_SUPPORTED = refuse('ResourceUnavailable.CmkStateNotSupport');
// docs/contract/keys.md#state-table marks PendingDelete refusals of lifecycle actions with a bare ✗ (no code). The only code
// the contract names for one is docs/contract/actions.md#group-lifecycle UpdateAlias: "Forbidden in PendingDelete
// (→ ResourceUnavailable.CmkStateNotSupport, unconfirmed code)", and the docs/contract/actions.md#group-lifecycle/docs/contract/actions.md#group-rotation error lists of
// EnableKey(s), DisableKey(s), ArchiveKey, CancelKeyArchive, EnableKeyRotation and RotateKey
// declare CmkStateNotSupport but not KeyPendingDelete (which docs/contract/keys.md#state-table names only for Encrypt-like
// actions). Reading: CmkStateNotSupport. Change this one line if the contract is read otherwise
// (UpdateAlias/UpdateKeyDescription name their code in docs/contract/actions.md#group-lifecycle and do not use this constant).
const PENDING_DELETE_CODE = 'ResourceUnavailable.CmkStateNotSupport';
const PENDING_DELETE = refuse(PENDING_DELETE_CODE);
// UpdateAlias, UpdateKeyDescription and DisableKeyRotation list no state code at all: a refusal by
// state is the common ResourceUnavailable (docs/contract/actions.md#common-answers).
const UNAVAILABLE = refuse('ResourceUnavailable');
const SHOULD_BE_DISABLED = refuse('ResourceUnavailable.CmkShouldBeDisabled');
const NOT_PENDING_DELETE = refuse('ResourceUnavailable.CmkNotPendingDelete');

const ACTIONS = [
  'EnableKey',
  'EnableKeys',
  'DisableKey',
  'DisableKeys',
  'ScheduleKeyDeletion',
  'CancelKeyDeletion',
  'ArchiveKey',
  'CancelKeyArchive',
  'UpdateAlias',
  'UpdateKeyDescription',
  'EnableKeyRotation',
  'DisableKeyRotation',
  'GetKeyRotationStatus',
  'RotateKey',
  'DescribeKey',
  'DescribeKeys',
  'BindCloudResource',
  'UnbindCloudResource',
] as const;
type Action = (typeof ACTIONS)[number];

type Row = { cells: [Expect, Expect, Expect, Expect, Expect]; rule: string };
const row = (rule: string, ...cells: Row['cells']): Row => ({ cells, rule });

// Columns as in docs/contract/keys.md#state-table: Enabled, Disabled, PendingDelete, PendingImport, Archived.
// "?[x]" marks a cell the contract leaves open; the expectation is its bracketed recommendation.
// PendingImport keys are EXTERNAL (CreateKey Type 2, docs/contract/keys.md#type-and-origin) and have no material.
const EXPECT: Record<Action, Row> = {
  // docs/contract/keys.md#state-table EnableKey/EnableKeys: ✓ no-op | → Enabled | ✗ | ?[✗] | ?[✗]
  EnableKey: row('docs/contract/keys.md#state-table EnableKey', STAY, to('Enabled'), PENDING_DELETE, NOT_SUPPORTED, NOT_SUPPORTED),
  EnableKeys: row('docs/contract/keys.md#state-table EnableKeys', STAY, to('Enabled'), PENDING_DELETE, NOT_SUPPORTED, NOT_SUPPORTED),
  // docs/contract/keys.md#state-table DisableKey/DisableKeys: → Disabled | ✓ no-op | ✗ | ?[✗] | ?[✗]
  DisableKey: row('docs/contract/keys.md#state-table DisableKey', to('Disabled'), STAY, PENDING_DELETE, NOT_SUPPORTED, NOT_SUPPORTED),
  DisableKeys: row('docs/contract/keys.md#state-table DisableKeys', to('Disabled'), STAY, PENDING_DELETE, NOT_SUPPORTED, NOT_SUPPORTED),
  // docs/contract/keys.md#state-table + docs/contract/actions.md#group-lifecycle + seed guide ("If the key is enabled, please disable it first"):
  // ✗ CmkShouldBeDisabled | → PendingDelete | ?[✗] | ?[→ PendingDelete] | ?[✗]
  ScheduleKeyDeletion: row(
    'docs/contract/keys.md#state-table/docs/contract/actions.md#group-lifecycle ScheduleKeyDeletion, seed: disable first',
    SHOULD_BE_DISABLED,
    to('PendingDelete'),
    NOT_SUPPORTED,
    to('PendingDelete'),
    NOT_SUPPORTED,
  ),
  // docs/contract/keys.md#state-table + docs/contract/actions.md#group-lifecycle ("Only from PendingDelete (else CmkNotPendingDelete)"); seed guide: cancelling resets
  // the key to Disabled (?[Disabled; PendingImport if EXTERNAL without material] — see its own test).
  CancelKeyDeletion: row(
    'docs/contract/keys.md#state-table/docs/contract/actions.md#group-lifecycle CancelKeyDeletion, seed: back to Disabled',
    NOT_PENDING_DELETE,
    NOT_PENDING_DELETE,
    to('Disabled'),
    NOT_PENDING_DELETE,
    NOT_PENDING_DELETE,
  ),
  // docs/contract/keys.md#state-table ArchiveKey: → Archived | ?[✗] | ✗ | ✗ | ✓ (no-op?) — taken as ✓
  ArchiveKey: row('docs/contract/keys.md#state-table ArchiveKey', to('Archived'), NOT_SUPPORTED, PENDING_DELETE, NOT_SUPPORTED, STAY),
  // docs/contract/keys.md#state-table CancelKeyArchive: ✗ | ✗ | ✗ | ✗ | → Enabled
  CancelKeyArchive: row('docs/contract/keys.md#state-table CancelKeyArchive', NOT_SUPPORTED, NOT_SUPPORTED, PENDING_DELETE, NOT_SUPPORTED, to('Enabled')),
  // docs/contract/keys.md#state-table UpdateAlias/UpdateKeyDescription: ✓ | ✓ | ✗ | ✓ | ✓; their lists have no state code.
  UpdateAlias: row('docs/contract/keys.md#state-table/docs/contract/actions.md#common-answers UpdateAlias', STAY, STAY, UNAVAILABLE, STAY, STAY),
  UpdateKeyDescription: row('docs/contract/keys.md#state-table/docs/contract/actions.md#common-answers UpdateKeyDescription', STAY, STAY, UNAVAILABLE, STAY, STAY),
  // docs/contract/keys.md#state-table rotation config: ✓ | ?[config ✓] | ✗ | ✗ | ?[✗]; docs/contract/actions.md#group-rotation: EXTERNAL keys → ExternalCmkCanNotRotate
  // (the PendingImport key is EXTERNAL, so the origin rule names the code).
  EnableKeyRotation: row(
    'docs/contract/keys.md#state-table/docs/contract/actions.md#group-rotation EnableKeyRotation',
    STAY,
    STAY,
    PENDING_DELETE,
    refuse('UnsupportedOperation.ExternalCmkCanNotRotate'),
    NOT_SUPPORTED,
  ),
  DisableKeyRotation: row('docs/contract/keys.md#state-table/docs/contract/actions.md#common-answers DisableKeyRotation', STAY, STAY, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE),
  // docs/contract/keys.md#state-table read-only: ✓ everywhere.
  GetKeyRotationStatus: row('docs/contract/keys.md#state-table GetKeyRotationStatus', STAY, STAY, STAY, STAY, STAY),
  // docs/contract/keys.md#state-table RotateKey: ✓ | ?[RotateKey ✗] | ✗ | ✗ | ?[✗]. Keys here have rotation enabled where their
  // state allows (docs/contract/actions.md#group-rotation: rotation disabled → RotateNotSupported, tested apart). docs/contract/actions.md#group-rotation RotateKey:
  // "rotation disabled / external / replica → UnsupportedOperation.RotateNotSupported" — its error
  // list has no ExternalCmkCanNotRotate, so the EXTERNAL (PendingImport) key gets RotateNotSupported.
  RotateKey: row(
    'docs/contract/keys.md#state-table/docs/contract/actions.md#group-rotation RotateKey',
    STAY,
    NOT_SUPPORTED,
    PENDING_DELETE,
    refuse('UnsupportedOperation.RotateNotSupported'),
    NOT_SUPPORTED,
  ),
  DescribeKey: row('docs/contract/keys.md#state-table Describe*', STAY, STAY, STAY, STAY, STAY),
  DescribeKeys: row('docs/contract/keys.md#state-table Describe*', STAY, STAY, STAY, STAY, STAY),
  // docs/contract/keys.md#state-table Bind/UnbindCloudResource: ✓ in every state (Unbind runs after a Bind).
  BindCloudResource: row('docs/contract/keys.md#state-table/docs/contract/actions.md#group-binding BindCloudResource', STAY, STAY, STAY, STAY, STAY),
  UnbindCloudResource: row('docs/contract/keys.md#state-table/docs/contract/actions.md#group-binding UnbindCloudResource', STAY, STAY, STAY, STAY, STAY),
};

// ─── How each action is driven and what a success may change ───────────────────────────

type Metadata = Record<string, unknown>;
const DAY = 86_400;
const nowS = () => Math.floor(Date.now() / 1000);
let serial = 0;
const nextAlias = (prefix = 's') => `${prefix}-${++serial}`;

interface ActionSpec {
  /** Create the key with automatic rotation on (where the state allows it). */
  rotation?: boolean;
  /** Runs before the "before" snapshot (Unbind needs a Bind). */
  prepare?: (call: KmsCaller, id: string) => Promise<unknown>;
  run: (call: KmsCaller, id: string) => Promise<Record<string, unknown>>;
  /** KeyMetadata fields besides KeyState that a success may change. */
  mayChange?: string[];
  verify?: (x: { resp: Record<string, unknown>; before: Metadata; after: Metadata; id: string; t0: number; t1: number }) => void;
}

const binding = (id: string) => ({ KeyId: id, ProductId: 'ssm', ResourceId: `res-${id.slice(0, 8)}` });

const SPECS: Record<Action, ActionSpec> = {
  EnableKey: { run: (c, id) => c('EnableKey', { KeyId: id }) },
  EnableKeys: { run: (c, id) => c('EnableKeys', { KeyIds: [id] }) },
  DisableKey: { run: (c, id) => c('DisableKey', { KeyId: id }) },
  DisableKeys: { run: (c, id) => c('DisableKeys', { KeyIds: [id] }) },
  ScheduleKeyDeletion: {
    run: (c, id) => c('ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: 7 }),
    mayChange: ['DeletionDate'],
    verify: ({ resp, after, id, t0, t1 }) => {
      expect(resp.KeyId).toBe(id);
      expect(resp.DeletionDate).toBe(after.DeletionDate);
      expect(after.DeletionDate).toBeGreaterThanOrEqual(t0 + 7 * DAY);
      expect(after.DeletionDate).toBeLessThanOrEqual(t1 + 7 * DAY);
    },
  },
  CancelKeyDeletion: {
    run: (c, id) => c('CancelKeyDeletion', { KeyId: id }),
    mayChange: ['DeletionDate'],
    verify: ({ resp, after, id }) => {
      expect(resp.KeyId).toBe(id);
      expect(after.DeletionDate).toBe(0);
    },
  },
  ArchiveKey: { run: (c, id) => c('ArchiveKey', { KeyId: id }) },
  CancelKeyArchive: { run: (c, id) => c('CancelKeyArchive', { KeyId: id }) },
  UpdateAlias: {
    run: (c, id) => c('UpdateAlias', { KeyId: id, Alias: nextAlias('renamed') }),
    mayChange: ['Alias'],
    verify: ({ before, after }) => {
      expect(after.Alias).toMatch(/^renamed-\d+$/);
      expect(after.Alias).not.toBe(before.Alias);
    },
  },
  UpdateKeyDescription: {
    run: (c, id) => c('UpdateKeyDescription', { KeyId: id, Description: 'described again' }),
    mayChange: ['Description'],
    verify: ({ after }) => expect(after.Description).toBe('described again'),
  },
  EnableKeyRotation: {
    run: (c, id) => c('EnableKeyRotation', { KeyId: id }),
    mayChange: ['KeyRotationEnabled', 'RotateDays', 'NextRotateTime'],
    // docs/contract/keys.md#rotation: RotateDays defaults to 365; NextRotateTime is set.
    verify: ({ after, t0, t1 }) => {
      expect(after).toMatchObject({ KeyRotationEnabled: true, RotateDays: 365 });
      expect(after.NextRotateTime).toBeGreaterThanOrEqual(t0 + 365 * DAY);
      expect(after.NextRotateTime).toBeLessThanOrEqual(t1 + 365 * DAY);
    },
  },
  DisableKeyRotation: {
    rotation: true,
    run: (c, id) => c('DisableKeyRotation', { KeyId: id }),
    mayChange: ['KeyRotationEnabled', 'NextRotateTime', 'RotateDays'],
    verify: ({ before, after }) => {
      expect(before.KeyRotationEnabled).toBe(true);
      expect(after.KeyRotationEnabled).toBe(false);
    },
  },
  GetKeyRotationStatus: {
    run: (c, id) => c('GetKeyRotationStatus', { KeyId: id }),
    verify: ({ resp, after }) => expect(resp.KeyRotationEnabled).toBe(after.KeyRotationEnabled),
  },
  RotateKey: {
    rotation: true,
    run: (c, id) => c('RotateKey', { KeyId: id }),
    mayChange: ['LastRotateTime', 'NextRotateTime'],
    // docs/contract/actions.md#group-rotation: success is visible as LastRotateTime/NextRotateTime.
    verify: ({ resp, before, after, t0, t1 }) => {
      expect(typeof resp.TaskId).toBe('string');
      expect(before.LastRotateTime).toBe(0);
      expect(after.LastRotateTime).toBeGreaterThanOrEqual(t0);
      expect(after.LastRotateTime).toBeLessThanOrEqual(t1);
      expect(after.NextRotateTime).toBe((after.LastRotateTime as number) + 365 * DAY);
    },
  },
  DescribeKey: {
    run: (c, id) => c('DescribeKey', { KeyId: id }),
    verify: ({ resp, after }) => expect(resp.KeyMetadata).toEqual(after),
  },
  DescribeKeys: {
    run: (c, id) => c('DescribeKeys', { KeyIds: [id] }),
    verify: ({ resp, after }) => expect(resp.KeyMetadatas).toEqual([after]),
  },
  BindCloudResource: { run: (c, id) => c('BindCloudResource', binding(id)) },
  UnbindCloudResource: {
    prepare: (c, id) => c('BindCloudResource', binding(id)),
    run: (c, id) => c('UnbindCloudResource', binding(id)),
  },
};

// ─── Helpers ───────────────────────────────────────────────────────────────────────────

let server: TestServer;

beforeAll(async () => {
  clearProxy();
  server = await startTestServer();
});

afterAll(async () => {
  await server?.stop();
});

const api = (region: string, cred: { secretId: string; secretKey: string } = ROOT): KmsCaller =>
  cnKmsClient({ endpoint: server.endpoint, secretId: cred.secretId, secretKey: cred.secretKey, region });

async function sdkError(p: Promise<unknown>): Promise<SdkError> {
  let result: unknown;
  try {
    result = await p;
  } catch (err) {
    const e = err as SdkError;
    expect(typeof e.code, `not an API error: ${String(err)}`).toBe('string');
    return e;
  }
  throw new Error(`expected the call to fail, it answered ${JSON.stringify(result)}`);
}

async function describeKey(call: KmsCaller, id: string): Promise<Metadata> {
  return (await call('DescribeKey', { KeyId: id })).KeyMetadata as Metadata;
}

/**
 * A fresh key in `state`, through the API only: Enabled = CreateKey; Disabled = + DisableKey;
 * PendingDelete = + ScheduleKeyDeletion(7); PendingImport = CreateKey Type 2; Archived = + ArchiveKey.
 * `rotation` turns automatic rotation on first (not possible for the EXTERNAL PendingImport key).
 */
async function makeKey(call: KmsCaller, state: State, o: { rotation?: boolean } = {}): Promise<string> {
  if (state === 'PendingImport') {
    const r = await call('CreateKey', { Alias: nextAlias(), Type: 2, Description: 'external, no material' });
    expect(r.KeyState).toBe('PendingImport');
    return r.KeyId as string;
  }
  const r = await call('CreateKey', { Alias: nextAlias(), Description: `made ${state}` });
  expect(r.KeyState).toBe('Enabled');
  const id = r.KeyId as string;
  if (o.rotation) await call('EnableKeyRotation', { KeyId: id });
  if (state === 'Disabled' || state === 'PendingDelete') await call('DisableKey', { KeyId: id });
  if (state === 'PendingDelete') await call('ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: 7 });
  if (state === 'Archived') await call('ArchiveKey', { KeyId: id });
  expect((await describeKey(call, id)).KeyState).toBe(state);
  return id;
}

const changedFields = (a: Metadata, b: Metadata) => Object.keys({ ...a, ...b }).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));

const outcomeLabel = (e: Expect) => ('code' in e ? `refused with ${e.code}` : 'to' in e ? `→ ${e.to}` : 'allowed, state unchanged');

// ─── 1. Every action × every state ─────────────────────────────────────────────────────

// [action, state, outcome, rule, expectation]: printf-style names, so vitest does not truncate them.
const CELLS = ACTIONS.flatMap((action) =>
  STATES.map((state, i) => {
    const expected = EXPECT[action].cells[i]!;
    return [action, state, outcomeLabel(expected), EXPECT[action].rule, expected] as const;
  }),
);

// The whole table in a FIPS region (AES-256 in SoftHSM2) and in an SM region (SM4).
describe.each(['ap-hongkong', 'ap-guangzhou'])('state table in %s', (region) => {
  it.each(CELLS)('%s on a %s key: %s (%s)', async (action, state, _outcome, _rule, expected) => {
    const call = api(region);
    const spec = SPECS[action];
    const id = await makeKey(call, state, { rotation: spec.rotation });
    if (spec.prepare) await spec.prepare(call, id);
    const before = await describeKey(call, id);
    expect(before.Type).toBe(region === 'ap-guangzhou' ? 4 : 2); // docs/contract/keys.md#key-metadata: compliance class of the region
    const t0 = nowS();

    if ('code' in expected) {
      const e = await sdkError(spec.run(call, id));
      expect(e.code).toBe(expected.code);
      // A refused call changes nothing.
      expect(await describeKey(call, id)).toEqual(before);
      return;
    }

    const resp = await spec.run(call, id);
    const t1 = nowS();
    const after = await describeKey(call, id);
    expect(after.KeyState).toBe('to' in expected ? expected.to : state);
    const allowed = new Set(['KeyState', ...(spec.mayChange ?? [])]);
    expect(changedFields(before, after).filter((f) => !allowed.has(f))).toEqual([]);
    spec.verify?.({ resp, before, after, id, t0, t1 });
  });
});

describe('state-table cells the matrix cannot reach with a plain fresh key', () => {
  const call = () => api('ap-hongkong');

  it('CancelKeyDeletion returns an EXTERNAL key without material to PendingImport (docs/contract/keys.md#state-table ?[PendingImport if EXTERNAL without material])', async () => {
    const id = await makeKey(call(), 'PendingImport');
    await call()('ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: 7 }); // docs/contract/keys.md#state-table ?[→ PendingDelete]
    expect((await describeKey(call(), id)).KeyState).toBe('PendingDelete');
    expect((await call()('CancelKeyDeletion', { KeyId: id })).KeyId).toBe(id);
    expect(await describeKey(call(), id)).toMatchObject({ KeyState: 'PendingImport', DeletionDate: 0, Origin: 'EXTERNAL' });
  });

  it('RotateKey on an Enabled key whose rotation is off → UnsupportedOperation.RotateNotSupported (docs/contract/actions.md#group-rotation "rotation disabled")', async () => {
    const id = await makeKey(call(), 'Enabled');
    const before = await describeKey(call(), id);
    expect(before.KeyRotationEnabled).toBe(false);
    expect((await sdkError(call()('RotateKey', { KeyId: id }))).code).toBe('UnsupportedOperation.RotateNotSupported');
    expect(await describeKey(call(), id)).toEqual(before);
  });

  it('a lifecycle script: create, disable, schedule deletion, cancel (→ Disabled), enable, archive, cancel archive (seed guide)', async () => {
    const c = call();
    const id = await makeKey(c, 'Enabled');
    const states: string[] = [];
    const script: Array<[string, Record<string, unknown>]> = [
      ['DisableKey', {}],
      ['ScheduleKeyDeletion', { PendingWindowInDays: 30 }],
      ['CancelKeyDeletion', {}],
      ['EnableKey', {}],
      ['ArchiveKey', {}],
      ['CancelKeyArchive', {}],
    ];
    for (const [action, params] of script) {
      await c(action, { KeyId: id, ...params });
      states.push((await describeKey(c, id)).KeyState as string);
    }
    expect(states).toEqual(['Disabled', 'PendingDelete', 'Disabled', 'Enabled', 'Archived', 'Enabled']);
  });
});

// ─── 2. Cloud-resource binding gates (docs/contract/keys.md#state-table "Additional gates", docs/contract/actions.md#group-binding) ────────────────────

describe('cloud-resource bindings', () => {
  const call = () => api('ap-hongkong');
  const IN_USE = 'FailedOperation.CmkUsedByCloudProduct';

  it('a bound key refuses DisableKey, DisableKeys, ArchiveKey and ScheduleKeyDeletion, changing nothing; after UnbindCloudResource they work', async () => {
    const c = call();
    const enabled = await makeKey(c, 'Enabled');
    const disabled = await makeKey(c, 'Disabled'); // ScheduleKeyDeletion needs a Disabled key to reach the binding gate
    await c('BindCloudResource', binding(enabled));
    await c('BindCloudResource', binding(disabled));
    const before = { enabled: await describeKey(c, enabled), disabled: await describeKey(c, disabled) };

    expect((await sdkError(c('DisableKey', { KeyId: enabled }))).code).toBe(IN_USE);
    expect((await sdkError(c('DisableKeys', { KeyIds: [enabled] }))).code).toBe(IN_USE);
    expect((await sdkError(c('ArchiveKey', { KeyId: enabled }))).code).toBe(IN_USE);
    expect((await sdkError(c('ScheduleKeyDeletion', { KeyId: disabled, PendingWindowInDays: 7 }))).code).toBe(IN_USE);
    expect(await describeKey(c, enabled)).toEqual(before.enabled);
    expect(await describeKey(c, disabled)).toEqual(before.disabled);

    await c('UnbindCloudResource', binding(enabled));
    await c('UnbindCloudResource', binding(disabled));
    await c('DisableKeys', { KeyIds: [enabled] });
    expect((await describeKey(c, enabled)).KeyState).toBe('Disabled');
    await c('EnableKey', { KeyId: enabled });
    await c('DisableKey', { KeyId: enabled });
    expect((await describeKey(c, enabled)).KeyState).toBe('Disabled');
    await c('EnableKey', { KeyId: enabled });
    await c('ArchiveKey', { KeyId: enabled });
    expect((await describeKey(c, enabled)).KeyState).toBe('Archived');
    await c('ScheduleKeyDeletion', { KeyId: disabled, PendingWindowInDays: 7 });
    expect((await describeKey(c, disabled)).KeyState).toBe('PendingDelete');
  });

  it('a batch with one bound key fails whole: DisableKeys changes neither key', async () => {
    const c = call();
    const free = await makeKey(c, 'Enabled');
    const bound = await makeKey(c, 'Enabled');
    await c('BindCloudResource', binding(bound));
    const before = [await describeKey(c, free), await describeKey(c, bound)];
    expect((await sdkError(c('DisableKeys', { KeyIds: [free, bound] }))).code).toBe(IN_USE);
    expect([await describeKey(c, free), await describeKey(c, bound)]).toEqual(before);
  });

  it('the key stays in use while any binding remains; binding is idempotent (docs/contract/actions.md#group-binding)', async () => {
    const c = call();
    const id = await makeKey(c, 'Enabled');
    await c('BindCloudResource', { KeyId: id, ProductId: 'ssm', ResourceId: 'a' });
    await c('BindCloudResource', { KeyId: id, ProductId: 'ssm', ResourceId: 'a' }); // same triple: still one binding
    await c('BindCloudResource', { KeyId: id, ProductId: 'cbs', ResourceId: 'b' });
    await c('UnbindCloudResource', { KeyId: id, ProductId: 'ssm', ResourceId: 'a' });
    expect((await sdkError(c('DisableKey', { KeyId: id }))).code).toBe(IN_USE);
    await c('UnbindCloudResource', { KeyId: id, ProductId: 'cbs', ResourceId: 'b' });
    await c('DisableKey', { KeyId: id });
    expect((await describeKey(c, id)).KeyState).toBe('Disabled');
  });

  it('unbinding a binding that does not exist → ResourceUnavailable.CloudResourceBindingNotFound', async () => {
    const c = call();
    const id = await makeKey(c, 'Enabled');
    const NOT_FOUND = 'ResourceUnavailable.CloudResourceBindingNotFound';
    // never bound
    expect((await sdkError(c('UnbindCloudResource', binding(id)))).code).toBe(NOT_FOUND);
    // bound, but to another product / resource
    await c('BindCloudResource', { KeyId: id, ProductId: 'ssm', ResourceId: 'r1' });
    expect((await sdkError(c('UnbindCloudResource', { KeyId: id, ProductId: 'cbs', ResourceId: 'r1' }))).code).toBe(NOT_FOUND);
    expect((await sdkError(c('UnbindCloudResource', { KeyId: id, ProductId: 'ssm', ResourceId: 'r2' }))).code).toBe(NOT_FOUND);
    // unbound twice
    await c('UnbindCloudResource', { KeyId: id, ProductId: 'ssm', ResourceId: 'r1' });
    expect((await sdkError(c('UnbindCloudResource', { KeyId: id, ProductId: 'ssm', ResourceId: 'r1' }))).code).toBe(NOT_FOUND);
  });
});

// ─── 3. Batch atomicity (docs/contract/actions.md#group-lifecycle EnableKeys: "validate-all-then-apply") ───────────────────

describe('batch actions are all-or-nothing', () => {
  const call = () => api('ap-hongkong');
  const MISSING = '0b5e7c1a-9f3d-4e2b-8a6c-1d2e3f405162'; // well-formed lower-case UUID, no such key

  it('DisableKeys with one Enabled and one PendingDelete id fails with the PendingDelete refusal and changes neither key', async () => {
    const c = call();
    const good = await makeKey(c, 'Enabled');
    const pending = await makeKey(c, 'PendingDelete');
    const before = [await describeKey(c, good), await describeKey(c, pending)];
    for (const ids of [
      [good, pending],
      [pending, good],
    ]) {
      const e = await sdkError(c('DisableKeys', { KeyIds: ids }));
      expect(e.code).toBe(PENDING_DELETE_CODE);
      expect([await describeKey(c, good), await describeKey(c, pending)]).toEqual(before);
    }
  });

  it('EnableKeys with a non-existent id → ResourceUnavailable.CmkNotFound and changes nothing', async () => {
    const c = call();
    const disabled = await makeKey(c, 'Disabled');
    const before = await describeKey(c, disabled);
    for (const ids of [
      [disabled, MISSING],
      [MISSING, disabled],
    ]) {
      expect((await sdkError(c('EnableKeys', { KeyIds: ids }))).code).toBe('ResourceUnavailable.CmkNotFound');
      expect(await describeKey(c, disabled)).toEqual(before);
    }
    // DisableKeys likewise
    const enabled = await makeKey(c, 'Enabled');
    const enabledBefore = await describeKey(c, enabled);
    expect((await sdkError(c('DisableKeys', { KeyIds: [enabled, MISSING] }))).code).toBe('ResourceUnavailable.CmkNotFound');
    expect(await describeKey(c, enabled)).toEqual(enabledBefore);
  });

  it('duplicated ids → InvalidParameterValue.DuplicatedKeyId, and nothing changes', async () => {
    const c = call();
    const disabled = await makeKey(c, 'Disabled');
    const enabled = await makeKey(c, 'Enabled');
    const before = [await describeKey(c, disabled), await describeKey(c, enabled)];
    const DUP = 'InvalidParameterValue.DuplicatedKeyId';
    expect((await sdkError(c('EnableKeys', { KeyIds: [disabled, disabled] }))).code).toBe(DUP);
    expect((await sdkError(c('DisableKeys', { KeyIds: [enabled, disabled, enabled] }))).code).toBe(DUP);
    expect((await sdkError(c('DescribeKeys', { KeyIds: [enabled, enabled] }))).code).toBe(DUP);
    expect([await describeKey(c, disabled), await describeKey(c, enabled)]).toEqual(before);
  });
});

// ─── 4. Isolation: keys belong to one account in one region (docs/contract/keys.md#key-metadata ResourceId, docs/contract/actions.md#group-lifecycle) ────

describe('keys of one region or account are invisible from another', () => {
  const NOT_FOUND = 'ResourceUnavailable.CmkNotFound';

  it('an ap-hongkong key is CmkNotFound from ap-singapore, for reads and for changes', async () => {
    const hk = api('ap-hongkong');
    const sg = api('ap-singapore');
    const id = await makeKey(hk, 'Enabled');
    const before = await describeKey(hk, id);
    expect((await sdkError(sg('DescribeKey', { KeyId: id }))).code).toBe(NOT_FOUND);
    expect((await sdkError(sg('DescribeKeys', { KeyIds: [id] }))).code).toBe(NOT_FOUND);
    expect((await sdkError(sg('DisableKey', { KeyId: id }))).code).toBe(NOT_FOUND);
    expect((await sdkError(sg('ArchiveKey', { KeyId: id }))).code).toBe(NOT_FOUND);
    expect((await sdkError(sg('UpdateAlias', { KeyId: id, Alias: nextAlias() }))).code).toBe(NOT_FOUND);
    expect((await sdkError(sg('BindCloudResource', binding(id)))).code).toBe(NOT_FOUND);
    expect(await describeKey(hk, id)).toEqual(before);
    // Aliases are unique per account+region (docs/contract/actions.md#group-lifecycle CreateKey), so the same alias is free in ap-singapore.
    const other = await sg('CreateKey', { Alias: before.Alias });
    expect(other.KeyId).not.toBe(id);
  });

  it('another account’s key is CmkNotFound, for reads and for changes', async () => {
    const acct = await server.services.identities.createAccount();
    const mine = api('ap-hongkong');
    const theirs = api('ap-hongkong', acct);
    const id = await makeKey(mine, 'Disabled');
    const before = await describeKey(mine, id);
    expect((await sdkError(theirs('DescribeKey', { KeyId: id }))).code).toBe(NOT_FOUND);
    expect((await sdkError(theirs('DescribeKeys', { KeyIds: [id] }))).code).toBe(NOT_FOUND);
    expect((await sdkError(theirs('EnableKey', { KeyId: id }))).code).toBe(NOT_FOUND);
    expect((await sdkError(theirs('ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: 7 }))).code).toBe(NOT_FOUND);
    expect((await sdkError(theirs('UnbindCloudResource', binding(id)))).code).toBe(NOT_FOUND);
    expect(await describeKey(mine, id)).toEqual(before);
    // and the other account's own keys do not see this alias
    const own = await theirs('CreateKey', { Alias: before.Alias });
    expect(own.KeyState).toBe('Enabled');
  });
});

// ─── 5. Manual rotation (docs/contract/keys.md#rotation, docs/contract/actions.md#group-rotation) ───────────────────────────────────────────────────

describe('RotateKey', () => {
  it('sets LastRotateTime; a second RotateKey within 24 h → RequestLimitExceeded.RotateRateLimited and changes nothing', async () => {
    const c = api('ap-hongkong');
    const id = await makeKey(c, 'Enabled', { rotation: true });
    expect((await describeKey(c, id)).LastRotateTime).toBe(0);
    const t0 = nowS();
    await c('RotateKey', { KeyId: id });
    const rotated = await describeKey(c, id);
    expect(rotated.LastRotateTime).toBeGreaterThanOrEqual(t0);
    expect(rotated.LastRotateTime).toBeLessThanOrEqual(nowS());
    expect(rotated.KeyState).toBe('Enabled');
    expect((await sdkError(c('RotateKey', { KeyId: id }))).code).toBe('RequestLimitExceeded.RotateRateLimited');
    expect(await describeKey(c, id)).toEqual(rotated);
  });

  it('concurrent RotateKey calls make one rotation; the others are refused with a rotation code and the new version survives', async () => {
    const c = api('ap-hongkong'); // AES-256: each version is an object in the token
    const id = await makeKey(c, 'Enabled', { rotation: true });
    const results = await Promise.allSettled([c('RotateKey', { KeyId: id }), c('RotateKey', { KeyId: id })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await describeKey(c, id)).LastRotateTime).toBeGreaterThan(0);
    // The losing call must not roll back the winner's material (STYLE: rotation persists fully or rolls back).
    expect.soft(await server.services.token.exists({ keyId: id, version: 2 }), 'version 2 is still in the token').toBe(true);
    // docs/contract/actions.md#group-rotation: within 24 h → RotateRateLimited; a rotation already running → FailedOperation.RotateTaskRunning.
    for (const r of results)
      if (r.status === 'rejected') expect.soft(['RequestLimitExceeded.RotateRateLimited', 'FailedOperation.RotateTaskRunning']).toContain((r.reason as SdkError).code);
  });
});
