import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloudAuditActions, EVENT_CATALOGUE, KMS_ACTIONS, KMS_CAM, kmsActions, READ_ONLY_KMS_ACTIONS, TENCENT_QPS, type KmsAction } from '../../src/api/actions/index.js';
import { resourceNames, unvalidatedCallResources } from '../../src/api/actions/resources.js';
import { statesNumbered } from '../../src/api/key-wire.js';
import { parseRateLimits } from '../../src/api/rate-limit.js';
import { aadPrefix, assembleBlob, BlobAlgorithm, parseBlob } from '../../src/crypto/blob.js';
import { mlKem768PublicKeyPem, PqcAlgorithm, pqcEncrypt, parsePqcBlob } from '../../src/crypto/pqc.js';

// The views derived from the action registry (src/api/actions), held against the values of the
// hand-kept tables they replaced: the CAM table (seed 004), Tencent's QPS (docs/contract/actions.md
// headings), the read-only preset, the region-less actions, and the keys a call touches.

// The seed's operation-level actions, less Decrypt: evaluated here on the key inside its
// ciphertext (resource level), as README "Access control" says.
const OPERATION_LEVEL = [
  'CreateKey',
  'ListKeys',
  'ListKeyDetail',
  'GenerateRandom',
  'ListDataKeys',
  'ListDataKeyDetail',
  'CreateWhiteBoxKey',
  'DescribeWhiteBoxServiceStatus',
  'GetServiceStatus',
  'GetRegions',
  'ListAlgorithms',
];
const WITHOUT_IP_CONDITION = ['BindCloudResource'];

const QPS: Record<string, number> = {
  CreateKey: 100,
  DescribeKey: 100,
  DescribeKeys: 100,
  ListKeys: 100,
  ListKeyDetail: 100,
  UpdateAlias: 100,
  UpdateKeyDescription: 100,
  EnableKey: 100,
  EnableKeys: 100,
  DisableKey: 100,
  DisableKeys: 100,
  ScheduleKeyDeletion: 100,
  CancelKeyDeletion: 100,
  ArchiveKey: 100,
  CancelKeyArchive: 100,
  Encrypt: 300,
  Decrypt: 300,
  ReEncrypt: 100,
  GenerateDataKey: 100,
  GenerateRandom: 150,
  GetPublicKey: 100,
  AsymmetricRsaDecrypt: 200,
  AsymmetricSm2Decrypt: 200,
  SignByAsymmetricKey: 100,
  VerifyByAsymmetricKey: 100,
  GetParametersForImport: 100,
  ImportKeyMaterial: 100,
  DeleteImportedKeyMaterial: 100,
  EnableKeyRotation: 100,
  DisableKeyRotation: 100,
  GetKeyRotationStatus: 100,
  RotateKey: 20,
  ImportDataKey: 100,
  DescribeDataKey: 100,
  DescribeDataKeys: 100,
  ListDataKeys: 100,
  ListDataKeyDetail: 100,
  GetDataKeyPlaintext: 300,
  GetDataKeyCiphertextBlob: 100,
  EnableDataKey: 100,
  EnableDataKeys: 100,
  DisableDataKey: 100,
  DisableDataKeys: 100,
  ScheduleDataKeyDeletion: 20,
  CancelDataKeyDeletion: 20,
  UpdateDataKeyName: 20,
  UpdateDataKeyDescription: 20,
  CreateWhiteBoxKey: 100,
  DeleteWhiteBoxKey: 200,
  DescribeWhiteBoxKey: 200,
  DescribeWhiteBoxKeyDetails: 100,
  DescribeWhiteBoxDecryptKey: 200,
  DescribeWhiteBoxServiceStatus: 200,
  EnableWhiteBoxKey: 200,
  EnableWhiteBoxKeys: 200,
  DisableWhiteBoxKey: 200,
  DisableWhiteBoxKeys: 200,
  EncryptByWhiteBox: 100,
  DescribeWhiteBoxDeviceFingerprints: 100,
  OverwriteWhiteBoxDeviceFingerprints: 100,
  PostQuantumCryptoEncrypt: 20,
  PostQuantumCryptoDecrypt: 20,
  PostQuantumCryptoSign: 20,
  PostQuantumCryptoVerify: 20,
  BindCloudResource: 100,
  UnbindCloudResource: 100,
  GetServiceStatus: 100,
  GetRegions: 100,
  ListAlgorithms: 100,
};

