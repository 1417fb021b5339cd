import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { cloudaudit } from 'tencentcloud-sdk-nodejs/tencentcloud/services/cloudaudit/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cloudAuditActions, KMS_ACTIONS, kmsActions, type KmsAction } from '../../src/api/actions/index.js';
import { COMMON_CODES, mayAnswer } from '../../src/api/answer-codes.js';
import { ROOT, rootCallers, startTestServer, type TestServer } from '../helpers/api-server.js';
import { fieldsOf, fuzzCase, isReadOnlyAction, type FuzzTarget } from '../helpers/fuzz-requests.js';
import { KeepAliveClient, pool } from '../helpers/raw-http.js';
import { b64, clearProxy, errorCode, sdkError, type KmsCaller } from '../helpers/sdk-clients.js';

// Every action answers only the codes of its own documented list (docs/contract/actions.md#error-lists,
// the registry's `errors`) and the common answers (docs/contract/actions.md#common-answers): driven
// here by generated malformed requests for every action, by every action against keys and data
// keys in every state and of every usage, and by the refusals the lists were found to miss.

let server: TestServer;
let hk: KmsCaller;
let gz: KmsCaller;

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  ({ hk, gz } = rootCallers(server));
});

afterAll(async () => {
  await server?.stop();
});

const ALL = { ...kmsActions, ...cloudAuditActions } as Record<string, (typeof kmsActions)[KmsAction]>;
/** Answers outside the action's list and the common answers: `action: code (what)`. */
const strays: string[] = [];
function judge(action: string, code: string, what: string): void {
  if (code === 'OK') return;
  const spec = ALL[action];
  if (!spec) {
    // A call naming no action of ours can only be refused by routing.
    if (!(COMMON_CODES as readonly string[]).includes(code)) strays.push(`${action}: ${code} (${what})`);
    return;
  }
  if (!mayAnswer(spec.errors, code)) strays.push(`${action}: ${code} (${what})`);
}

