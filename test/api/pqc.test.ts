import crypto from 'node:crypto';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAgainstSdkResponse } from '../../src/api/actions/response-check.js';
import { ROOT, rootCallers, startTestServer, type TestServer } from '../helpers/api-server.js';
import { b64, clearProxy, cnKmsClient, errorCode, unb64, type KmsCaller } from '../helpers/sdk-clients.js';

// Post-quantum operations (docs/contract/actions.md#group-pqc) through the official CN SDK: ML-KEM-768 hybrid
// encryption (AES-256-GCM in FIPS regions, SM4-GCM in SM regions) and ML-DSA-65 signatures,
// whose signatures are verified outside the service with @noble/post-quantum and the public key
// from GetPublicKey. SoftHSM2 has no PQC mechanisms: this is the software-module path.

let server: TestServer;
let hk: KmsCaller;
let gz: KmsCaller;
const code = errorCode;
const ENC = 'PQC_ENCRYPT_DECRYPT_ML_KEM_768';
const SIGN = 'PQC_SIGN_VERIFY_ML_DSA_65';

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  ({ hk, gz } = rootCallers(server));
});

afterAll(async () => {
  await server?.stop();
});

const create = async (call: KmsCaller, alias: string, usage: string) => (await call('CreateKey', { Alias: alias, KeyUsage: usage })).KeyId as string;
const events = async (requestId: unknown) => server.services.auditRepo.query({ limit: 10, requestId: requestId as string });

describe('key usages', () => {
  it('ListAlgorithms lists both PQC usages in FIPS and SM regions, with the region’s AEAD', async () => {
    const fips = await hk('ListAlgorithms');
    expect(fips.AsymmetricAlgorithms).toContainEqual({ KeyUsage: ENC, Algorithm: 'ML_KEM_768_AES_256_GCM' });
    expect(fips.AsymmetricSignVerifyAlgorithms).toContainEqual({ KeyUsage: SIGN, Algorithm: 'ML_DSA_65' });
    const sm = await gz('ListAlgorithms');
    expect(sm.AsymmetricAlgorithms).toContainEqual({ KeyUsage: ENC, Algorithm: 'ML_KEM_768_SM4_GCM' });
    expect(sm.AsymmetricSignVerifyAlgorithms).toContainEqual({ KeyUsage: SIGN, Algorithm: 'ML_DSA_65' });
  });

  it('CreateKey makes them; the private key is stored only sealed under the KEK, nothing in the token', async () => {
    const r = await hk('CreateKey', { Alias: 'pq-created', KeyUsage: SIGN });
    expect(checkAgainstSdkResponse('CreateKey', r)).toEqual([]);
    expect(r).toMatchObject({ KeyUsage: SIGN, KeyState: 'Enabled' });
    const [v] = await server.services.keyRepo.versions(r.KeyId as string);
    // KEK seal format: 'K', 1, KEK version, IV (12), the 32-byte ML-DSA seed, tag (16).
    expect(v!.sealedMaterial!.subarray(0, 2)).toEqual(Buffer.from([0x4b, 1]));
    expect(v!.sealedMaterial!.length).toBe(6 + 12 + 32 + 16);
    expect((await server.services.token.listObjects()).filter((o) => o.name.keyId === r.KeyId)).toEqual([]);
    // Not importable (docs/contract/keys.md#key-usage: asymmetric and PQC keys cannot be EXTERNAL).
    expect(await code(hk('CreateKey', { Alias: 'pq-external', KeyUsage: ENC, Type: 2 }))).toBe('InvalidParameterValue.InvalidType');
  });
});