const READ_ONLY = [
  'DescribeKey',
  'DescribeKeys',
  'ListKeys',
  'ListKeyDetail',
  'GetKeyRotationStatus',
  'GetPublicKey',
  'GetServiceStatus',
  'GetRegions',
  'ListAlgorithms',
  'DescribeDataKey',
  'DescribeDataKeys',
  'ListDataKeys',
  'ListDataKeyDetail',
  'DescribeWhiteBoxKey',
  'DescribeWhiteBoxKeyDetails',
  'DescribeWhiteBoxServiceStatus',
  'DescribeWhiteBoxDeviceFingerprints',
];

const actions = [...KMS_ACTIONS];

const contract = (page: string) => readFileSync(path.join(import.meta.dirname, '../../docs/contract', page), 'utf8');

/** The first column (an action name in backticks) and second column of the table under an anchor. */
function docTable(page: string, anchor: string): Record<string, string> {
  const text = contract(page);
  const from = text.indexOf(`<a id="${anchor}"></a>`);
  expect(from, `${page}#${anchor}`).toBeGreaterThanOrEqual(0);
  const out: Record<string, string> = {};
  let inTable = false;
  for (const line of text.slice(from).split('\n').slice(1)) {
    const m = /^\| `(\w+)` \| ([^|]*?) \|/.exec(line);
    if (m) {
      out[m[1]!] = m[2]!.trim();
      inTable = true;
    } else if (inTable && !line.startsWith('|')) break;
  }
  return out;
}

