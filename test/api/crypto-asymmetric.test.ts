import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { p256, p384 } from '@noble/curves/nist.js';
import { sm2 as sm2v2 } from 'sm-crypto-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAgainstSdkResponse } from '../../src/api/actions/response-check.js';
import { rootCallers, startTestServer, type TestServer } from '../helpers/api-server.js';
import { describeWhere, MODULE_OFFERS, MODULE_UNDER_TEST } from '../helpers/modules.js';
import { b64, clearProxy, errorCode, sdkError, unb64, type KmsCaller } from '../helpers/sdk-clients.js';

// Asymmetric keys through the official SDK, checked against independent implementations:
// Node's crypto and @noble/curves for RSA and ECDSA (token keys), sm-crypto (the original
// library, not the sm-crypto-v2 the server uses) for SM2 signatures (software module).

// sm-crypto ships no typings.
const smCrypto = createRequire(import.meta.url)('sm-crypto') as {
  sm2: { doVerifySignature(msg: string, sigHex: string, publicKey: string, opts: { hash: boolean; der: boolean }): boolean };
};

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

const code = errorCode;

const create = async (call: KmsCaller, alias: string, usage: string) => (await call('CreateKey', { Alias: alias, KeyUsage: usage })).KeyId as string;

async function publicKey(call: KmsCaller, keyId: string): Promise<crypto.KeyObject> {
  const r = await call('GetPublicKey', { KeyId: keyId });
  expect(checkAgainstSdkResponse('GetPublicKey', r)).toEqual([]);
  const fromDer = crypto.createPublicKey({ key: unb64(r.PublicKey), format: 'der', type: 'spki' });
  const fromPem = crypto.createPublicKey(r.PublicKeyPem as string);
  expect(fromDer.export({ type: 'spki', format: 'der' })).toEqual(fromPem.export({ type: 'spki', format: 'der' }));
  return fromPem;
}

describe('RSA-2048 decryption (token)', () => {
  let keyId: string;
  let pub: crypto.KeyObject;
  beforeAll(async () => {
    keyId = await create(hk, 'rsa-decrypt', 'ASYMMETRIC_DECRYPT_RSA_2048');
    pub = await publicKey(hk, keyId);
  });

  it.each([
    ['RSAES_OAEP_SHA_256', { padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }],
    ['RSAES_OAEP_SHA_1', { padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }],
    ['RSAES_PKCS1_V1_5', { padding: crypto.constants.RSA_PKCS1_PADDING }],
  ] as const)('decrypts %s ciphertext made by Node with GetPublicKey’s key', async (alg, opts) => {
    const msg = crypto.randomBytes(48);
    const ct = crypto.publicEncrypt({ key: pub, ...opts }, msg);
    const r = await hk('AsymmetricRsaDecrypt', { KeyId: keyId, Ciphertext: b64(ct), Algorithm: alg });
    expect(checkAgainstSdkResponse('AsymmetricRsaDecrypt', r)).toEqual([]);
    expect(unb64(r.Plaintext)).toEqual(msg);
  });

  it('a corrupted or mismatched ciphertext is FailedOperation.DecryptError', async () => {
    const ct = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('m'));
    expect(await code(hk('AsymmetricRsaDecrypt', { KeyId: keyId, Ciphertext: b64(ct), Algorithm: 'RSAES_OAEP_SHA_1' }))).toBe('FailedOperation.DecryptError');
    ct[3]! ^= 1;
    expect(await code(hk('AsymmetricRsaDecrypt', { KeyId: keyId, Ciphertext: b64(ct), Algorithm: 'RSAES_OAEP_SHA_256' }))).toBe('FailedOperation.DecryptError');
  });

  it('a decryption key cannot sign, and a disabled key refuses', async () => {
    // SignByAsymmetricKey's list has no InvalidKeyUsage nor InvalidParameterValue (docs/contract/actions.md#common-answers).
    expect(await code(hk('SignByAsymmetricKey', { KeyId: keyId, Algorithm: 'RSA_PSS_SHA_256', Message: b64('m') }))).toBe('InvalidParameter');
    await hk('DisableKey', { KeyId: keyId });
    expect(await code(hk('GetPublicKey', { KeyId: keyId }))).toBe('ResourceUnavailable.CmkStateNotSupport');
    await hk('EnableKey', { KeyId: keyId });
  });
});