describe('PostQuantumCryptoEncrypt / Decrypt', () => {
  it.each([
    ['FIPS (AES-256-GCM)', 'hk', 1],
    ['SM (SM4-GCM)', 'gz', 2],
  ])('%s: round trip with PlainText (capital T), blob naming key and algorithm, audited', async (_name, region, algorithm) => {
    const call = region === 'hk' ? hk : gz;
    const keyId = await create(call, `pq-enc-${region}`, ENC);
    const secret = crypto.randomBytes(100);
    const e = await call('PostQuantumCryptoEncrypt', { KeyId: keyId, PlainText: b64(secret) });
    expect(checkAgainstSdkResponse('PostQuantumCryptoEncrypt', e)).toEqual([]);
    expect(e.KeyId).toBe(keyId);
    const blob = unb64(e.CiphertextBlob);
    expect(blob.subarray(0, 4)).toEqual(Buffer.from([0x48, 0x51, 1, algorithm as number]));
    expect(blob.subarray(4, 20).toString('hex')).toBe(keyId.replace(/-/g, ''));
    const d = await call('PostQuantumCryptoDecrypt', { CiphertextBlob: e.CiphertextBlob });
    expect(checkAgainstSdkResponse('PostQuantumCryptoDecrypt', d)).toEqual([]);
    expect(d.KeyId).toBe(keyId);
    expect(unb64(d.PlainText)).toEqual(secret);
    // Each call is one audit event naming the key (Decrypt: the key inside the blob).
    for (const [r, action] of [
      [e, 'PostQuantumCryptoEncrypt'],
      [d, 'PostQuantumCryptoDecrypt'],
    ] as const) {
      expect(await events(r.RequestId)).toMatchObject([{ eventName: action, result: 'Success', resourceName: keyId }]);
    }
    expect(server.logText()).not.toContain(b64(secret));
  });

  it('Decrypt wraps the plaintext to an EncryptionPublicKey (RSA-OAEP-SHA256), opened by Node', async () => {
    const keyId = await create(hk, 'pq-wrap', ENC);
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const e = await hk('PostQuantumCryptoEncrypt', { KeyId: keyId, PlainText: b64('wrapped') });
    const d = await hk('PostQuantumCryptoDecrypt', {
      CiphertextBlob: e.CiphertextBlob,
      EncryptionPublicKey: publicKey.export({ type: 'spki', format: 'pem' }),
      EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
    });
    expect(crypto.privateDecrypt({ key: privateKey, oaepHash: 'sha256', padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }, unb64(d.PlainText)).toString()).toBe('wrapped');
  });

  it('refuses any altered byte (header, KEM ciphertext, IV, body, tag) with InvalidCiphertext', async () => {
    const keyId = await create(hk, 'pq-tamper', ENC);
    const blob = unb64((await hk('PostQuantumCryptoEncrypt', { KeyId: keyId, PlainText: b64('do not alter') })).CiphertextBlob);
    for (const offset of [3, 21, 24, 600, 1111, 1112, 1124, blob.length - 1]) {
      const bad = Buffer.from(blob);
      bad[offset] ^= offset === 3 ? 0x03 : 0x01;
      expect(await code(hk('PostQuantumCryptoDecrypt', { CiphertextBlob: bad.toString('base64') })), `offset ${offset}`).toBe('InvalidParameterValue.InvalidCiphertext');
    }
    expect(await code(hk('PostQuantumCryptoDecrypt', { CiphertextBlob: blob.subarray(0, 100).toString('base64') }))).toBe('InvalidParameterValue.InvalidCiphertext');
    // A symmetric blob is not a PQC blob.
    const sym = await create(hk, 'pq-sym', 'ENCRYPT_DECRYPT');
    const symBlob = (await hk('Encrypt', { KeyId: sym, Plaintext: b64('x') })).CiphertextBlob;
    expect(await code(hk('PostQuantumCryptoDecrypt', { CiphertextBlob: symBlob }))).toBe('InvalidParameterValue.InvalidCiphertext');
  });

  it('enforces the 4 KiB limit and the key usage', async () => {
    const keyId = await create(hk, 'pq-limit', ENC);
    const max = (await hk('PostQuantumCryptoEncrypt', { KeyId: keyId, PlainText: b64(Buffer.alloc(4096, 7)) })).CiphertextBlob;
    expect(unb64((await hk('PostQuantumCryptoDecrypt', { CiphertextBlob: max })).PlainText)).toEqual(Buffer.alloc(4096, 7));
    expect(await code(hk('PostQuantumCryptoEncrypt', { KeyId: keyId, PlainText: b64(Buffer.alloc(4097)) }))).toBe('InvalidParameterValue.InvalidPlaintext');
    const signer = await create(hk, 'pq-not-enc', SIGN);
    expect(await code(hk('PostQuantumCryptoEncrypt', { KeyId: signer, PlainText: b64('x') }))).toBe('InvalidParameter');
    const sym = await create(hk, 'pq-sym-2', 'ENCRYPT_DECRYPT');
    expect(await code(hk('PostQuantumCryptoEncrypt', { KeyId: sym, PlainText: b64('x') }))).toBe('InvalidParameter');
  });

  it('follows Encrypt/Decrypt state rules: Disabled refuses both, Archived only decrypts', async () => {
    const keyId = await create(hk, 'pq-states', ENC);
    const blob = (await hk('PostQuantumCryptoEncrypt', { KeyId: keyId, PlainText: b64('s') })).CiphertextBlob;
    await hk('DisableKey', { KeyId: keyId });
    expect(await code(hk('PostQuantumCryptoEncrypt', { KeyId: keyId, PlainText: b64('s') }))).toBe('ResourceUnavailable.CmkDisabled');
    expect(await code(hk('PostQuantumCryptoDecrypt', { CiphertextBlob: blob }))).toBe('ResourceUnavailable.CmkDisabled');
    await hk('EnableKey', { KeyId: keyId });
    await hk('ArchiveKey', { KeyId: keyId });
    expect(await code(hk('PostQuantumCryptoEncrypt', { KeyId: keyId, PlainText: b64('s') }))).toBe('ResourceUnavailable.CmkArchived');
    expect(unb64((await hk('PostQuantumCryptoDecrypt', { CiphertextBlob: blob })).PlainText).toString()).toBe('s');
  });
});

