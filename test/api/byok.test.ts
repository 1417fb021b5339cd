import crypto from 'node:crypto';
import { sm4 } from 'sm-crypto-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAgainstSdkResponse } from '../../src/api/actions/response-check.js';
import { rootCallers, ROOT, startTestServer, type TestServer } from '../helpers/api-server.js';
import pkcs11js from 'pkcs11js';
import { cli } from '../helpers/cli.js';
import { rawSession } from '../helpers/raw-pkcs11.js';
import { describeWhere, MODULE_OFFERS, MODULE_UNDER_TEST } from '../helpers/modules.js';
import { b64, clearProxy, cnKmsClient, errorCode, sdkError, unb64, type KmsCaller } from '../helpers/sdk-clients.js';

// Bring your own key through the official SDK: client-side wrapping by Node's crypto for each
// WrappingAlgorithm, the imported key proven to be the one in use by decrypting hsmkms'
// ciphertext outside the service (docs/ciphertext.md), every refusal leaving the key as it was,
// and an ImportToken good for one attempt at the material (docs/byok.md#one-attempt).

let server: TestServer;
let hk: KmsCaller;
let gz: KmsCaller;

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  ({ hk, gz } = rootCallers(server));
});

afterAll(async () => {
  if (process.env.BYOK_DEBUG) for (const l of server.logLines()) if ((l.level as number) >= 50) console.log(JSON.stringify(l).slice(0, 600));
  await server?.stop();
});