let seq = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${(seq++).toString(36)}`;
const create = async (call: KmsCaller, extra: Record<string, unknown> = {}) => (await call('CreateKey', { Alias: unique('el'), ...extra })).KeyId as string;

interface Key {
  id: string;
  call: KmsCaller;
  what: string;
  usage: string;
  /** A ciphertext of this key, made while it was enabled. */
  blob?: string;
}

/** Symmetric keys in each state (fresh ones for the actions that change keys). */
async function symmetricKeys(call: KmsCaller, what: string): Promise<Key[]> {
  const blobs = new Map<string, string>();
  const k = (id: string, state: string): Key => ({ id, call, what: `${what} ${state}`, usage: 'ENCRYPT_DECRYPT', blob: blobs.get(id) });
  const enabledKey = async () => {
    const id = await create(call);
    blobs.set(id, (await call('Encrypt', { KeyId: id, Plaintext: b64('x') })).CiphertextBlob as string);
    return id;
  };
  const enabled = await enabledKey();
  const disabled = await enabledKey();
  await call('DisableKey', { KeyId: disabled });
  const pending = await enabledKey();
  await call('DisableKey', { KeyId: pending });
  await call('ScheduleKeyDeletion', { KeyId: pending, PendingWindowInDays: 7 });
  const archived = await enabledKey();
  await call('ArchiveKey', { KeyId: archived });
  const external = await create(call, { Type: 2 });
  return [k(enabled, 'Enabled'), k(disabled, 'Disabled'), k(pending, 'PendingDelete'), k(archived, 'Archived'), k(external, 'PendingImport')];
}

/** One key of every asymmetric and post-quantum usage each region offers, and one disabled. */
async function asymmetricKeys(): Promise<Key[]> {
  const out: Key[] = [];
  for (const [call, region, usages] of [
    [
      hk,
      'ap-hongkong',
      [
        'ASYMMETRIC_DECRYPT_RSA_2048',
        'ASYMMETRIC_SIGN_VERIFY_RSA_2048',
        'ASYMMETRIC_SIGN_VERIFY_ECC',
        'ASYMMETRIC_SIGN_VERIFY_ECDSA384',
        'PQC_ENCRYPT_DECRYPT_ML_KEM_768',
        'PQC_SIGN_VERIFY_ML_DSA_65',
      ],
    ],
    [gz, 'ap-guangzhou', ['ASYMMETRIC_DECRYPT_SM2', 'ASYMMETRIC_SIGN_VERIFY_SM2']],
  ] as const) {
    for (const usage of usages) out.push({ id: await create(call, { KeyUsage: usage }), call, what: `${region} ${usage}`, usage });
  }
  const disabled = await create(hk, { KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_ECC' });
  await hk('DisableKey', { KeyId: disabled });
  out.push({ id: disabled, call: hk, what: 'ap-hongkong ECC Disabled', usage: 'ASYMMETRIC_SIGN_VERIFY_ECC' });
  return out;
}

interface DataKey {
  id: string;
  what: string;
}

async function dataKeys(cmk: string): Promise<DataKey[]> {
  const make = async () => (await hk('GenerateDataKey', { KeyId: cmk, NumberOfBytes: 32, IsHostedByKms: 1, DataKeyName: unique('dk') })).DataKeyId as string;
  const enabled = await make();
  const disabled = await make();
  await hk('DisableDataKey', { DataKeyId: disabled });
  const pending = await make();
  await hk('DisableDataKey', { DataKeyId: pending });
  await hk('ScheduleDataKeyDeletion', { DataKeyId: pending, PendingWindowInDays: 7 });
  return [
    { id: enabled, what: 'Enabled' },
    { id: disabled, what: 'Disabled' },
    { id: pending, what: 'PendingDelete' },
  ];
}

const SIGN_ALGORITHM: Record<string, string> = {
  ASYMMETRIC_SIGN_VERIFY_RSA_2048: 'RSA_PSS_SHA_256',
  ASYMMETRIC_SIGN_VERIFY_ECC: 'ECC_P256_R1',
  ASYMMETRIC_SIGN_VERIFY_ECDSA384: 'ECC_P384_R1',
  ASYMMETRIC_SIGN_VERIFY_SM2: 'SM2DSA',
};

/** A request of `action` meant to be valid, aimed at a key, a data key or neither. */
function request(action: KmsAction, key: Key | undefined, dataKey: string | undefined, blob: string): Record<string, unknown> {
  const byName: Record<string, unknown> = {
    KeyId: key?.id ?? randomUUID(),
    KeyIds: [key?.id ?? randomUUID()],
    DataKeyId: dataKey ?? randomUUID(),
    DataKeyIds: [dataKey ?? randomUUID()],
    Alias: unique('al'),
    DataKeyName: unique('dn'),
    Description: 'described',
    Plaintext: b64('plain'),
    PlainText: b64('plain'),
    Message: b64('message'),
    Ciphertext: randomBytes(action === 'AsymmetricSm2Decrypt' ? 120 : 256).toString('base64'),
    CiphertextBlob: key?.blob ?? blob,
    SignatureValue: randomBytes(64).toString('base64'),
    Algorithm: action === 'AsymmetricRsaDecrypt' ? 'RSAES_OAEP_SHA_256' : action === 'CreateWhiteBoxKey' ? 'AES_256' : (SIGN_ALGORITHM[key?.usage ?? ''] ?? 'SM2DSA'),
    PendingWindowInDays: 7,
    WrappingAlgorithm: 'RSAES_OAEP_SHA_256',
    WrappingKeySpec: 'RSA_2048',
    EncryptedKeyMaterial: randomBytes(256).toString('base64'),
    ImportToken: randomBytes(32).toString('base64'),
    ImportKeyMaterial: key?.blob ?? blob,
    ImportType: 1,
    NumberOfBytes: 32,
    ProductId: 'product',
    ResourceId: 'resource',
  };
  const params: Record<string, unknown> = {};
  for (const f of fieldsOf(action)) {
    if (f.name in byName && (!f.optional || f.name === 'NumberOfBytes')) params[f.name] = byName[f.name];
    else if (!f.optional) params[f.name] = f.schema instanceof z.ZodEnum ? (f.schema.options as string[])[0] : f.schema instanceof z.ZodNumber ? 1 : 'x';
  }
  return params;
}

describe('every action answers only its own documented codes and the common answers', () => {
  let aes: string;
  let blob: string;
  let keys: Key[];

  beforeAll(async () => {
    keys = [...(await symmetricKeys(hk, 'ap-hongkong')), ...(await symmetricKeys(gz, 'ap-guangzhou')), ...(await asymmetricKeys())];
    aes = keys[0]!.id;
    blob = (await hk('Encrypt', { KeyId: aes, Plaintext: b64('x') })).CiphertextBlob as string;
  }, 120_000);

  it('generated malformed requests for every action (schema-derived, bad JSON, flat forms, bad signatures)', { timeout: 300_000 }, async () => {
    const target: FuzzTarget = {
      host: server.endpoint,
      secretId: ROOT.secretId,
      secretKey: ROOT.secretKey,
      regions: ['ap-hongkong', 'ap-guangzhou', 'ap-singapore'],
      keyIds: { 'ap-hongkong': keys.filter((k) => k.call === hk).map((k) => k.id), 'ap-guangzhou': keys.filter((k) => k.call === gz).map((k) => k.id), 'ap-singapore': [] },
      blobs: [blob],
    };
    const cases = fc.sample(fuzzCase(target), { numRuns: Number(process.env.HSMKMS_ERROR_LIST_RUNS ?? 3000), seed: 23 });
    const client = new KeepAliveClient('127.0.0.1', Number(server.endpoint.split(':')[1]), 30_000, 8);
    const seen = new Set<string>();
    try {
      await pool(cases.length, 8, async (i) => {
        const c = cases[i]!;
        const res = await client.send(c.request);
        const code = (JSON.parse(res.text) as { Response: { Error?: { Code: string } } }).Response.Error?.Code ?? 'OK';
        seen.add(c.action);
        judge(c.action, code, `${c.family} ${c.what}`);
      });
    } finally {
      client.close();
    }
    expect(seen.size).toBe(KMS_ACTIONS.length);
    expect(strays.splice(0)).toEqual([]);
  });

  it('every action that names a key, against keys of every state and usage, and an unknown one', { timeout: 300_000 }, async () => {
    const unknown: Key = { id: randomUUID(), call: hk, what: 'unknown', usage: '' };
    // Actions that leave keys as they are first, then each changing one on keys of its own.
    const keyed = KMS_ACTIONS.filter((a) => fieldsOf(a).some((f) => f.name === 'KeyId' || f.name === 'KeyIds'));
    const steady = keyed.filter(isReadOnlyAction);
    for (const action of steady) for (const key of [...keys, unknown]) judge(action, await errorCode(key.call(action, request(action, key, undefined, blob))), key.what);
    for (const action of keyed.filter((a) => !steady.includes(a))) {
      const own = [...(await symmetricKeys(hk, 'ap-hongkong')), unknown];
      for (const key of [...own, ...keys.filter((k) => k.usage !== 'ENCRYPT_DECRYPT')])
        judge(action, await errorCode(key.call(action, request(action, key, undefined, blob))), key.what);
    }
    expect(strays.splice(0)).toEqual([]);
  });

  it('every action that names a data key, against data keys of every state, an unknown one, and a CMK in each state', { timeout: 300_000 }, async () => {
    const named = KMS_ACTIONS.filter((a) => fieldsOf(a).some((f) => f.name === 'DataKeyId' || f.name === 'DataKeyIds'));
    for (const action of named) {
      const cmks = await symmetricKeys(hk, 'ap-hongkong');
      const targets = [...(await dataKeys(cmks[0]!.id)), { id: randomUUID(), what: 'unknown' }];
      // The wrapping CMK's state matters to some: disable it, archive it, schedule its deletion.
      const wrapped = await dataKeys(cmks[0]!.id);
      await hk('DisableKey', { KeyId: cmks[0]!.id });
      for (const d of [...targets, ...wrapped.map((w) => ({ ...w, what: `${w.what}, CMK Disabled` }))])
        judge(action, await errorCode(hk(action, request(action, undefined, d.id, blob))), d.what);
    }
    expect(strays.splice(0)).toEqual([]);
  });

  it('every other action, with a request meant to be valid and with none', { timeout: 120_000 }, async () => {
    for (const action of KMS_ACTIONS) {
      judge(action, await errorCode(hk(action, request(action, undefined, undefined, blob))), 'valid');
      judge(action, await errorCode(hk(action, {})), 'empty');
    }
    expect(strays.splice(0)).toEqual([]);
  });
});

describe('the refusals that answered codes outside their action’s list', () => {
  let aes: string;
  let ecc: string;
  let rsa: string;
  let dk: string;

  beforeAll(async () => {
    aes = await create(hk);
    ecc = await create(hk, { KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_ECC' });
    rsa = await create(hk, { KeyUsage: 'ASYMMETRIC_DECRYPT_RSA_2048' });
    dk = (await hk('GenerateDataKey', { KeyId: aes, NumberOfBytes: 16, IsHostedByKms: 1, DataKeyName: unique('dk') })).DataKeyId as string;
  });

  it('a key state the action’s list has no code for: the nearest state code it lists, else ResourceUnavailable', async () => {
    const [, , pending, archived] = await symmetricKeys(hk, 'ap-hongkong');
    const pendingEcc = await create(hk, { KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_ECC' });
    await hk('DisableKey', { KeyId: pendingEcc });
    await hk('ScheduleKeyDeletion', { KeyId: pendingEcc, PendingWindowInDays: 7 });
    // Encrypt and Decrypt list no KeyPendingDelete nor CmkStateNotSupport: a key pending deletion cannot be used, as a disabled one cannot.
    expect(await errorCode(hk('Encrypt', { KeyId: pending!.id, Plaintext: b64('x') }))).toBe('ResourceUnavailable.CmkDisabled');
    expect(await errorCode(hk('Decrypt', { CiphertextBlob: pending!.blob }))).toBe('ResourceUnavailable.CmkDisabled');
    // GenerateDataKey lists KeyPendingDelete itself; GetPublicKey lists CmkStateNotSupport.
    expect(await errorCode(hk('GenerateDataKey', { KeyId: pending!.id, NumberOfBytes: 16 }))).toBe('ResourceUnavailable.KeyPendingDelete');
    expect(await errorCode(hk('GetPublicKey', { KeyId: pendingEcc }))).toBe('ResourceUnavailable.CmkStateNotSupport');
    // UpdateAlias lists no state code at all.
    expect(await errorCode(hk('UpdateAlias', { KeyId: pending!.id, Alias: unique('al') }))).toBe('ResourceUnavailable');
    expect(await errorCode(hk('GetParametersForImport', { KeyId: archived!.id, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }))).toBe(
      'UnsupportedOperation.NotExternalCmk',
    );
  });

  it.each<[string, KmsAction, () => Record<string, unknown>, string]>([
    ['ListKeys Limit over 200', 'ListKeys', () => ({ Limit: 201 }), 'InvalidParameter'],
    ['ListKeys negative Offset', 'ListKeys', () => ({ Offset: -1 }), 'InvalidParameter'],
    ['ListKeyDetail KeyState 9', 'ListKeyDetail', () => ({ KeyState: 9 }), 'InvalidParameter'],
    ['ListKeyDetail Role 2', 'ListKeyDetail', () => ({ Role: 2 }), 'InvalidParameter'],
    ['GenerateRandom NumberOfBytes 0', 'GenerateRandom', () => ({ NumberOfBytes: 0 }), 'InvalidParameter'],
    ['GenerateRandom NumberOfBytes 1025', 'GenerateRandom', () => ({ NumberOfBytes: 1025 }), 'InvalidParameter'],
    ['GenerateDataKey NumberOfBytes 1025', 'GenerateDataKey', () => ({ KeyId: aes, NumberOfBytes: 1025 }), 'InvalidParameter'],
    [
      'GetParametersForImport WrappingKeySpec RSA_4096',
      'GetParametersForImport',
      () => ({ KeyId: aes, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_4096' }),
      'InvalidParameter',
    ],
    ['AsymmetricRsaDecrypt unknown Algorithm', 'AsymmetricRsaDecrypt', () => ({ KeyId: rsa, Ciphertext: b64('x'), Algorithm: 'RSAES_RAW' }), 'InvalidParameter'],
    [
      'SignByAsymmetricKey with an algorithm not fitting the key',
      'SignByAsymmetricKey',
      () => ({ KeyId: ecc, Algorithm: 'RSA_PSS_SHA_256', Message: b64('m') }),
      'InvalidParameter',
    ],
    ['GetPublicKey of a symmetric key', 'GetPublicKey', () => ({ KeyId: aes }), 'InvalidParameter'],
    ['UpdateDataKeyDescription over 100 bytes', 'UpdateDataKeyDescription', () => ({ DataKeyId: dk, Description: 'd'.repeat(101) }), 'InvalidParameter'],
    ['UpdateDataKeyName empty', 'UpdateDataKeyName', () => ({ DataKeyId: dk, DataKeyName: '' }), 'InvalidParameterValue'],
  ])('%s → %s', async (_name, action, params, code) => {
    expect(await errorCode(hk(action, params()))).toBe(code);
    // Of its list, or (UpdateDataKeyDescription, whose list names no parameter code but the data key's) the common InvalidParameter.
    expect(mayAnswer(kmsActions[action].errors, code)).toBe(true);
  });

  const audit = () =>
    new cloudaudit.v20190319.Client({
      credential: { secretId: ROOT.secretId, secretKey: ROOT.secretKey },
      region: 'ap-hongkong',
      profile: { httpProfile: { endpoint: server.endpoint, protocol: 'http://' } },
    });
  const now = () => Math.floor(Date.now() / 1000);

  it('LookUpEvents: its own codes for the time range, the page size and an unknown attribute key', async () => {
    expect(await errorCode(audit().LookUpEvents({ StartTime: now(), EndTime: now() - 10 }))).toBe('InvalidParameterValue.Time');
    expect(await errorCode(audit().LookUpEvents({ StartTime: now() - 10, EndTime: now(), MaxResults: 51 }))).toBe('InvalidParameterValue.MaxResult');
    expect(await errorCode(audit().LookUpEvents({ StartTime: now() - 10, EndTime: now(), LookupAttributes: [{ AttributeKey: 'Colour', AttributeValue: 'red' }] }))).toBe(
      'InvalidParameterValue.attributeKey',
    );
    expect(await errorCode(audit().LookUpEvents({ EndTime: now() } as never))).toBe('InvalidParameter.Time');
    // Nothing its list names fits a malformed NextToken: the common InvalidParameter.
    expect(await errorCode(audit().LookUpEvents({ StartTime: now() - 10, EndTime: now(), NextToken: 'abc' }))).toBe('InvalidParameter');
  });

  it('DescribeEvents: InvalidParameter, the one parameter code of its list (a missing field: the common MissingParameter)', async () => {
    for (const bad of [
      { StartTime: now(), EndTime: now() - 10 },
      { StartTime: now() - 10, EndTime: now(), MaxResults: 51 },
      { StartTime: now() - 10, EndTime: now(), LookupAttributes: [{ AttributeKey: 'Colour', AttributeValue: 'red' }] },
      { StartTime: now() - 10, EndTime: now(), LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'maybe' }] },
    ]) {
      const e = await sdkError(audit().DescribeEvents(bad as never));
      expect(e.code, JSON.stringify(bad)).toBe('InvalidParameter');
    }
    expect(await errorCode(audit().DescribeEvents({ EndTime: now() } as never))).toBe('MissingParameter');
  });
});