describe('PostQuantumCryptoSign / Verify (ML-DSA-65)', () => {
  it.each(['hk', 'gz'])('%s: signatures verify outside the service with @noble/post-quantum and the GetPublicKey key', async (region) => {
    const call = region === 'hk' ? hk : gz;
    const keyId = await create(call, `pq-sign-${region}`, SIGN);
    const message = Buffer.from('a message for the post-quantum era');
    const s = await call('PostQuantumCryptoSign', { KeyId: keyId, Message: b64(message) });
    expect(checkAgainstSdkResponse('PostQuantumCryptoSign', s)).toEqual([]);
    const sig = unb64(s.Signature);
    expect(sig.length).toBe(3309);

    const pk = await call('GetPublicKey', { KeyId: keyId });
    expect(checkAgainstSdkResponse('GetPublicKey', pk)).toEqual([]);
    const der = unb64(pk.PublicKey);
    expect(der.toString('base64')).toBe((pk.PublicKeyPem as string).replace(/-----[^-]+-----|\s/g, ''));
    // SubjectPublicKeyInfo: id-ml-dsa-65 (2.16.840.1.101.3.4.3.18), BIT STRING of the 1952-byte key.
    expect(der.includes(Buffer.from('0609608648016503040312', 'hex'))).toBe(true);
    const raw = der.subarray(der.length - 1952);
    expect(ml_dsa65.verify(sig, message, raw)).toBe(true);
    expect(ml_dsa65.verify(sig, Buffer.from('another message'), raw)).toBe(false);

    const v = await call('PostQuantumCryptoVerify', { KeyId: keyId, Message: b64(message), SignatureValue: s.Signature });
    expect(checkAgainstSdkResponse('PostQuantumCryptoVerify', v)).toEqual([]);
    expect(v.SignatureValid).toBe(true);
    // A signature made outside (noble, with a different key) does not verify.
    const other = ml_dsa65.keygen(crypto.randomBytes(32));
    const foreign = Buffer.from(ml_dsa65.sign(message, other.secretKey)).toString('base64');
    expect((await call('PostQuantumCryptoVerify', { KeyId: keyId, Message: b64(message), SignatureValue: foreign })).SignatureValid).toBe(false);
    const tampered = Buffer.from(sig);
    tampered[10] ^= 1;
    expect((await call('PostQuantumCryptoVerify', { KeyId: keyId, Message: b64(message), SignatureValue: tampered.toString('base64') })).SignatureValid).toBe(false);
    for (const [r, action] of [
      [s, 'PostQuantumCryptoSign'],
      [v, 'PostQuantumCryptoVerify'],
      [pk, 'GetPublicKey'],
    ] as const) {
      expect(await events(r.RequestId)).toMatchObject([{ eventName: action, result: 'Success', resourceName: keyId }]);
    }
  });

  it('enforces 4 KiB messages, the key usage and the asymmetric state rule', async () => {
    const keyId = await create(hk, 'pq-sign-rules', SIGN);
    expect((await hk('PostQuantumCryptoSign', { KeyId: keyId, Message: b64(Buffer.alloc(4096, 1)) })).Signature).toBeTruthy();
    expect(await code(hk('PostQuantumCryptoSign', { KeyId: keyId, Message: b64(Buffer.alloc(4097, 1)) }))).toMatch(/^InvalidParameter/);
    expect(await code(hk('PostQuantumCryptoVerify', { KeyId: keyId, Message: b64(Buffer.alloc(4097, 1)), SignatureValue: b64('x') }))).toMatch(/^InvalidParameter/);
    const enc = await create(hk, 'pq-sign-wrong', ENC);
    expect(await code(hk('PostQuantumCryptoSign', { KeyId: enc, Message: b64('m') }))).toBe('InvalidParameter');
    const ecc = await create(hk, 'pq-sign-ecc', 'ASYMMETRIC_SIGN_VERIFY_ECC');
    expect(await code(hk('PostQuantumCryptoSign', { KeyId: ecc, Message: b64('m') }))).toBe('InvalidParameter');
    await hk('DisableKey', { KeyId: keyId });
    expect(await code(hk('PostQuantumCryptoSign', { KeyId: keyId, Message: b64('m') }))).toBe('ResourceUnavailable.CmkStateNotSupport');
    expect(await code(hk('PostQuantumCryptoSign', { KeyId: '00000000-0000-4000-8000-000000000000', Message: b64('m') }))).toBe('ResourceUnavailable.CmkNotFound');
  });
});

