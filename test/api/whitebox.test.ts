import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cloudaudit } from 'tencentcloud-sdk-nodejs/tencentcloud/services/cloudaudit/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KMS_ACTIONS, type KmsAction } from '../../src/api/actions/index.js';
import { checkAgainstSdkResponse } from '../../src/api/actions/response-check.js';
import { describeTableSet, FingerprintNotBoundError, whiteboxDecryptCbc, whiteboxEncryptCbc } from '../../src/crypto/whitebox/client.js';
import { referenceEncryptCbc, WhiteboxAlgorithm, WhiteboxDirection } from '../../src/crypto/whitebox/index.js';
import { ROOT, rootCallers, startTestServer, type TestServer } from '../helpers/api-server.js';
import { REPO } from '../helpers/cli.js';
import { b64, clearProxy, cnKmsClient, intlKmsClient, sdkError, unb64, type KmsCaller } from '../helpers/sdk-clients.js';

// White-box keys (docs/contract/actions.md#group-white-box, docs/whitebox.md) through both official
// SDKs in a FIPS (AES_256) and an SM (SM4) region: the 13 actions, each audited; what the tables
// open and with which fingerprints; the refusals, each a code of the action's documented list;
// the quota; CAM on the key resource; custody (sealed under the KEK, regenerated identically after
// a restart); and the client runtime on the command line with the key file alone.

let server: TestServer;
let hk: KmsCaller;
let hkIntl: KmsCaller;
let gz: KmsCaller;
let gzIntl: KmsCaller;
let sg: KmsCaller;

const MISSING = '00000000-0000-4000-8000-00000000abcd';
const ALGORITHM = { AES_256: WhiteboxAlgorithm.AES_256, SM4: WhiteboxAlgorithm.SM4 } as const;

/** A fingerprint identity of the collector's shape (docs/contract/keys.md#struct-device-fingerprint). */
const identity = () => [8, 14, 14, 14, 16].map((n) => randomBytes(n).toString('hex').slice(0, n)).join('-');