describe('RSA-2048 signatures (token)', () => {
  let keyId: string;
  let pub: crypto.KeyObject;
  beforeAll(async () => {
    keyId = await create(hk, 'rsa-sign', 'ASYMMETRIC_SIGN_VERIFY_RSA_2048');
    pub = await publicKey(hk, keyId);
  });

  it.each([
    ['RSA_PSS_SHA_256', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }],
    ['RSA_PKCS1_SHA_256', { padding: crypto.constants.RSA_PKCS1_PADDING }],
  ] as const)('%s over RAW and DIGEST messages verifies with Node, and through VerifyByAsymmetricKey', async (alg, opts) => {
    const msg = Buffer.from('pay 100 to alice');
    const raw = unb64((await hk('SignByAsymmetricKey', { KeyId: keyId, Algorithm: alg, Message: b64(msg) })).Signature);
    expect(crypto.verify('sha256', msg, { key: pub, ...opts }, raw)).toBe(true);
    const digest = crypto.createHash('sha256').update(msg).digest();
    const viaDigest = unb64((await hk('SignByAsymmetricKey', { KeyId: keyId, Algorithm: alg, Message: b64(digest), MessageType: 'DIGEST' })).Signature);
    expect(crypto.verify('sha256', msg, { key: pub, ...opts }, viaDigest)).toBe(true);
    const ok = await hk('VerifyByAsymmetricKey', { KeyId: keyId, Algorithm: alg, Message: b64(msg), SignatureValue: b64(raw) });
    expect(checkAgainstSdkResponse('VerifyByAsymmetricKey', ok)).toEqual([]);
    expect(ok.SignatureValid).toBe(true);
    expect((await hk('VerifyByAsymmetricKey', { KeyId: keyId, Algorithm: alg, Message: b64('pay 900 to alice'), SignatureValue: b64(raw) })).SignatureValid).toBe(false);
  });

  it('a DIGEST of the wrong length, or an algorithm of another key type, is refused', async () => {
    expect(await code(hk('SignByAsymmetricKey', { KeyId: keyId, Algorithm: 'RSA_PSS_SHA_256', Message: b64(Buffer.alloc(20)), MessageType: 'DIGEST' }))).toBe('InvalidParameter');
    expect(await code(hk('SignByAsymmetricKey', { KeyId: keyId, Algorithm: 'ECC_P256_R1', Message: b64('m') }))).toBe('InvalidParameter');
    // VerifyByAsymmetricKey lists InvalidParameterValue.
    expect(await code(hk('VerifyByAsymmetricKey', { KeyId: keyId, Algorithm: 'ECC_P256_R1', Message: b64('m'), SignatureValue: b64('s') }))).toBe('InvalidParameterValue');
  });
});

const curves = [
  ['ECC P-256', 'ASYMMETRIC_SIGN_VERIFY_ECC', 'ECC_P256_R1', 'sha256', p256],
  ['ECDSA P-384', 'ASYMMETRIC_SIGN_VERIFY_ECDSA384', 'ECC_P384_R1', 'sha384', p384],
] as const;