describe('CAM: resource-level on the key (seed 004), Decrypt on the key inside the blob', () => {
  it('a sub-account allowed on one PQC key is refused on another', async () => {
    const a = await create(hk, 'pq-cam-a', ENC);
    const b = await create(hk, 'pq-cam-b', ENC);
    const resource = (k: string) => `qcs::kms:ap-hongkong:uin/${ROOT.uin}:key/creatorUin/${ROOT.uin}/${k}`;
    const s = server.services;
    await s.identities.createUser(ROOT.uin, 'pq-user');
    await s.access.createPolicy(
      ROOT.uin,
      'pq-policy',
      JSON.stringify({ version: '2.0', statement: [{ effect: 'allow', action: ['name/kms:PostQuantumCrypto*'], resource: [resource(a)] }] }),
    );
    await s.access.attach(ROOT.uin, 'pq-policy', 'pq-user');
    const cred = await s.identities.createCredential(ROOT.uin, 'pq-user');
    const sub = cnKmsClient({ endpoint: server.endpoint, secretId: cred.secretId, secretKey: cred.secretKey, region: 'ap-hongkong' });
    const blobA = (await sub('PostQuantumCryptoEncrypt', { KeyId: a, PlainText: b64('a') })).CiphertextBlob;
    expect(unb64((await sub('PostQuantumCryptoDecrypt', { CiphertextBlob: blobA })).PlainText).toString()).toBe('a');
    expect(await code(sub('PostQuantumCryptoEncrypt', { KeyId: b, PlainText: b64('b') }))).toBe('AuthFailure.UnauthorizedOperation');
    const blobB = (await hk('PostQuantumCryptoEncrypt', { KeyId: b, PlainText: b64('b') })).CiphertextBlob;
    expect(await code(sub('PostQuantumCryptoDecrypt', { CiphertextBlob: blobB }))).toBe('AuthFailure.UnauthorizedOperation');
  });
});