type Algorithm = 'RSAES_PKCS1_V1_5' | 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256';
const ALGORITHMS: Algorithm[] = ['RSAES_PKCS1_V1_5', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'];

/** What a customer does with the parameters: wrap the material under the public key (Node's crypto). */
function wrapMaterial(publicKeyB64: string, algorithm: Algorithm, material: Buffer): string {
  const key = crypto.createPublicKey({ key: unb64(publicKeyB64), format: 'der', type: 'spki' });
  const padding =
    algorithm === 'RSAES_PKCS1_V1_5'
      ? { padding: crypto.constants.RSA_PKCS1_PADDING }
      : { padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256' };
  // Node 20 refuses PKCS#1 v1.5 private decryption, not public encryption.
  return crypto.publicEncrypt({ key, ...padding }, material).toString('base64');
}

const external = async (call: KmsCaller, alias: string) => (await call('CreateKey', { Alias: alias, Type: 2 })).KeyId as string;
const state = async (call: KmsCaller, keyId: string) => ((await call('DescribeKey', { KeyId: keyId })).KeyMetadata as Record<string, unknown>).KeyState;
const metadata = async (call: KmsCaller, keyId: string) => (await call('DescribeKey', { KeyId: keyId })).KeyMetadata as Record<string, unknown>;

async function importKey(call: KmsCaller, keyId: string, material: Buffer, algorithm: Algorithm = 'RSAES_OAEP_SHA_256', validTo?: number): Promise<void> {
  const p = await call('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: algorithm, WrappingKeySpec: 'RSA_2048' });
  await call('ImportKeyMaterial', {
    KeyId: keyId,
    ImportToken: p.ImportToken,
    EncryptedKeyMaterial: wrapMaterial(p.PublicKey as string, algorithm, material),
    ...(validTo ? { ValidTo: validTo } : {}),
  });
}

/** docs/ciphertext.md v1, AES-256-GCM: AAD = bytes 0–23 ‖ canonical context. Outside the service. */
function decryptBlobAes(blobB64: string, material: Buffer): Buffer {
  const blob = unb64(blobB64);
  expect(blob.subarray(0, 4)).toEqual(Buffer.from([0x48, 0x4b, 1, 1]));
  const d = crypto.createDecipheriv('aes-256-gcm', material, blob.subarray(24, 36));
  d.setAAD(blob.subarray(0, 24));
  d.setAuthTag(blob.subarray(blob.length - 16));
  return Buffer.concat([d.update(blob.subarray(36, blob.length - 16)), d.final()]);
}

/** The same for SM4-GCM (algorithm 2), with sm-crypto-v2's RFC 8998 implementation. */
function decryptBlobSm4(blobB64: string, material: Buffer): Buffer {
  const blob = unb64(blobB64);
  expect(blob.subarray(0, 4)).toEqual(Buffer.from([0x48, 0x4b, 1, 2]));
  const out = sm4.decrypt(blob.subarray(36, blob.length - 16), material, {
    mode: 'gcm',
    iv: blob.subarray(24, 36),
    associatedData: blob.subarray(0, 24),
    tag: blob.subarray(blob.length - 16),
    output: 'array',
  } as never) as unknown as Uint8Array;
  return Buffer.from(out);
}

if (!MODULE_OFFERS.aesGcm) {
  describe(`FIPS region on ${MODULE_UNDER_TEST} (no AES-GCM in the token)`, () => {
    it('an EXTERNAL symmetric key is refused like any AES key there, naming the mechanism', async () => {
      const e = await sdkError(hk('CreateKey', { Alias: 'byok-no-aes', Type: 2 }));
      expect(e.code).toBe('UnsupportedOperation.UnsupportedKeyUsageInCurrentRegion');
      expect(e.message).toContain('CKM_AES_GCM');
    });
  });
}

describeWhere(MODULE_OFFERS.aesGcm)('FIPS region: material unwrapped into the token', () => {
  it.each(ALGORITHMS)('%s: PendingImport → Enabled, and the key in use is exactly the imported material', async (algorithm) => {
    const keyId = await external(hk, `byok-${algorithm}`);
    expect(await state(hk, keyId)).toBe('PendingImport');
    expect(await errorCode(hk('Encrypt', { KeyId: keyId, Plaintext: b64('x') }))).toBe('ResourceUnavailable.CmkDisabled');
    const p = await hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: algorithm, WrappingKeySpec: 'RSA_2048' });
    expect(checkAgainstSdkResponse('GetParametersForImport', p)).toEqual([]);
    const pub = crypto.createPublicKey({ key: unb64(p.PublicKey), format: 'der', type: 'spki' });
    expect(pub.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const now = Math.floor(Date.now() / 1000);
    expect(p.ParametersValidTo).toBeGreaterThanOrEqual(now + 86_400 - 5);
    expect(p.ParametersValidTo).toBeLessThanOrEqual(now + 86_400 + 5);
    const material = crypto.randomBytes(32);
    const r = await hk('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapMaterial(p.PublicKey as string, algorithm, material) });
    expect(checkAgainstSdkResponse('ImportKeyMaterial', r)).toEqual([]);
    const m = await metadata(hk, keyId);
    expect(m).toMatchObject({ KeyState: 'Enabled', Origin: 'EXTERNAL', ValidTo: 0 });
    const e = await hk('Encrypt', { KeyId: keyId, Plaintext: b64('made by hsmkms') });
    expect(decryptBlobAes(e.CiphertextBlob as string, material).toString()).toBe('made by hsmkms');
  });

  it('the same ImportToken cannot be used twice; a new one is needed', async () => {
    const keyId = await external(hk, 'byok-reuse');
    const material = crypto.randomBytes(32);
    const p = await hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' });
    const wrapped = wrapMaterial(p.PublicKey as string, 'RSAES_OAEP_SHA_1', material);
    await hk('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped });
    expect(await errorCode(hk('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped }))).toBe('ResourceUnavailable.TokenExpired');
  });

  it('refusals before the material is read change nothing and leave the ImportToken usable: wrong/foreign/garbage token, Type 1 key, bad state, past ValidTo', async () => {
    const keyId = await external(hk, 'byok-refusals');
    const other = await external(hk, 'byok-refusals-other');
    const p = await hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
    const q = await hk('GetParametersForImport', { KeyId: other, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
    const good = wrapMaterial(p.PublicKey as string, 'RSAES_OAEP_SHA_256', crypto.randomBytes(32));
    const call = (params: Record<string, unknown>) => errorCode(hk('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: good, ...params }));
    expect(await call({ ImportToken: b64(crypto.randomBytes(32)) })).toBe('InvalidParameter');
    expect(await call({ ImportToken: q.ImportToken })).toBe('InvalidParameter'); // another key's token
    expect(await call({ ValidTo: Math.floor(Date.now() / 1000) - 10 })).toBe('InvalidParameter');
    expect(await call({ ValidTo: 2147443201 })).toMatch(/^InvalidParameter/);
    expect(await state(hk, keyId)).toBe('PendingImport');
    // Parameters for a Type 1 key, or other wrapping choices
    const generated = (await hk('CreateKey', { Alias: 'byok-type1' })).KeyId as string;
    expect(await errorCode(hk('GetParametersForImport', { KeyId: generated, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' }))).toBe(
      'UnsupportedOperation.NotExternalCmk',
    );
    expect(await errorCode(hk('ImportKeyMaterial', { KeyId: generated, ImportToken: p.ImportToken, EncryptedKeyMaterial: good }))).toBe('UnsupportedOperation.NotExternalCmk');
    expect(await errorCode(hk('DeleteImportedKeyMaterial', { KeyId: generated }))).toBe('UnsupportedOperation.NotExternalCmk');
    expect(await errorCode(hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_4096' }))).toMatch(/^InvalidParameter/);
    expect(await errorCode(hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSA_OAEP', WrappingKeySpec: 'RSA_2048' }))).toMatch(/^InvalidParameter/);
    expect(await errorCode(hk('GetParametersForImport', { KeyId: crypto.randomUUID(), WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' }))).toBe(
      'ResourceUnavailable.CmkNotFound',
    );
    // the good one still works after all that (none of them reached the material)
    await hk('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: good });
    expect(await state(hk, keyId)).toBe('Enabled');
    // PendingDelete refuses import
    await hk('ScheduleKeyDeletion', { KeyId: other, PendingWindowInDays: 7 });
    expect(
      await errorCode(
        hk('ImportKeyMaterial', {
          KeyId: other,
          ImportToken: q.ImportToken,
          EncryptedKeyMaterial: wrapMaterial(q.PublicKey as string, 'RSAES_OAEP_SHA_256', crypto.randomBytes(32)),
        }),
      ),
    ).toBe('ResourceUnavailable.CmkStateNotSupport');
  });

  it('material that does not unwrap into a key: one answer whatever failed, and the attempt spends the ImportToken and its wrapping pair', async () => {
    const keyId = await external(hk, 'byok-one-attempt');
    const wrapPairs = async () => (await server.services.token.listObjects()).filter((o) => o.name.keyId.startsWith('wrap-')).length;
    const before = await wrapPairs();
    const answers = new Set<string>();
    const attempt = async (algorithm: Algorithm, encrypted: (publicKey: string) => string, what: string) => {
      const p = await hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: algorithm, WrappingKeySpec: 'RSA_2048' });
      const e = await sdkError(hk('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: encrypted(p.PublicKey as string) }));
      expect(e.code, what).toBe('InvalidParameter.DecryptMaterialError');
      answers.add(`${e.code} ${e.message}`);
      // Spent: even good material is refused with this token now.
      const good = wrapMaterial(p.PublicKey as string, algorithm, crypto.randomBytes(32));
      expect(await errorCode(hk('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: good })), what).toBe('ResourceUnavailable.TokenExpired');
      expect(await wrapPairs(), what).toBe(before);
    };
    for (const algorithm of ALGORITHMS) {
      await attempt(algorithm, () => b64(crypto.randomBytes(256)), `${algorithm} garbage`);
      await attempt(algorithm, () => b64(crypto.randomBytes(10)), `${algorithm} short`);
      await attempt(
        algorithm,
        (pub) => {
          const t = unb64(wrapMaterial(pub, algorithm, crypto.randomBytes(32)));
          t[100]! ^= 1;
          return t.toString('base64');
        },
        `${algorithm} tampered`,
      );
      // Good padding around material of the wrong size.
      for (const n of [16, 24, 31, 33, 64]) await attempt(algorithm, (pub) => wrapMaterial(pub, algorithm, crypto.randomBytes(n)), `${algorithm} ${n} bytes`);
    }
    // wrapped under the right key with another algorithm
    await attempt('RSAES_OAEP_SHA_256', (pub) => wrapMaterial(pub, 'RSAES_OAEP_SHA_1', crypto.randomBytes(32)), 'other algorithm');
    expect([...answers]).toHaveLength(1);
    expect(await state(hk, keyId)).toBe('PendingImport');
  });

  it('another account cannot use or see the key through BYOK', async () => {
    const keyId = await external(hk, 'byok-isolation');
    const p = await hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' });
    const acct = cli(['account', 'create', '--json'], { ...process.env, ...server.cliEnv });
    expect(acct.status).toBe(0);
    const other = JSON.parse(acct.stdout) as { secretId: string; secretKey: string };
    const stranger = cnKmsClient({ endpoint: server.endpoint, secretId: other.secretId, secretKey: other.secretKey, region: 'ap-hongkong' });
    const wrapped = wrapMaterial(p.PublicKey as string, 'RSAES_OAEP_SHA_1', crypto.randomBytes(32));
    expect(await errorCode(stranger('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped }))).toBe('ResourceUnavailable.CmkNotFound');
    expect(await errorCode(stranger('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' }))).toBe(
      'ResourceUnavailable.CmkNotFound',
    );
    expect(await state(hk, keyId)).toBe('PendingImport');
  });

  it('DeleteImportedKeyMaterial → PendingImport; old ciphertexts fail until the same material returns; other material is refused', async () => {
    const keyId = await external(hk, 'byok-delete');
    const material = crypto.randomBytes(32);
    await importKey(hk, keyId, material, 'RSAES_PKCS1_V1_5');
    const e = await hk('Encrypt', { KeyId: keyId, Plaintext: b64('survives'), EncryptionContext: '{"a":"b"}' });
    const r = await hk('DeleteImportedKeyMaterial', { KeyId: keyId });
    expect(checkAgainstSdkResponse('DeleteImportedKeyMaterial', r)).toEqual([]);
    expect(await state(hk, keyId)).toBe('PendingImport');
    expect(await server.services.token.exists({ keyId, version: 1 })).toBe(false);
    expect(await errorCode(hk('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: '{"a":"b"}' }))).toBe('ResourceUnavailable.CmkDisabled');
    await hk('DeleteImportedKeyMaterial', { KeyId: keyId }); // PendingImport: no-op
    // other material: MaterialNotMatch, still PendingImport
    const p = await hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' });
    expect(
      await errorCode(
        hk('ImportKeyMaterial', {
          KeyId: keyId,
          ImportToken: p.ImportToken,
          EncryptedKeyMaterial: wrapMaterial(p.PublicKey as string, 'RSAES_OAEP_SHA_1', crypto.randomBytes(32)),
        }),
      ),
    ).toBe('InvalidParameterValue.MaterialNotMatch');
    expect(await state(hk, keyId)).toBe('PendingImport');
    // the same material, another algorithm (and new parameters: the refused attempt spent those): back, and the old ciphertext decrypts again
    await importKey(hk, keyId, material, 'RSAES_OAEP_SHA_1');
    expect(await state(hk, keyId)).toBe('Enabled');
    expect(unb64((await hk('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: '{"a":"b"}' })).Plaintext).toString()).toBe('survives');
    // re-import into an Enabled key: same material sets a new ValidTo; other material refused
    const validTo = Math.floor(Date.now() / 1000) + 3600;
    await importKey(hk, keyId, material, 'RSAES_OAEP_SHA_256', validTo);
    expect(await metadata(hk, keyId)).toMatchObject({ KeyState: 'Enabled', ValidTo: validTo });
    const p2 = await hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
    expect(
      await errorCode(
        hk('ImportKeyMaterial', {
          KeyId: keyId,
          ImportToken: p2.ImportToken,
          EncryptedKeyMaterial: wrapMaterial(p2.PublicKey as string, 'RSAES_OAEP_SHA_256', crypto.randomBytes(32)),
        }),
      ),
    ).toBe('InvalidParameterValue.MaterialNotMatch');
    expect(unb64((await hk('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: '{"a":"b"}' })).Plaintext).toString()).toBe('survives');
    // a bound key refuses material deletion
    await hk('BindCloudResource', { KeyId: keyId, ProductId: 'cos', ResourceId: 'bucket-1' });
    expect(await errorCode(hk('DeleteImportedKeyMaterial', { KeyId: keyId }))).toBe('FailedOperation.CmkUsedByCloudProduct');
    expect(await state(hk, keyId)).toBe('Enabled');
  });

  it('ValidTo: unusable at once when it passes; the job destroys the material (PendingImport); the same material revives it', async () => {
    const keyId = await external(hk, 'byok-expiry');
    const material = crypto.randomBytes(32);
    const validTo = Math.floor(Date.now() / 1000) + 2;
    await importKey(hk, keyId, material, 'RSAES_OAEP_SHA_1', validTo);
    const e = await hk('Encrypt', { KeyId: keyId, Plaintext: b64('before expiry') });
    await new Promise((r) => setTimeout(r, (validTo + 1) * 1000 - Date.now()));
    expect(await errorCode(hk('Encrypt', { KeyId: keyId, Plaintext: b64('x') }))).toBe('ResourceUnavailable.CmkDisabled');
    expect(await errorCode(hk('Decrypt', { CiphertextBlob: e.CiphertextBlob }))).toBe('ResourceUnavailable.CmkDisabled');
    const report = await server.services.jobs.run();
    expect(report.expired).toContain(keyId);
    expect(await state(hk, keyId)).toBe('PendingImport');
    expect(await server.services.token.exists({ keyId, version: 1 })).toBe(false);
    await importKey(hk, keyId, material);
    expect(unb64((await hk('Decrypt', { CiphertextBlob: e.CiphertextBlob })).Plaintext).toString()).toBe('before expiry');
  });

  it('wrapping pairs: generated in the token (private half non-extractable, unwrap only), destroyed once used, superseded or expired', async () => {
    const token = server.services.token;
    const wrapPairs = async () => (await token.listObjects()).filter((o) => o.name.keyId.startsWith('wrap-'));
    const before = new Set((await wrapPairs()).map((o) => o.name.keyId));
    const keyId = await external(hk, 'byok-pairs');
    await hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' });
    const first = (await wrapPairs()).filter((o) => !before.has(o.name.keyId));
    expect(new Set(first.map((o) => o.name.keyId)).size).toBe(1);
    // Read independently of the token layer: the private half is sensitive, non-extractable,
    // and may unwrap but not decrypt (FIPS region, OAEP-SHA1: the in-token path).
    const raw = rawSession(server.config.tokenLabel, server.tokenEnv);
    try {
      const [priv] = raw.find(`hsmkms/${first[0]!.name.keyId}/v0`, pkcs11js.CKO_PRIVATE_KEY);
      expect(priv).toBeDefined();
      const attrs = raw.p11.C_GetAttributeValue(raw.session, priv!, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_UNWRAP },
        { type: pkcs11js.CKA_DECRYPT },
        { type: pkcs11js.CKA_SIGN },
        { type: pkcs11js.CKA_TOKEN },
      ]);
      expect(attrs.map((a) => (a.value as Buffer)[0])).toEqual([1, 0, 1, 0, 0, 1]);
    } finally {
      raw.close();
    }
    // a new set supersedes the first (its pair is gone at once)
    const p = await hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' });
    const second = (await wrapPairs()).filter((o) => !before.has(o.name.keyId));
    expect(new Set(second.map((o) => o.name.keyId)).size).toBe(1);
    expect(second[0]!.name.keyId).not.toBe(first[0]!.name.keyId);
    // used → destroyed
    await hk('ImportKeyMaterial', {
      KeyId: keyId,
      ImportToken: p.ImportToken,
      EncryptedKeyMaterial: wrapMaterial(p.PublicKey as string, 'RSAES_OAEP_SHA_1', crypto.randomBytes(32)),
    });
    expect((await wrapPairs()).filter((o) => !before.has(o.name.keyId))).toHaveLength(0);
    // expired (a drill 25 h ahead) → destroyed by the job; the token is then refused as expired
    const k2 = await external(hk, 'byok-pairs-2');
    const p2 = await hk('GetParametersForImport', { KeyId: k2, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' });
    expect((await wrapPairs()).filter((o) => !before.has(o.name.keyId))).toHaveLength(2); // public + private
    const report = await server.services.jobs.run(Date.now() + 25 * 3600_000);
    expect(report.importsCleaned.length).toBeGreaterThanOrEqual(1);
    expect((await wrapPairs()).filter((o) => !before.has(o.name.keyId))).toHaveLength(0);
    expect(
      await errorCode(
        hk('ImportKeyMaterial', { KeyId: k2, ImportToken: p2.ImportToken, EncryptedKeyMaterial: wrapMaterial(p2.PublicKey as string, 'RSAES_OAEP_SHA_1', crypto.randomBytes(32)) }),
      ),
    ).toBe('InvalidParameter');
  });
});

describe('SM region: 128-bit SM4 material re-wrapped under the KEK for the software module', () => {
  it.each(ALGORITHMS)('%s: imported SM4 key is the one in use (SM4-GCM blob decrypted outside with sm-crypto-v2)', async (algorithm) => {
    const keyId = await external(gz, `byok-sm-${algorithm}`);
    const material = crypto.randomBytes(16);
    await importKey(gz, keyId, material, algorithm);
    const e = await gz('Encrypt', { KeyId: keyId, Plaintext: b64('国密 byok') });
    expect(decryptBlobSm4(e.CiphertextBlob as string, material).toString()).toBe('国密 byok');
    // the software-module key is not in the token, and sealed (not plain) in the database
    expect(await server.services.token.exists({ keyId, version: 1 })).toBe(false);
    const row = await server.services.db('key_versions').where({ key_id: keyId, version: 1 }).first('sealed_material');
    expect(Buffer.from(row.sealed_material as Buffer).includes(material)).toBe(false);
  });

  it('refuses 32-byte material as it refuses garbage (each attempt spending its token), and re-import must be the same 16 bytes', async () => {
    const keyId = await external(gz, 'byok-sm-size');
    const refused = async (encrypted: (publicKey: string) => string) => {
      const p = await gz('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' });
      return sdkError(gz('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: encrypted(p.PublicKey as string) }));
    };
    const wrongSize = await refused((pub) => wrapMaterial(pub, 'RSAES_OAEP_SHA_1', crypto.randomBytes(32)));
    const garbage = await refused(() => b64(crypto.randomBytes(256)));
    expect(wrongSize.code).toBe('InvalidParameter.DecryptMaterialError');
    expect([wrongSize.code, wrongSize.message]).toEqual([garbage.code, garbage.message]);
    const material = crypto.randomBytes(16);
    await importKey(gz, keyId, material, 'RSAES_OAEP_SHA_1');
    const e = await gz('Encrypt', { KeyId: keyId, Plaintext: b64('sm') });
    await gz('DeleteImportedKeyMaterial', { KeyId: keyId });
    expect(await errorCode(gz('Decrypt', { CiphertextBlob: e.CiphertextBlob }))).toBe('ResourceUnavailable.CmkDisabled');
    const p2 = await gz('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_PKCS1_V1_5', WrappingKeySpec: 'RSA_2048' });
    expect(
      await errorCode(
        gz('ImportKeyMaterial', {
          KeyId: keyId,
          ImportToken: p2.ImportToken,
          EncryptedKeyMaterial: wrapMaterial(p2.PublicKey as string, 'RSAES_PKCS1_V1_5', crypto.randomBytes(16)),
        }),
      ),
    ).toBe('InvalidParameterValue.MaterialNotMatch');
    await importKey(gz, keyId, material, 'RSAES_PKCS1_V1_5');
    expect(unb64((await gz('Decrypt', { CiphertextBlob: e.CiphertextBlob })).Plaintext).toString()).toBe('sm');
  });
});

describe('secrets stay out of the logs and the audit trail', () => {
  it('no ImportToken or wrapped material in the server log', async () => {
    // FIPS (AES material into the token) where the module serves AES keys, else SM.
    const [call, bytes] = MODULE_OFFERS.aesGcm ? [hk, 32] : [gz, 16];
    const keyId = await external(call, 'byok-secrets');
    const p = await call('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' });
    const material = crypto.randomBytes(bytes);
    const wrapped = wrapMaterial(p.PublicKey as string, 'RSAES_OAEP_SHA_1', material);
    await call('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped });
    const log = server.logText();
    expect(log).not.toContain(p.ImportToken as string);
    expect(log).not.toContain(wrapped.slice(0, 40));
    expect(log).not.toContain(material.toString('base64'));
    expect(log).not.toContain(material.toString('hex'));
    const events = await server.services.auditRepo.all();
    expect(JSON.stringify(events)).not.toContain(p.ImportToken as string);
    expect(events.filter((e) => e.eventName === 'ImportKeyMaterial' && e.resourceName === keyId && e.result === 'Success')).toHaveLength(1);
    expect(ROOT.uin).toBeTruthy();
  });
});