describeWhere(MODULE_OFFERS.ec)('ECDSA P-384 names (docs/contract/ambiguities.md#list-algorithms-names)', () => {
  it('ListAlgorithms names it ECDSA384_SHA384, as Tencent’s example; SignByAsymmetricKey takes that, ECC_P384_R1 and ECDSA384', async () => {
    const listed = (await hk('ListAlgorithms', {})).AsymmetricSignVerifyAlgorithms as Array<{ KeyUsage: string; Algorithm: string }>;
    expect(listed).toContainEqual({ KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_ECDSA384', Algorithm: 'ECDSA384_SHA384' });
    const keyId = await create(hk, 'ec-p384-names', 'ASYMMETRIC_SIGN_VERIFY_ECDSA384');
    const pub = await publicKey(hk, keyId);
    for (const Algorithm of ['ECDSA384_SHA384', 'ECC_P384_R1', 'ECDSA384']) {
      const sig = unb64((await hk('SignByAsymmetricKey', { KeyId: keyId, Algorithm, Message: b64('m') })).Signature);
      expect(crypto.verify('sha384', Buffer.from('m'), pub, sig), Algorithm).toBe(true);
    }
    // A P-256 name does not fit a P-384 key.
    expect(await code(hk('SignByAsymmetricKey', { KeyId: keyId, Algorithm: 'ECC_P256_R1', Message: b64('m') }))).toBe('InvalidParameter');
  });
});

if (!MODULE_OFFERS.ec) {
  describe(`EC keys on ${MODULE_UNDER_TEST} (no EC in the token)`, () => {
    it.each(curves)('%s: CreateKey is refused naming the mechanisms; ListAlgorithms leaves it out', async (_n, usage) => {
      const e = await sdkError(hk('CreateKey', { Alias: `no-ec-${usage.length}`, KeyUsage: usage }));
      expect(e.code).toBe('UnsupportedOperation.UnsupportedKeyUsageInCurrentRegion');
      expect(e.message).toContain('CKM_EC_KEY_PAIR_GEN');
      expect(((await hk('ListAlgorithms', {})).AsymmetricSignVerifyAlgorithms as Array<{ KeyUsage: string }>).map((a) => a.KeyUsage)).not.toContain(usage);
    });
  });
}

describe.each(MODULE_OFFERS.ec ? curves : [])('%s signatures (token)', (_n, usage, alg, hash, noble) => {
  it('DER signatures verify with Node and @noble/curves, and through VerifyByAsymmetricKey', async () => {
    const keyId = await create(hk, `ec-${alg}`, usage);
    const pub = await publicKey(hk, keyId);
    const msg = Buffer.from('ecdsa message');
    const der = unb64((await hk('SignByAsymmetricKey', { KeyId: keyId, Algorithm: alg, Message: b64(msg) })).Signature);
    expect(crypto.verify(hash, msg, pub, der)).toBe(true);
    const jwk = pub.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    const digest = crypto.createHash(hash).update(msg).digest();
    expect(noble.verify(noble.Signature.fromBytes(der, 'der').toBytes('compact'), digest, point, { prehash: false, lowS: false })).toBe(true);
    const viaDigest = unb64((await hk('SignByAsymmetricKey', { KeyId: keyId, Algorithm: alg, Message: b64(digest), MessageType: 'DIGEST' })).Signature);
    expect(crypto.verify(hash, msg, pub, viaDigest)).toBe(true);
    expect((await hk('VerifyByAsymmetricKey', { KeyId: keyId, Algorithm: alg, Message: b64(msg), SignatureValue: b64(der) })).SignatureValid).toBe(true);
    const bad = Buffer.from(der);
    bad[bad.length - 1]! ^= 1;
    expect((await hk('VerifyByAsymmetricKey', { KeyId: keyId, Algorithm: alg, Message: b64(msg), SignatureValue: b64(bad) })).SignatureValid).toBe(false);
    expect((await hk('VerifyByAsymmetricKey', { KeyId: keyId, Algorithm: alg, Message: b64(msg), SignatureValue: b64('junk') })).SignatureValid).toBe(false);
  });
});

describe('SM2 (software module, SM region)', () => {
  it('SM2DSA signatures (SM3, default user id) verify with sm-crypto, and through VerifyByAsymmetricKey', async () => {
    const keyId = await create(gz, 'sm2-sign', 'ASYMMETRIC_SIGN_VERIFY_SM2');
    const r = await gz('GetPublicKey', { KeyId: keyId });
    const point = unb64(r.PublicKey).subarray(-65).toString('hex');
    const msg = 'SM2 message 中文';
    const sig = unb64((await gz('SignByAsymmetricKey', { KeyId: keyId, Algorithm: 'SM2DSA', Message: b64(msg) })).Signature);
    expect(smCrypto.sm2.doVerifySignature(msg, sig.toString('hex'), point, { hash: true, der: true })).toBe(true);
    expect((await gz('VerifyByAsymmetricKey', { KeyId: keyId, Algorithm: 'SM2DSA', Message: b64(msg), SignatureValue: b64(sig) })).SignatureValid).toBe(true);
    expect((await gz('VerifyByAsymmetricKey', { KeyId: keyId, Algorithm: 'SM2DSA', Message: b64('other'), SignatureValue: b64(sig) })).SignatureValid).toBe(false);
    // DIGEST: e = SM3(Z ‖ M) computed by the client
    const e = Buffer.from(sm2v2.getHash(Buffer.from(msg, 'utf8'), point), 'hex');
    const sigD = unb64((await gz('SignByAsymmetricKey', { KeyId: keyId, Algorithm: 'SM2DSA', Message: b64(e), MessageType: 'DIGEST' })).Signature);
    expect(smCrypto.sm2.doVerifySignature(msg, sigD.toString('hex'), point, { hash: true, der: true })).toBe(true);
  });

  it('SM2 decryption of C1C3C2 (ASN.1) ciphertext made with GetPublicKey’s key; failures are errors, not empty plaintext', async () => {
    const keyId = await create(gz, 'sm2-decrypt', 'ASYMMETRIC_DECRYPT_SM2');
    const point = unb64((await gz('GetPublicKey', { KeyId: keyId })).PublicKey)
      .subarray(-65)
      .toString('hex');
    const msg = crypto.randomBytes(100);
    const ct = Buffer.from(sm2v2.doEncrypt(msg, point, 1, { asn1: true }), 'hex');
    const r = await gz('AsymmetricSm2Decrypt', { KeyId: keyId, Ciphertext: b64(ct) });
    expect(unb64(r.Plaintext)).toEqual(msg);
    ct[ct.length - 1]! ^= 1;
    expect(await code(gz('AsymmetricSm2Decrypt', { KeyId: keyId, Ciphertext: b64(ct) }))).toBe('FailedOperation.DecryptError');
    expect(await code(gz('AsymmetricSm2Decrypt', { KeyId: keyId, Ciphertext: b64('not sm2') }))).toBe('FailedOperation.DecryptError');
  });
});

describe('asymmetric limits, each violated once', () => {
  it('Message over 4096 bytes, SM2 ciphertext over 256 bytes, an unknown RSA algorithm, a symmetric key', async () => {
    const signer = await create(hk, 'limit-sign', 'ASYMMETRIC_SIGN_VERIFY_RSA_2048');
    expect(await code(hk('SignByAsymmetricKey', { KeyId: signer, Algorithm: 'RSA_PSS_SHA_256', Message: b64(Buffer.alloc(4097)) }))).toBe('InvalidParameter');
    const sm2Key = await create(gz, 'limit-sm2', 'ASYMMETRIC_DECRYPT_SM2');
    expect(await code(gz('AsymmetricSm2Decrypt', { KeyId: sm2Key, Ciphertext: b64(Buffer.alloc(257, 1)) }))).toBe('InvalidParameter');
    const rsa = await create(hk, 'limit-rsa', 'ASYMMETRIC_DECRYPT_RSA_2048');
    expect(await code(hk('AsymmetricRsaDecrypt', { KeyId: rsa, Ciphertext: b64('x'), Algorithm: 'RSAES_RAW' }))).toBe('InvalidParameter');
    // A symmetric key (FIPS where the token has AES-GCM, else SM) is no asymmetric key.
    const symCall = MODULE_OFFERS.aesGcm ? hk : gz;
    const sym = (await symCall('CreateKey', { Alias: 'limit-sym' })).KeyId as string;
    // GetPublicKey's list names no InvalidKeyUsage; AsymmetricRsaDecrypt's does.
    expect(await code(symCall('GetPublicKey', { KeyId: sym }))).toBe('InvalidParameter');
    expect(await code(symCall('AsymmetricRsaDecrypt', { KeyId: sym, Ciphertext: b64('x'), Algorithm: 'RSAES_OAEP_SHA_256' }))).toBe('InvalidParameterValue.InvalidKeyUsage');
  });
});