/** The action's error list, read from the contract reference (docs/contract/actions.md#error-lists). */
const contract = readFileSync(path.join(REPO, 'docs', 'contract', 'actions.md'), 'utf8');
function documentedCodes(action: string): string[] {
  const slug = action.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
  const m = new RegExp(`<a id="errors-${slug}"></a>\\n\\*\\*Error codes\\*\\* \\(\\d+\\): (.*)`).exec(contract);
  if (!m) throw new Error(`no error list for ${action}`);
  return [...m[1]!.matchAll(/`([^`]+)`/g)].map((x) => x[1]!);
}

/** Refused with `code`, which the action's documented list holds. */
async function refused(call: KmsCaller, action: string, params: Record<string, unknown>, code: string): Promise<string> {
  const e = await sdkError(call(action, params));
  expect(e.code, `${action} ${e.message}`).toBe(code);
  expect(documentedCodes(action), `${code} is in the list of ${action}`).toContain(code);
  return e.message;
}

/**
 * Every call is one audit event, Success, naming the white-box key (a creation: the key it made,
 * read from the answer); its answer fits the SDK model.
 */
async function audited(
  call: KmsCaller,
  action: string,
  params: Record<string, unknown>,
  resource: string | ((answer: Record<string, unknown>) => string),
): Promise<Record<string, unknown>> {
  const r = await call(action, params);
  const ev = await server.services.auditRepo.query({ limit: 10, requestId: r.RequestId as string });
  const named = typeof resource === 'string' ? resource : resource(r);
  expect(ev, action).toMatchObject([{ eventName: action, result: 'Success', resourceType: 'kms', resourceName: named }]);
  expect(checkAgainstSdkResponse(action as KmsAction, r), action).toEqual([]);
  return r;
}

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  ({ hk, hkIntl, gz, gzIntl, sg } = rootCallers(server));
});

afterAll(async () => {
  await server?.stop();
});

const CASES = [
  { name: 'FIPS region (AES_256), CN SDK', call: () => hk, algorithm: 'AES_256' as const },
  { name: 'FIPS region (AES_256), international SDK', call: () => hkIntl, algorithm: 'AES_256' as const },
  { name: 'SM region (SM4), CN SDK', call: () => gz, algorithm: 'SM4' as const },
  { name: 'SM region (SM4), international SDK', call: () => gzIntl, algorithm: 'SM4' as const },
];

describe.each(CASES)('the 13 actions: $name', ({ call: caller, algorithm }) => {
  let call: KmsCaller;
  let keyId: string;
  let encryptKey: string;
  let decryptKey: string;
  const alias = `wb-${algorithm.toLowerCase().replace('_', '')}-${randomBytes(3).toString('hex')}`;

  beforeAll(() => {
    call = caller();
  });

  it('DescribeWhiteBoxServiceStatus: ServiceEnabled', async () => {
    expect((await audited(call, 'DescribeWhiteBoxServiceStatus', {}, '*')).ServiceEnabled).toBe(true);
  });

  it('CreateWhiteBoxKey: the EncryptKey and DecryptKey are table sets of the region’s algorithm, unbound', async () => {
    const r = await audited(
      call,
      'CreateWhiteBoxKey',
      { Alias: alias, Algorithm: algorithm, Description: 'device data', Tags: [{ TagKey: 'team', TagValue: 'iot' }] },
      (answer) => answer.KeyId as string,
    );
    keyId = r.KeyId as string;
    encryptKey = r.EncryptKey as string;
    decryptKey = r.DecryptKey as string;
    expect(keyId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r).toMatchObject({ TagCode: 0, TagMsg: '' });
    for (const [blob, direction] of [
      [encryptKey, WhiteboxDirection.ENCRYPT],
      [decryptKey, WhiteboxDirection.DECRYPT],
    ] as const) {
      expect(describeTableSet(blob)).toMatchObject({ algorithm: ALGORITHM[algorithm], direction, keyId, bound: false, slotCount: 0 });
    }
  });

  it('DescribeWhiteBoxKey and DescribeWhiteBoxKeyDetails: WhiteboxKeyInfo, without the tables', async () => {
    const info = (await audited(call, 'DescribeWhiteBoxKey', { KeyId: keyId }, keyId)).KeyInfo as Record<string, unknown>;
    expect(info).toMatchObject({
      KeyId: keyId,
      Alias: alias,
      CreatorUin: Number(ROOT.uin),
      OwnerUin: Number(ROOT.uin),
      Description: 'device data',
      Status: 'Enabled',
      Algorithm: algorithm,
      ResourceId: `creatorUin/${ROOT.uin}/${keyId}`,
      DeviceFingerprintBind: false,
    });
    expect(Math.abs((info.CreateTime as number) - Date.now() / 1000)).toBeLessThan(120);
    expect(info.EncryptKey ?? null).toBeNull();
    expect(info.DecryptKey ?? null).toBeNull();
    const d = await audited(call, 'DescribeWhiteBoxKeyDetails', { TagFilters: [{ TagKey: 'team', TagValue: ['iot'] }] }, '*');
    expect((d.KeyInfos as Array<{ KeyId: string }>).map((k) => k.KeyId)).toContain(keyId);
    expect(JSON.stringify(d)).not.toContain(decryptKey.slice(100, 160));
  });

  it('EncryptByWhiteBox: the caller’s IV echoed or one drawn; the DecryptKey alone opens it; the EncryptKey gives the same bytes', async () => {
    const iv = randomBytes(16);
    const plaintext = Buffer.from('white-box round trip');
    const r = await audited(call, 'EncryptByWhiteBox', { KeyId: keyId, PlainText: b64(plaintext), InitializationVector: b64(iv) }, keyId);
    expect(r.InitializationVector).toBe(b64(iv));
    const ciphertext = unb64(r.CipherText);
    expect(ciphertext).toHaveLength(32);
    expect(whiteboxDecryptCbc(decryptKey, iv, ciphertext)).toEqual(plaintext);
    expect(whiteboxEncryptCbc(encryptKey, iv, plaintext)).toEqual(ciphertext);
    // What the runtime encrypts with the EncryptKey opens with the DecryptKey.
    const mine = whiteboxEncryptCbc(encryptKey, iv, Buffer.from('from the device'));
    expect(whiteboxDecryptCbc(decryptKey, iv, mine).toString()).toBe('from the device');

    const drawn = await audited(call, 'EncryptByWhiteBox', { KeyId: keyId, PlainText: b64(plaintext) }, keyId);
    const drawnIv = unb64(drawn.InitializationVector);
    expect(drawnIv).toHaveLength(16);
    expect(drawnIv).not.toEqual(iv);
    expect(whiteboxDecryptCbc(decryptKey, drawnIv, unb64(drawn.CipherText))).toEqual(plaintext);
  });

  it('DescribeWhiteBoxDecryptKey: the same DecryptKey, regenerated', async () => {
    expect((await audited(call, 'DescribeWhiteBoxDecryptKey', { KeyId: keyId }, keyId)).DecryptKey).toBe(decryptKey);
  });

  it('device fingerprints: after Overwrite the DecryptKey opens only with a listed identity; an empty list unbinds', async () => {
    const [a, b] = [identity(), identity()];
    await audited(
      call,
      'OverwriteWhiteBoxDeviceFingerprints',
      {
        KeyId: keyId,
        DeviceFingerprints: [
          { Identity: a, Description: '10.0.0.7' },
          { Identity: b, Description: 'line 2 gateway' },
          { Identity: a, Description: 'repeat' },
        ],
      },
      keyId,
    );
    const listed = await audited(call, 'DescribeWhiteBoxDeviceFingerprints', { KeyId: keyId }, keyId);
    expect(listed.DeviceFingerprints).toEqual([
      { Identity: a, Description: '10.0.0.7' },
      { Identity: b, Description: 'line 2 gateway' },
    ]);
    expect(((await call('DescribeWhiteBoxKey', { KeyId: keyId })).KeyInfo as Record<string, unknown>).DeviceFingerprintBind).toBe(true);

    const bound = (await call('DescribeWhiteBoxDecryptKey', { KeyId: keyId })).DecryptKey as string;
    expect(describeTableSet(bound)).toMatchObject({ bound: true, slotCount: 2, keyId });
    const iv = randomBytes(16);
    const ct = unb64((await call('EncryptByWhiteBox', { KeyId: keyId, PlainText: b64('bound'), InitializationVector: b64(iv) })).CipherText);
    expect(whiteboxDecryptCbc(bound, iv, ct, a).toString()).toBe('bound');
    expect(whiteboxDecryptCbc(bound, iv, ct, b.toUpperCase()).toString()).toBe('bound');
    expect(() => whiteboxDecryptCbc(bound, iv, ct, identity())).toThrow(FingerprintNotBoundError);
    expect(() => whiteboxDecryptCbc(bound, iv, ct)).toThrow(FingerprintNotBoundError);
    // Tables handed out before keep working: they cannot be revoked.
    expect(whiteboxDecryptCbc(decryptKey, iv, ct).toString()).toBe('bound');

    await audited(call, 'OverwriteWhiteBoxDeviceFingerprints', { KeyId: keyId, DeviceFingerprints: [] }, keyId);
    expect((await call('DescribeWhiteBoxDeviceFingerprints', { KeyId: keyId })).DeviceFingerprints).toEqual([]);
    const unbound = (await call('DescribeWhiteBoxDecryptKey', { KeyId: keyId })).DecryptKey as string;
    expect(describeTableSet(unbound)).toMatchObject({ bound: false });
    // A fresh output encoding: a new table set, and it opens the same ciphertext.
    expect(unbound).not.toBe(decryptKey);
    expect(whiteboxDecryptCbc(unbound, iv, ct).toString()).toBe('bound');
  });

  it('Disable/Enable (single and batch): a disabled key refuses EncryptByWhiteBox; DeleteWhiteBoxKey needs it disabled', async () => {
    const other = (await call('CreateWhiteBoxKey', { Alias: `${alias}-b`, Algorithm: algorithm })).KeyId as string;
    await audited(call, 'DisableWhiteBoxKey', { KeyId: keyId }, keyId);
    expect(((await call('DescribeWhiteBoxKey', { KeyId: keyId })).KeyInfo as Record<string, unknown>).Status).toBe('Disabled');
    await refused(call, 'EncryptByWhiteBox', { KeyId: keyId, PlainText: b64('x') }, 'ResourceUnavailable.KeyDisabled');
    // The tables can still be fetched: the action lists no state refusal, and copies out there work anyway.
    expect((await call('DescribeWhiteBoxDecryptKey', { KeyId: keyId })).DecryptKey).toBeTruthy();
    await audited(call, 'EnableWhiteBoxKey', { KeyId: keyId }, keyId);
    expect((await call('EncryptByWhiteBox', { KeyId: keyId, PlainText: b64('x') })).CipherText).toBeTruthy();

    await audited(call, 'DisableWhiteBoxKeys', { KeyIds: [keyId, other] }, `${keyId},${other}`);
    const statuses = async () =>
      ((await call('DescribeWhiteBoxKeyDetails', {})).KeyInfos as Array<{ KeyId: string; Status: string }>).filter((k) => [keyId, other].includes(k.KeyId));
    expect((await statuses()).map((k) => k.Status)).toEqual(['Disabled', 'Disabled']);
    const disabled = (await call('DescribeWhiteBoxKeyDetails', { KeyStatus: 0 })).KeyInfos as Array<{ KeyId: string }>;
    expect(disabled.map((k) => k.KeyId)).toEqual(expect.arrayContaining([keyId, other]));
    await audited(call, 'EnableWhiteBoxKeys', { KeyIds: [keyId, other] }, `${keyId},${other}`);
    expect((await statuses()).map((k) => k.Status)).toEqual(['Enabled', 'Enabled']);
    // All or none: one missing key changes nothing.
    await refused(call, 'DisableWhiteBoxKeys', { KeyIds: [keyId, MISSING] }, 'ResourceNotFound');
    expect((await statuses()).map((k) => k.Status)).toEqual(['Enabled', 'Enabled']);

    await refused(call, 'DeleteWhiteBoxKey', { KeyId: other }, 'FailedOperation');
    await call('DisableWhiteBoxKey', { KeyId: other });
    await audited(call, 'DeleteWhiteBoxKey', { KeyId: other }, other);
    await refused(call, 'DescribeWhiteBoxKey', { KeyId: other }, 'ResourceNotFound');
    expect(await server.services.db('whitebox_keys').where({ key_id: other }).first()).toBeUndefined();
  });
});

describe('plaintext lengths 1, 15, 16, 17 and 4096 (PKCS#7: always one block more than ⌊len/16⌋)', () => {
  it.each([
    ['AES_256', () => hk],
    ['SM4', () => gz],
  ] as const)('%s: EncryptByWhiteBox, then the DecryptKey; the EncryptKey gives the same bytes', async (algorithm, caller) => {
    const call = caller();
    const made = await call('CreateWhiteBoxKey', { Alias: `wb-len-${algorithm}`, Algorithm: algorithm });
    const keyId = made.KeyId as string;
    for (const n of [1, 15, 16, 17, 4096]) {
      const plaintext = randomBytes(n);
      const iv = randomBytes(16);
      const r = await call('EncryptByWhiteBox', { KeyId: keyId, PlainText: b64(plaintext), InitializationVector: b64(iv) });
      const ct = unb64(r.CipherText);
      expect(ct.length, `${n} bytes`).toBe(16 * (Math.floor(n / 16) + 1));
      expect(whiteboxDecryptCbc(made.DecryptKey as string, iv, ct)).toEqual(plaintext);
      expect(whiteboxEncryptCbc(made.EncryptKey as string, iv, plaintext)).toEqual(ct);
    }
  });
});

describe('refusals: each code from the action’s documented list', () => {
  let keyId: string;
  beforeAll(async () => {
    keyId = (await gz('CreateWhiteBoxKey', { Alias: 'wb-refusals', Algorithm: 'SM4' })).KeyId as string;
  });

  it('CreateWhiteBoxKey: the algorithm of the region’s standard; alias rule and uniqueness; tag keys', async () => {
    expect(await refused(gz, 'CreateWhiteBoxKey', { Alias: 'wb-aes-in-sm', Algorithm: 'AES_256' }, 'InvalidParameterValue')).toMatch(/SM4/);
    expect(await refused(hk, 'CreateWhiteBoxKey', { Alias: 'wb-sm4-in-fips', Algorithm: 'SM4' }, 'InvalidParameterValue')).toMatch(/AES_256/);
    await refused(gz, 'CreateWhiteBoxKey', { Alias: 'wb-x', Algorithm: 'AES_128' }, 'InvalidParameterValue');
    await refused(gz, 'CreateWhiteBoxKey', { Alias: 'wb-refusals', Algorithm: 'SM4' }, 'InvalidParameterValue.AliasAlreadyExists');
    await refused(gz, 'CreateWhiteBoxKey', { Alias: '-leading-dash', Algorithm: 'SM4' }, 'InvalidParameterValue.InvalidAlias');
    const tags = [
      { TagKey: 'a', TagValue: '1' },
      { TagKey: 'a', TagValue: '2' },
    ];
    await refused(gz, 'CreateWhiteBoxKey', { Alias: 'wb-tags', Algorithm: 'SM4', Tags: tags }, 'InvalidParameterValue.TagKeysDuplicated');
    // Aliases are per region: the same one is free in another region.
    expect((await hk('CreateWhiteBoxKey', { Alias: 'wb-refusals', Algorithm: 'AES_256' })).KeyId).toBeTruthy();
  });

  it('a missing key is ResourceNotFound, a malformed id InvalidKeyId — a CMK id is no white-box key, another region’s key is missing', async () => {
    const cmk = (await gz('CreateKey', { Alias: 'wb-a-cmk' })).KeyId as string;
    for (const action of [
      'DescribeWhiteBoxKey',
      'DescribeWhiteBoxDecryptKey',
      'EnableWhiteBoxKey',
      'DisableWhiteBoxKey',
      'DeleteWhiteBoxKey',
      'DescribeWhiteBoxDeviceFingerprints',
    ]) {
      await refused(gz, action, { KeyId: MISSING }, 'ResourceNotFound');
      await refused(gz, action, { KeyId: cmk }, 'ResourceNotFound');
      await refused(gz, action, { KeyId: 'not-a-key-id' }, 'InvalidParameterValue.InvalidKeyId');
    }
    await refused(gz, 'EncryptByWhiteBox', { KeyId: MISSING, PlainText: b64('x') }, 'ResourceNotFound');
    await refused(gz, 'OverwriteWhiteBoxDeviceFingerprints', { KeyId: MISSING, DeviceFingerprints: [] }, 'ResourceNotFound');
    await refused(gz, 'EnableWhiteBoxKeys', { KeyIds: [keyId, MISSING] }, 'ResourceNotFound');
    await refused(gz, 'EnableWhiteBoxKeys', { KeyIds: [keyId, keyId] }, 'InvalidParameterValue.DuplicatedKeyId');
    await refused(gz, 'EnableWhiteBoxKeys', { KeyIds: ['nope'] }, 'InvalidParameterValue.InvalidKeyId');
    await refused(hk, 'DescribeWhiteBoxKey', { KeyId: keyId }, 'ResourceNotFound');
  });

  it('EncryptByWhiteBox: at most 4096 bytes, a 16-byte IV', async () => {
    await refused(gz, 'EncryptByWhiteBox', { KeyId: keyId, PlainText: b64(randomBytes(4097)) }, 'InvalidParameterValue');
    await refused(gz, 'EncryptByWhiteBox', { KeyId: keyId, PlainText: b64('x'), InitializationVector: b64(randomBytes(15)) }, 'InvalidParameterValue');
    await refused(gz, 'EncryptByWhiteBox', { KeyId: keyId, PlainText: 'not base64!' }, 'InvalidParameterValue');
  });

  it('OverwriteWhiteBoxDeviceFingerprints: at most 200 (FingerprintsLimitExceeded), each of the collector’s shape', async () => {
    const many = Array.from({ length: 201 }, () => ({ Identity: identity() }));
    await refused(gz, 'OverwriteWhiteBoxDeviceFingerprints', { KeyId: keyId, DeviceFingerprints: many }, 'LimitExceeded.FingerprintsLimitExceeded');
    await refused(gz, 'OverwriteWhiteBoxDeviceFingerprints', { KeyId: keyId, DeviceFingerprints: [{ Identity: 'abc' }] }, 'InvalidParameterValue');
    expect((await gz('DescribeWhiteBoxDeviceFingerprints', { KeyId: keyId })).DeviceFingerprints).toEqual([]);
    // 200 is the limit, not beyond it; the DecryptKey then carries 200 slots.
    const full = many.slice(0, 200);
    await gz('OverwriteWhiteBoxDeviceFingerprints', { KeyId: keyId, DeviceFingerprints: full });
    expect((await gz('DescribeWhiteBoxDeviceFingerprints', { KeyId: keyId })).DeviceFingerprints).toHaveLength(200);
    expect(describeTableSet((await gz('DescribeWhiteBoxDecryptKey', { KeyId: keyId })).DecryptKey as string)).toMatchObject({ bound: true, slotCount: 200 });
  });

  it('outside the white-box regions every action is UnsupportedRegion (docs/contract/protocol.md#common-error-codes)', async () => {
    const params: Partial<Record<KmsAction, Record<string, unknown>>> = {
      CreateWhiteBoxKey: { Alias: 'wb-sg', Algorithm: 'AES_256' },
      DescribeWhiteBoxKeyDetails: {},
      DescribeWhiteBoxServiceStatus: {},
      EnableWhiteBoxKeys: { KeyIds: [MISSING] },
      DisableWhiteBoxKeys: { KeyIds: [MISSING] },
      EncryptByWhiteBox: { KeyId: MISSING, PlainText: b64('x') },
    };
    const whiteboxActions = KMS_ACTIONS.filter((a) => a.includes('WhiteBox'));
    expect(whiteboxActions).toHaveLength(13);
    for (const action of whiteboxActions) {
      const e = await sdkError(sg(action, params[action] ?? { KeyId: MISSING }));
      expect(e.code, action).toBe('UnsupportedRegion');
    }
  });
});

describe('quota: at most 50 white-box keys per account, across regions', () => {
  it('the 51st is LimitExceeded.KeyLimitExceeded; deleting one makes room', async () => {
    const account = await server.services.identities.createAccount();
    const creds = { endpoint: server.endpoint, secretId: account.secretId, secretKey: account.secretKey };
    const sm = cnKmsClient({ ...creds, region: 'ap-shanghai' });
    const fips = intlKmsClient({ ...creds, region: 'ap-hongkong' });
    const first = (await fips('CreateWhiteBoxKey', { Alias: 'q-fips', Algorithm: 'AES_256' })).KeyId as string;
    for (let i = 1; i < 50; i++) await sm('CreateWhiteBoxKey', { Alias: `q-${i}`, Algorithm: 'SM4' });
    expect((await sm('DescribeWhiteBoxKeyDetails', { Limit: 10, Offset: 40 })).TotalCount).toBe(49);
    expect((await sm('DescribeWhiteBoxKeyDetails', { Limit: 10, Offset: 40 })).KeyInfos).toHaveLength(9);
    await refused(sm, 'CreateWhiteBoxKey', { Alias: 'q-over', Algorithm: 'SM4' }, 'LimitExceeded.KeyLimitExceeded');
    await refused(fips, 'CreateWhiteBoxKey', { Alias: 'q-over', Algorithm: 'AES_256' }, 'LimitExceeded.KeyLimitExceeded');
    await fips('DisableWhiteBoxKey', { KeyId: first });
    await fips('DeleteWhiteBoxKey', { KeyId: first });
    expect((await sm('CreateWhiteBoxKey', { Alias: 'q-over', Algorithm: 'SM4' })).KeyId).toBeTruthy();
  }, 180_000);
});

describe('CAM: white-box keys are resource-level on `qcs::kms:$region:uin/$uin:key/creatorUin/$creatorUin/$keyId` (seed 004)', () => {
  const resourceOf = (keyId: string) => `qcs::kms:ap-guangzhou:uin/${ROOT.uin}:key/creatorUin/${ROOT.uin}/${keyId}`;
  let a: string;
  let b: string;

  async function subAccount(name: string, statement?: object[], presets: string[] = []): Promise<KmsCaller> {
    const s = server.services;
    await s.identities.createUser(ROOT.uin, name);
    if (statement) {
      await s.access.createPolicy(ROOT.uin, `${name}-p`, JSON.stringify({ version: '2.0', statement }));
      await s.access.attach(ROOT.uin, `${name}-p`, name);
    }
    for (const p of presets) await s.access.attach(ROOT.uin, p, name);
    const cred = await s.identities.createCredential(ROOT.uin, name);
    return cnKmsClient({ endpoint: server.endpoint, secretId: cred.secretId, secretKey: cred.secretKey, region: 'ap-guangzhou' });
  }

  beforeAll(async () => {
    a = (await gz('CreateWhiteBoxKey', { Alias: 'wb-cam-a', Algorithm: 'SM4' })).KeyId as string;
    b = (await gz('CreateWhiteBoxKey', { Alias: 'wb-cam-b', Algorithm: 'SM4' })).KeyId as string;
  });

  it('a user without policies is refused every one of the 13, each refusal audited with the key it named', async () => {
    const NAMES_NO_KEY = new Set(['CreateWhiteBoxKey', 'DescribeWhiteBoxKeyDetails', 'DescribeWhiteBoxServiceStatus']);
    const nobody = await subAccount('wb-nobody');
    const params: Record<string, Record<string, unknown>> = {
      CreateWhiteBoxKey: { Alias: 'wb-denied', Algorithm: 'SM4' },
      DescribeWhiteBoxKeyDetails: {},
      DescribeWhiteBoxServiceStatus: {},
      EnableWhiteBoxKeys: { KeyIds: [a] },
      DisableWhiteBoxKeys: { KeyIds: [a] },
      EncryptByWhiteBox: { KeyId: a, PlainText: b64('x') },
      OverwriteWhiteBoxDeviceFingerprints: { KeyId: a, DeviceFingerprints: [] },
    };
    for (const action of KMS_ACTIONS.filter((x) => x.includes('WhiteBox'))) {
      const e = await sdkError(nobody(action, params[action] ?? { KeyId: a }));
      expect(e.code, action).toBe('AuthFailure.UnauthorizedOperation');
      const [ev] = await server.services.auditRepo.query({ limit: 1, requestId: e.requestId });
      expect(ev, action).toMatchObject({ eventName: action, result: 'Fail', errorCode: 'AuthFailure.UnauthorizedOperation', resourceName: NAMES_NO_KEY.has(action) ? '*' : a });
    }
    expect(((await gz('DescribeWhiteBoxKey', { KeyId: a })).KeyInfo as Record<string, unknown>).Status).toBe('Enabled');
  });

  it('a grant on one key allows it and refuses the other, naming the resource; a batch needs every key', async () => {
    const alice = await subAccount('wb-alice', [
      {
        effect: 'allow',
        action: ['name/kms:EncryptByWhiteBox', 'name/kms:DescribeWhiteBoxDecryptKey', 'name/kms:DisableWhiteBoxKeys', 'name/kms:EnableWhiteBoxKeys'],
        resource: [resourceOf(a)],
      },
    ]);
    expect((await alice('EncryptByWhiteBox', { KeyId: a, PlainText: b64('x') })).CipherText).toBeTruthy();
    expect((await alice('DescribeWhiteBoxDecryptKey', { KeyId: a })).DecryptKey).toBeTruthy();
    const e = await sdkError(alice('DescribeWhiteBoxDecryptKey', { KeyId: b }));
    expect(e.code).toBe('AuthFailure.UnauthorizedOperation');
    expect(e.message).toContain(resourceOf(b));
    expect((await sdkError(alice('DisableWhiteBoxKeys', { KeyIds: [a, b] }))).code).toBe('AuthFailure.UnauthorizedOperation');
    expect(((await gz('DescribeWhiteBoxKey', { KeyId: a })).KeyInfo as Record<string, unknown>).Status).toBe('Enabled');
    // The creator wildcard matches white-box keys as it matches CMKs: the creator is read from the white-box key's own record.
    const carol = await subAccount('wb-carol', [
      { effect: 'allow', action: ['name/kms:DescribeWhiteBoxKey'], resource: [`qcs::kms:ap-guangzhou:uin/${ROOT.uin}:key/creatorUin/${ROOT.uin}/*`] },
    ]);
    expect(((await carol('DescribeWhiteBoxKey', { KeyId: b })).KeyInfo as Record<string, unknown>).KeyId).toBe(b);
  });

  it('CreateWhiteBoxKey is operation-level: a grant naming a resource does not allow it, `*` does', async () => {
    const scoped = await subAccount('wb-scoped', [{ effect: 'allow', action: ['name/kms:CreateWhiteBoxKey'], resource: [resourceOf(a)] }]);
    expect((await sdkError(scoped('CreateWhiteBoxKey', { Alias: 'wb-scoped', Algorithm: 'SM4' }))).code).toBe('AuthFailure.UnauthorizedOperation');
    const creator = await subAccount('wb-creator', [{ effect: 'allow', action: ['name/kms:CreateWhiteBoxKey', 'name/kms:DescribeWhiteBoxKey'], resource: ['*'] }]);
    const made = await creator('CreateWhiteBoxKey', { Alias: 'wb-by-sub', Algorithm: 'SM4' });
    const info = (await creator('DescribeWhiteBoxKey', { KeyId: made.KeyId })).KeyInfo as Record<string, unknown>;
    expect(info.CreatorUin).not.toBe(Number(ROOT.uin));
    expect(info.OwnerUin).toBe(Number(ROOT.uin));
  });

  it('the read-only preset reads metadata, never tables: DescribeWhiteBoxDecryptKey and EncryptByWhiteBox are refused', async () => {
    const reader = await subAccount('wb-reader', undefined, ['QcloudKMSReadOnlyAccess']);
    expect((await reader('DescribeWhiteBoxServiceStatus', {})).ServiceEnabled).toBe(true);
    expect(((await reader('DescribeWhiteBoxKey', { KeyId: a })).KeyInfo as Record<string, unknown>).DecryptKey ?? null).toBeNull();
    expect((await reader('DescribeWhiteBoxKeyDetails', {})).TotalCount).toBeGreaterThan(0);
    expect((await reader('DescribeWhiteBoxDeviceFingerprints', { KeyId: a })).DeviceFingerprints).toEqual([]);
    for (const [action, params] of [
      ['DescribeWhiteBoxDecryptKey', { KeyId: a }],
      ['EncryptByWhiteBox', { KeyId: a, PlainText: b64('x') }],
      ['DisableWhiteBoxKey', { KeyId: a }],
      ['CreateWhiteBoxKey', { Alias: 'wb-ro', Algorithm: 'SM4' }],
    ] as const) {
      expect((await sdkError(reader(action, params))).code, action).toBe('AuthFailure.UnauthorizedOperation');
    }
  });
});

describe('custody and secrecy', () => {
  it('the row holds the key and seeds only sealed under the KEK; the tables never hold the key; nothing secret in the trail or the logs', async () => {
    const iv = randomBytes(16);
    const made = await hk('CreateWhiteBoxKey', { Alias: 'wb-custody', Algorithm: 'AES_256' });
    const keyId = made.KeyId as string;
    const plaintext = randomBytes(40);
    const ct = unb64((await hk('EncryptByWhiteBox', { KeyId: keyId, PlainText: b64(plaintext), InitializationVector: b64(iv) })).CipherText);
    const row = await server.services.db('whitebox_keys').where({ key_id: keyId }).first();
    for (const column of ['sealed_key', 'sealed_seed', 'sealed_binding_seed']) expect(Buffer.from(row[column] as Buffer)[0], column).toBe(0x4b); // 'K': a KEK blob
    const key = await server.services.kek.open(Buffer.from(row.sealed_key as Buffer), `whitebox:${keyId}:AES_256:key`);
    try {
      expect(key).toHaveLength(32);
      // It is the key: the reference cipher under it gives EncryptByWhiteBox's bytes.
      expect(referenceEncryptCbc(WhiteboxAlgorithm.AES_256, key, iv, plaintext)).toEqual(ct);
      // Neither the key nor its halves, nor byte-swapped words, sit in the tables or the row.
      const swapped = Buffer.from(key);
      swapped.swap32();
      for (const blob of [unb64(made.EncryptKey), unb64(made.DecryptKey), Buffer.from(JSON.stringify(row))]) {
        for (const needle of [key, key.subarray(0, 16), key.subarray(16), swapped]) expect(blob.includes(needle)).toBe(false);
      }
      // On SQLite, not in any page of the database file either.
      if (!server.config.databaseUrl) expect(readFileSync(server.config.sqliteFile).includes(key.subarray(0, 16))).toBe(false);
    } finally {
      key.fill(0);
    }
    const table = (made.DecryptKey as string).slice(5000, 5100);
    const audit = JSON.stringify(await server.services.auditRepo.query({ limit: 10_000 }));
    for (const secret of [table, (made.EncryptKey as string).slice(5000, 5100), b64(plaintext)]) {
      expect(audit).not.toContain(secret);
      expect(server.logText()).not.toContain(secret);
    }
  });
});

describe('the audit trail through CloudAudit’s LookUpEvents', () => {
  it('finds a white-box key’s events by its id, newest first, its creation included; they carry no table or plaintext', async () => {
    const made = await gz('CreateWhiteBoxKey', { Alias: 'wb-audited', Algorithm: 'SM4' });
    const keyId = made.KeyId as string;
    const secret = b64('audited plaintext');
    const ids = [
      (await gz('EncryptByWhiteBox', { KeyId: keyId, PlainText: secret })).RequestId,
      (await gz('DescribeWhiteBoxDecryptKey', { KeyId: keyId })).RequestId,
      (await gz('DisableWhiteBoxKey', { KeyId: keyId })).RequestId,
    ];
    const client = new cloudaudit.v20190319.Client({
      credential: { secretId: ROOT.secretId, secretKey: ROOT.secretKey },
      region: 'ap-guangzhou',
      profile: { httpProfile: { endpoint: server.endpoint, protocol: 'http://' } },
    });
    const now = Math.floor(Date.now() / 1000);
    const r = await client.LookUpEvents({ StartTime: now - 600, EndTime: now + 5, LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: keyId }] });
    expect(r.Events?.map((e) => [e.EventName, e.RequestID])).toEqual([
      ['DisableWhiteBoxKey', ids[2]],
      ['DescribeWhiteBoxDecryptKey', ids[1]],
      ['EncryptByWhiteBox', ids[0]],
      ['CreateWhiteBoxKey', made.RequestId],
    ]);
    expect(r.Events?.map((e) => e.Resources)).toEqual(Array(4).fill({ ResourceType: 'kms', ResourceName: keyId }));
    const text = JSON.stringify(r);
    expect(text).not.toContain(secret);
    expect(text).not.toContain((made.DecryptKey as string).slice(3000, 3060));
  });
});

describe('the client runtime on the command line: the key file alone (empty data dir, no token)', () => {
  let dir: string;
  const env = () => ({ PATH: process.env.PATH, KMS_DATA_DIR: path.join(dir, 'empty-data-dir') });
  const run = (args: string[], input: string) => {
    const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'hsmkms.js'), 'whitebox', ...args], { env: env(), input, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-wb-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['AES_256', () => hk],
    ['SM4', () => gz],
  ] as const)(
    '%s: decrypts EncryptByWhiteBox output; what it encrypts with the EncryptKey, it decrypts with the DecryptKey; bound tables need a listed --fingerprint',
    async (algorithm, caller) => {
      const call = caller();
      const made = await call('CreateWhiteBoxKey', { Alias: `wb-cli-${algorithm}`, Algorithm: algorithm });
      const enc = path.join(dir, `${algorithm}-encrypt.key`);
      const dec = path.join(dir, `${algorithm}-decrypt.key`);
      writeFileSync(enc, `${made.EncryptKey as string}\n`);
      writeFileSync(dec, made.DecryptKey as string);
      const plaintext = randomBytes(100);
      const r = await call('EncryptByWhiteBox', { KeyId: made.KeyId, PlainText: b64(plaintext) });
      const iv = r.InitializationVector as string;

      const d = run(['decrypt', '--key-file', dec, '--iv', iv], `${r.CipherText as string}\n`);
      expect(d.stderr).toBe('');
      expect(d.status).toBe(0);
      expect(d.stdout).toBe(`${b64(plaintext)}\n`);

      const e = run(['encrypt', '--key-file', enc, '--iv', iv], b64(plaintext));
      expect(e.status).toBe(0);
      expect(e.stdout.trim()).toBe(r.CipherText);
      expect(run(['decrypt', '--key-file', dec, '--iv', iv], e.stdout).stdout.trim()).toBe(b64(plaintext));

      const listed = identity();
      await call('OverwriteWhiteBoxDeviceFingerprints', { KeyId: made.KeyId, DeviceFingerprints: [{ Identity: listed }] });
      const bound = path.join(dir, `${algorithm}-bound.key`);
      writeFileSync(bound, (await call('DescribeWhiteBoxDecryptKey', { KeyId: made.KeyId })).DecryptKey as string);
      expect(run(['decrypt', '--key-file', bound, '--iv', iv, '--fingerprint', listed], r.CipherText as string).stdout.trim()).toBe(b64(plaintext));
      for (const args of [['--fingerprint', identity()], []]) {
        const f = run(['decrypt', '--key-file', bound, '--iv', iv, ...args], r.CipherText as string);
        expect(f.status).toBe(1);
        expect(f.stdout).toBe('');
        expect(f.stderr).toMatch(/^hsmkms: fingerprint not bound to this key[^\n]*\n$/);
      }
    },
  );

  it('fails with one line and a non-zero status: wrong table direction, bad IV, damaged ciphertext, missing file', () => {
    const [dec] = ['AES_256-decrypt.key'].map((f) => path.join(dir, f));
    const iv = b64(randomBytes(16));
    const cases: Array<[string[], string, RegExp]> = [
      [['encrypt', '--key-file', dec!, '--iv', iv], b64('x'), /DecryptKey/],
      [['decrypt', '--key-file', dec!, '--iv', b64('short')], b64(randomBytes(16)), /--iv/],
      [['decrypt', '--key-file', dec!, '--iv', iv], b64(randomBytes(32)), /padding/],
      [['decrypt', '--key-file', dec!, '--iv', iv], 'not base64!', /base64/],
      [['decrypt', '--key-file', dec!, '--iv', iv], '', /empty/],
      [['decrypt', '--key-file', path.join(dir, 'absent.key'), '--iv', iv], b64(randomBytes(16)), /ENOENT/],
      [['decrypt', '--key-file', dec!], b64(randomBytes(16)), /--iv/],
    ];
    for (const [args, input, message] of cases) {
      const r = run(args, input);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^hsmkms: [^\n]+\n$/);
      expect(r.stderr).toMatch(message);
    }
  });

  it('is importable from code as `hsmkms/whitebox` (package.json "exports")', () => {
    const probe = `const m = await import('hsmkms/whitebox'); process.stdout.write(Object.keys(m).filter((k) => /Cbc$|^loadTables$|^describeTableSet$/.test(k)).sort().join(','));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: REPO, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('describeTableSet,loadTables,whiteboxDecryptCbc,whiteboxEncryptCbc');
  });
});

describe('after a restart (same token and database)', () => {
  it('DescribeWhiteBoxDecryptKey regenerates the identical DecryptKey from the sealed key and seeds, and EncryptByWhiteBox still matches it', async () => {
    const made = await gz('CreateWhiteBoxKey', { Alias: 'wb-restart', Algorithm: 'SM4' });
    const listed = identity();
    await gz('OverwriteWhiteBoxDeviceFingerprints', { KeyId: made.KeyId, DeviceFingerprints: [{ Identity: listed }] });
    const before = (await gz('DescribeWhiteBoxDecryptKey', { KeyId: made.KeyId })).DecryptKey as string;
    server = await server.restart();
    const again = cnKmsClient({ endpoint: server.endpoint, secretId: ROOT.secretId, secretKey: ROOT.secretKey, region: 'ap-guangzhou' });
    expect((await again('DescribeWhiteBoxDecryptKey', { KeyId: made.KeyId })).DecryptKey).toBe(before);
    const iv = randomBytes(16);
    const ct = unb64((await again('EncryptByWhiteBox', { KeyId: made.KeyId, PlainText: b64('after restart'), InitializationVector: b64(iv) })).CipherText);
    expect(whiteboxDecryptCbc(before, iv, ct, listed).toString()).toBe('after restart');
    expect(whiteboxDecryptCbc(made.DecryptKey as string, iv, ct).toString()).toBe('after restart');
  });
});