/** Every `**Error codes** (n): …` line of actions.md and audit.md, by the action heading above it. */
function docErrorLists(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const page of ['actions.md', 'audit.md']) {
    let action = '';
    for (const line of contract(page).split('\n')) {
      const heading = /^#{2,3} (\w+)$/.exec(line);
      if (heading) action = heading[1]!;
      const m = /^\*\*Error codes\*\* \((\d+)\): (.*)$/.exec(line);
      if (m) {
        const codes = [...m[2]!.matchAll(/`([^`]+)`/g)].map((c) => c[1]!);
        expect(codes, action).toHaveLength(Number(m[1]));
        out[action] = codes;
      }
    }
  }
  return out;
}

describe('views derived from the action registry', () => {
  it('CAM: the seed’s operation-level actions but Decrypt, every other one resource-level; BindCloudResource alone without IP conditions', () => {
    const expected = Object.fromEntries(actions.map((a) => [a, { level: OPERATION_LEVEL.includes(a) ? 'operation' : 'resource', ipCondition: !WITHOUT_IP_CONDITION.includes(a) }]));
    expect(KMS_CAM).toEqual(expected);
  });

  it('CAM: Decrypt is resource-level on the key inside its ciphertext, as ReEncrypt; LookUpEvents is operation-level', () => {
    const blob = blobOf(KEY_C);
    for (const a of ['Decrypt', 'ReEncrypt'] as const) {
      expect(kmsActions[a].cam, a).toEqual({ level: 'resource', ipCondition: true });
      expect(kmsActions[a].resources({ CiphertextBlob: blob } as never).keys.map((k) => k.keyId)).toEqual([KEY_C]);
    }
    expect(cloudAuditActions.LookUpEvents.cam).toEqual({ level: 'operation', ipCondition: true });
  });

  it('CAM: the hosted data-key actions that decrypt or encrypt under a CMK say so (docs/data-keys.md#cam)', () => {
    const performs = (a: KmsAction, p: Record<string, unknown>) => kmsActions[a].resources(p as never).performs;
    expect(performs('ImportDataKey', { ImportType: 1, ImportKeyMaterial: blobOf(KEY_C) })).toBe('Decrypt');
    expect(performs('ImportDataKey', { ImportType: 2, KeyId: KEY_A })).toBe('Encrypt');
    expect(performs('GetDataKeyPlaintext', { DataKeyId: DATA_1 })).toBe('Decrypt');
    expect(actions.filter((a) => !['ImportDataKey', 'GetDataKeyPlaintext'].includes(a) && performs(a, { ImportType: 1, DataKeyId: DATA_1, KeyId: KEY_A }))).toEqual([]);
  });

  it('rate limits: the tencent preset is each KMS action’s documented QPS', () => {
    expect(TENCENT_QPS).toEqual(QPS);
    expect(Object.fromEntries(parseRateLimits('tencent'))).toEqual(QPS);
  });

  it('the read-only preset grants exactly the read actions', () => {
    expect([...READ_ONLY_KMS_ACTIONS].sort()).toEqual([...READ_ONLY].sort());
  });

  it('GetRegions and CloudAudit’s actions are the only region-less ones', () => {
    const all = { ...kmsActions, ...cloudAuditActions };
    expect(
      Object.entries(all)
        .filter(([, s]) => 'regionless' in s && s.regionless)
        .map(([a]) => a)
        .sort(),
    ).toEqual(['DescribeEvents', 'GetRegions', 'LookUpEvents']);
  });

  it('the KeyState filter numbers of ListKeyDetail (docs/contract/keys.md#list-key-detail-filters) and ListDataKeyDetail (docs/contract/actions.md#group-data-keys)', () => {
    expect([0, 1, 2, 3, 4, 5].map(statesNumbered)).toEqual([undefined, ['Enabled'], ['Disabled'], ['PendingDelete'], ['PendingImport'], ['Archived']]);
    expect(statesNumbered(undefined)).toBeUndefined();
  });

  it('every action is audited under ResourceType kms, with the Chinese name docs/contract/audit.md#event-name-cn gives it', () => {
    const names = docTable('audit.md', 'event-name-cn');
    const all = { ...kmsActions, ...cloudAuditActions };
    expect(Object.keys(names).sort()).toEqual(Object.keys(all).sort());
    for (const [action, spec] of Object.entries(all)) expect(spec.audit, action).toMatchObject({ resourceType: 'kms', nameCn: names[action] });
  });

  it('the sensitive actions are those docs/contract/audit.md#sensitive-actions lists; EVENT_CATALOGUE reads the registry', () => {
    const listed = Object.keys(docTable('audit.md', 'sensitive-actions')).sort();
    expect([...EVENT_CATALOGUE.sensitiveNames].sort()).toEqual(listed);
    expect([...EVENT_CATALOGUE.readNames].sort()).toEqual([...READ_ONLY, 'LookUpEvents', 'DescribeEvents'].sort());
    expect(EVENT_CATALOGUE.describe('CreateKey')).toEqual({ resourceType: 'kms', nameCn: '创建主密钥', access: 'write' });
    expect(EVENT_CATALOGUE.describe('NoSuchAction')).toBeUndefined();
  });

  it('each action’s error list is exactly its list in docs/contract/actions.md#error-lists (the Go SDK’s), CloudAudit’s in docs/contract/audit.md#cloudaudit-error-codes', () => {
    const lists = docErrorLists();
    const all = { ...kmsActions, ...cloudAuditActions };
    expect(Object.keys(lists).sort()).toEqual(Object.keys(all).sort());
    for (const [action, spec] of Object.entries(all)) expect([...spec.errors], action).toEqual(lists[action]);
  });
});

// The keys a call touches, read as the audit trail and CAM always have: KeyId, DestinationKeyId
// and KeyIds, then the key inside the ciphertext of Decrypt, ReEncrypt and
// PostQuantumCryptoDecrypt (ImportDataKey of a ciphertext without KeyId: inside
// ImportKeyMaterial); DataKeyId and DataKeyIds for the data keys.
function expectedKeyIds(action: string, params: Record<string, unknown>): string[] {
  const ids = new Set<string>();
  for (const field of ['KeyId', 'DestinationKeyId']) if (typeof params[field] === 'string' && params[field]) ids.add(params[field] as string);
  if (Array.isArray(params.KeyIds)) for (const id of params.KeyIds) ids.add(String(id));
  const keyIdIn = (blob: unknown, parse: (b: Buffer) => { keyId: string }) => {
    if (typeof blob !== 'string') return;
    try {
      ids.add(parse(Buffer.from(blob, 'base64')).keyId);
    } catch {
      /* names no key */
    }
  };
  if (action === 'Decrypt' || action === 'ReEncrypt') keyIdIn(params.CiphertextBlob, parseBlob);
  if (action === 'PostQuantumCryptoDecrypt') keyIdIn(params.CiphertextBlob, parsePqcBlob);
  if (action === 'ImportDataKey' && params.ImportType === 1 && !params.KeyId) keyIdIn(params.ImportKeyMaterial, parseBlob);
  return [...ids];
}

function expectedDataKeyIds(params: Record<string, unknown>): string[] {
  const ids = new Set<string>();
  if (typeof params.DataKeyId === 'string' && params.DataKeyId) ids.add(params.DataKeyId);
  if (Array.isArray(params.DataKeyIds)) for (const id of params.DataKeyIds) ids.add(String(id));
  return [...ids];
}

const KEY_A = '11111111-1111-4111-8111-111111111111';
const KEY_B = '22222222-2222-4222-8222-222222222222';
const KEY_C = '33333333-3333-4333-8333-333333333333';
const DATA_1 = '44444444-4444-4444-8444-444444444444';
const DATA_2 = '55555555-5555-4555-8555-555555555555';

const blobOf = (keyId: string) => assembleBlob(aadPrefix({ algorithm: BlobAlgorithm.AES_256_GCM, keyId, version: 1 }), randomBytes(12), randomBytes(32)).toString('base64');
const pqcBlobOf = (keyId: string) =>
  pqcEncrypt(
    { algorithm: PqcAlgorithm.ML_KEM_768_AES_256_GCM, keyId, version: 1 },
    mlKem768PublicKeyPem(randomBytes(64)),
    Buffer.from('x'),
    randomBytes(32),
    randomBytes(12),
  ).toString('base64');

/** Requests of an action: its id fields filled, then each left out in turn, and bad ciphertexts. */
function samples(action: KmsAction): Array<Record<string, unknown>> {
  const fill: Record<string, unknown> = {
    KeyId: KEY_A,
    DestinationKeyId: KEY_B,
    KeyIds: [KEY_A, KEY_C],
    DataKeyId: DATA_1,
    DataKeyIds: [DATA_1, DATA_2],
    CiphertextBlob: action === 'PostQuantumCryptoDecrypt' ? pqcBlobOf(KEY_C) : blobOf(KEY_C),
    ImportKeyMaterial: blobOf(KEY_C),
    ImportType: 1,
  };
  const fields = Object.keys(kmsActions[action].schema.shape).filter((f) => f in fill);
  const full = Object.fromEntries(fields.map((f) => [f, fill[f]]));
  const out = [full, ...fields.map((f) => Object.fromEntries(Object.entries(full).filter(([k]) => k !== f)))];
  if (action === 'ImportDataKey')
    out.push({ ...full, ImportType: 2 }, { ImportType: 2, ImportKeyMaterial: full.ImportKeyMaterial }, { ImportType: 1, ImportKeyMaterial: 'bm90IGEgYmxvYg==' });
  if (fields.includes('CiphertextBlob')) out.push({ ...full, CiphertextBlob: 'bm90IGEgYmxvYg==' }, { ...full, CiphertextBlob: blobOf(KEY_B) });
  return out;
}

describe('resources: the keys and data keys a validated call touches', () => {
  it.each(actions)('%s', (a) => {
    for (const params of samples(a)) {
      const r = kmsActions[a].resources(params as never);
      expect(
        r.keys.map((k) => k.keyId),
        JSON.stringify(params),
      ).toEqual(expectedKeyIds(a, params));
      expect(r.dataKeys).toEqual(expectedDataKeyIds(params));
      // ImportDataKey's resource is its CMK in the region-less form (seed 004); no other action's.
      expect(r.keys.every((k) => k.regionless === (a === 'ImportDataKey'))).toBe(true);
    }
  });
});

describe('resources of a call refused before validation (audit record only)', () => {
  const raw: Array<[string, Record<string, unknown>]> = [
    ['CreateKey', { Alias: 'x', KeyId: KEY_A, DataKeyIds: [DATA_1, DATA_1, 7] }],
    ['Encrypt', { KeyId: 12, KeyIds: 'not a list', DestinationKeyId: KEY_B }],
    ['DescribeKeys', { KeyIds: [KEY_A, '', KEY_A, { id: 1 }] }],
    ['Decrypt', { KeyId: KEY_A, CiphertextBlob: blobOf(KEY_C) }],
    ['ReEncrypt', { CiphertextBlob: blobOf(KEY_C), DestinationKeyId: KEY_C }],
    ['ImportDataKey', { ImportType: '1', ImportKeyMaterial: blobOf(KEY_C) }],
    ['ImportDataKey', { ImportType: 1, ImportKeyMaterial: blobOf(KEY_C), DataKeyId: DATA_2 }],
    ['PostQuantumCryptoDecrypt', { CiphertextBlob: pqcBlobOf(KEY_B) }],
    ['LookUpEvents', { KeyId: KEY_A }],
    ['NoSuchAction', { KeyId: KEY_A, KeyIds: [KEY_B], DataKeyId: DATA_1 }],
  ];
  const wellFormed = (id: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id);
  it.each(raw)('%s %j names every well-formed id it carries', (action, params) => {
    const spec = (kmsActions as unknown as Record<string, never>)[action] ?? (cloudAuditActions as unknown as Record<string, never>)[action];
    const r = unvalidatedCallResources(spec, params);
    expect(r.keys.map((k) => k.keyId)).toEqual(expectedKeyIds(action, params).filter(wellFormed));
    expect(r.dataKeys).toEqual(expectedDataKeyIds(params).filter(wellFormed));
  });

  it('names nothing else: no malformed id, at most 100 ids of each kind, whatever the request held', () => {
    const huge = 'A'.repeat(1 << 20);
    const many = Array.from({ length: 20_000 }, () => randomUUID());
    for (const spec of [undefined, kmsActions.Encrypt, kmsActions.DescribeKeys, kmsActions.DescribeDataKeys] as const) {
      const r = unvalidatedCallResources(spec as never, { KeyId: huge, DestinationKeyId: KEY_B.toUpperCase(), KeyIds: many, DataKeyId: huge, DataKeyIds: many });
      expect(r.keys.length).toBeLessThanOrEqual(100);
      expect(r.dataKeys.length).toBeLessThanOrEqual(100);
      expect([...r.keys.map((k) => k.keyId), ...r.dataKeys].every(wellFormed)).toBe(true);
      expect(resourceNames(r).length).toBeLessThanOrEqual(100 * 37 * 2);
    }
  });

  it('the audit record names the keys, then the data keys, or *', () => {
    expect(resourceNames(unvalidatedCallResources(undefined, {}))).toBe('*');
    expect(resourceNames(unvalidatedCallResources(undefined, { KeyIds: [''] }))).toBe('*');
    expect(resourceNames(unvalidatedCallResources(undefined, { KeyId: KEY_A, DataKeyIds: [DATA_1, DATA_2] }))).toBe(`${KEY_A},${DATA_1},${DATA_2}`);
  });
});
