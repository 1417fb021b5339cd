import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sm2 } from 'sm-crypto-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAgainstSdkResponse } from '../../src/api/actions/response-check.js';
import { rootCallers, startTestServer, type TestServer } from '../helpers/api-server.js';
import { MODULE_OFFERS, MODULE_UNDER_TEST } from '../helpers/modules.js';
import { b64, clearProxy, errorCode, sdkError, unb64, type KmsCaller } from '../helpers/sdk-clients.js';

// Encrypt, Decrypt, ReEncrypt, GenerateDataKey and GenerateRandom through the official SDKs:
// AES-256-GCM in the token (FIPS region), SM4-GCM in the software module (SM region). On a
// module without AES-GCM (openCryptoki) FIPS symmetric keys are refused, and that is asserted;
// what does not depend on the region runs in the SM region there.

let server: TestServer;
let hk: KmsCaller;
let gz: KmsCaller;
let hkIntl: KmsCaller;
let gzIntl: KmsCaller;
/** A region whose symmetric keys this module serves: FIPS where the token has AES-GCM, else SM. */
let sym: KmsCaller;
let symIntl: KmsCaller;

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  ({ hk, hkIntl, gz, gzIntl } = rootCallers(server));
  [sym, symIntl] = MODULE_OFFERS.aesGcm ? [hk, hkIntl] : [gz, gzIntl];
});

afterAll(async () => {
  await server?.stop();
});

const code = errorCode;

const newKey = async (call: KmsCaller, alias: string, extra: Record<string, unknown> = {}) => (await call('CreateKey', { Alias: alias, ...extra })).KeyId as string;

const regions = [
  ['FIPS (AES-256-GCM in the token)', () => hk, 1],
  ['SM (SM4-GCM in the software module)', () => gz, 2],
] as const;

if (!MODULE_OFFERS.aesGcm) {
  describe(`FIPS symmetric keys on ${MODULE_UNDER_TEST} (no AES-GCM in the token)`, () => {
    it('CreateKey is UnsupportedOperation naming the mechanism, ListAlgorithms leaves AES_256 out, and nothing is made', async () => {
      const before = (await hk('ListKeys', {})).TotalCount;
      const e = await sdkError(hk('CreateKey', { Alias: 'no-aes-here' }));
      expect(e.code).toMatch(/^UnsupportedOperation/);
      expect(e.message).toContain('CKM_AES_GCM');
      expect((await hk('ListAlgorithms', {})).SymmetricAlgorithms).toEqual([]);
      expect((await hk('ListKeys', {})).TotalCount).toBe(before);
    });
  });
}

describe.each(MODULE_OFFERS.aesGcm ? regions : regions.slice(1))('%s', (_name, callOf, algorithm) => {
  let keyId: string;
  beforeAll(async () => {
    keyId = await newKey(callOf(), `sym-${algorithm}`);
  });

  it('encrypts and decrypts without naming the key at Decrypt', async () => {
    const call = callOf();
    const pt = crypto.randomBytes(4096);
    const e = await call('Encrypt', { KeyId: keyId, Plaintext: b64(pt) });
    expect(checkAgainstSdkResponse('Encrypt', e)).toEqual([]);
    expect(e.KeyId).toBe(keyId);
    const blob = unb64(e.CiphertextBlob);
    expect(blob.subarray(0, 3)).toEqual(Buffer.from([0x48, 0x4b, 1]));
    expect(blob[3]).toBe(algorithm);
    const d = await call('Decrypt', { CiphertextBlob: e.CiphertextBlob });
    expect(checkAgainstSdkResponse('Decrypt', d)).toEqual([]);
    expect(d.KeyId).toBe(keyId);
    expect(unb64(d.Plaintext)).toEqual(pt);
  });

  it('binds the EncryptionContext in canonical form: key order and whitespace do not matter, content does', async () => {
    const call = callOf();
    const e = await call('Encrypt', { KeyId: keyId, Plaintext: b64('ctx'), EncryptionContext: '{"tenant":"a","purpose":"x"}' });
    expect(unb64((await call('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: '{ "purpose" : "x",\n "tenant":"a" }' })).Plaintext).toString()).toBe('ctx');
    expect(await code(call('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: '{"tenant":"b","purpose":"x"}' }))).toBe('InvalidParameterValue.InvalidCiphertext');
    expect(await code(call('Decrypt', { CiphertextBlob: e.CiphertextBlob }))).toBe('InvalidParameterValue.InvalidCiphertext');
  });

  it('refuses any altered byte with a clean error, never wrong plaintext', async () => {
    const call = callOf();
    const e = await call('Encrypt', { KeyId: keyId, Plaintext: b64('tamper me') });
    const blob = unb64(e.CiphertextBlob);
    const codes = new Set<string>();
    for (let i = 0; i < blob.length; i++) {
      const t = Buffer.from(blob);
      t[i]! ^= 0x01;
      codes.add(await code(call('Decrypt', { CiphertextBlob: t.toString('base64') })));
    }
    // header bytes naming another key id can only be "not found"; everything else is invalid
    expect([...codes].every((c) => c === 'InvalidParameterValue.InvalidCiphertext' || c === 'ResourceUnavailable.CmkNotFound')).toBe(true);
    expect(codes.has('OK')).toBe(false);
    for (const junk of [blob.subarray(0, 20), Buffer.from('not a blob at all, not at all'), Buffer.alloc(0)]) {
      expect(await code(call('Decrypt', { CiphertextBlob: junk.toString('base64') || 'AA==' }))).toMatch(/^InvalidParameterValue\.InvalidCiphertext$|^InvalidParameterValue$/);
    }
  });

  it('decrypts across versions after rotation; ReEncrypt refreshes old blobs only', async () => {
    const call = callOf();
    const id = await newKey(call, `rot-${algorithm}`);
    const v1 = await call('Encrypt', { KeyId: id, Plaintext: b64('one') });
    await call('EnableKeyRotation', { KeyId: id });
    await call('RotateKey', { KeyId: id });
    const v2 = await call('Encrypt', { KeyId: id, Plaintext: b64('two') });
    expect(unb64(v2.CiphertextBlob).readUInt32BE(20)).toBe(2);
    expect(unb64((await call('Decrypt', { CiphertextBlob: v1.CiphertextBlob })).Plaintext).toString()).toBe('one');
    expect(unb64((await call('Decrypt', { CiphertextBlob: v2.CiphertextBlob })).Plaintext).toString()).toBe('two');
    const re = await call('ReEncrypt', { CiphertextBlob: v1.CiphertextBlob });
    expect(checkAgainstSdkResponse('ReEncrypt', re)).toEqual([]);
    expect(re).toMatchObject({ KeyId: id, SourceKeyId: id, ReEncrypted: true });
    expect(unb64(re.CiphertextBlob).readUInt32BE(20)).toBe(2);
    const same = await call('ReEncrypt', { CiphertextBlob: v2.CiphertextBlob });
    expect(same).toMatchObject({ ReEncrypted: false, CiphertextBlob: v2.CiphertextBlob });
    // to another key, with a new context
    const other = await newKey(call, `rot-dest-${algorithm}`);
    const moved = await call('ReEncrypt', { CiphertextBlob: v1.CiphertextBlob, DestinationKeyId: other, DestinationEncryptionContext: '{"k":"v"}' });
    expect(moved).toMatchObject({ KeyId: other, SourceKeyId: id, ReEncrypted: true });
    expect(unb64((await call('Decrypt', { CiphertextBlob: moved.CiphertextBlob, EncryptionContext: '{"k":"v"}' })).Plaintext).toString()).toBe('one');
  });

  it('follows the state table: disabled refuses both ways, archived only decrypts, pending deletion refuses', async () => {
    const call = callOf();
    const id = await newKey(call, `states-${algorithm}`);
    const blob = (await call('Encrypt', { KeyId: id, Plaintext: b64('s') })).CiphertextBlob;
    await call('ArchiveKey', { KeyId: id });
    expect(await code(call('Encrypt', { KeyId: id, Plaintext: b64('s') }))).toBe('ResourceUnavailable.CmkArchived');
    expect(unb64((await call('Decrypt', { CiphertextBlob: blob })).Plaintext).toString()).toBe('s');
    await call('CancelKeyArchive', { KeyId: id });
    await call('DisableKey', { KeyId: id });
    expect(await code(call('Encrypt', { KeyId: id, Plaintext: b64('s') }))).toBe('ResourceUnavailable.CmkDisabled');
    expect(await code(call('Decrypt', { CiphertextBlob: blob }))).toBe('ResourceUnavailable.CmkDisabled');
    expect(await code(call('GenerateDataKey', { KeyId: id, KeySpec: 'AES_256' }))).toBe('ResourceUnavailable.CmkDisabled');
    await call('ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: 7 });
    // Decrypt's list has no code for a key pending deletion: the nearest it has (docs/contract/actions.md#common-answers).
    expect(await code(call('Decrypt', { CiphertextBlob: blob }))).toBe('ResourceUnavailable.CmkDisabled');
    expect(await code(call('GenerateDataKey', { KeyId: id, KeySpec: 'AES_256' }))).toBe('ResourceUnavailable.KeyPendingDelete');
  });

  it('GenerateDataKey: KeySpec, NumberOfBytes (which wins), and a blob Decrypt opens', async () => {
    const call = callOf();
    const a = await call('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_128' });
    expect(checkAgainstSdkResponse('GenerateDataKey', a)).toEqual([]);
    expect(unb64(a.Plaintext)).toHaveLength(16);
    expect(unb64((await call('Decrypt', { CiphertextBlob: a.CiphertextBlob })).Plaintext)).toEqual(unb64(a.Plaintext));
    expect(unb64((await call('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256' })).Plaintext)).toHaveLength(32);
    expect(unb64((await call('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_128', NumberOfBytes: 1024 })).Plaintext)).toHaveLength(1024);
    const ctx = await call('GenerateDataKey', { KeyId: keyId, NumberOfBytes: 7, EncryptionContext: '{"a":"1"}' });
    expect(await code(call('Decrypt', { CiphertextBlob: ctx.CiphertextBlob }))).toBe('InvalidParameterValue.InvalidCiphertext');
  });
});

/**
 * The client's side: Node for OAEP; OpenSSL's CLI for PKCS#1 v1.5, which Node 20 refuses to
 * decrypt (CVE-2023-46809 mitigation).
 */
function clientDecrypt(privateKey: crypto.KeyObject, alg: string, ct: Buffer): Buffer {
  if (alg !== 'RSAES_PKCS1_V1_5')
    return crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256' }, ct);
  const dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-rsa-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    return execFileSync('openssl', ['pkeyutl', '-decrypt', '-inkey', keyFile, '-pkeyopt', 'rsa_padding_mode:pkcs1'], { input: ct });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('EncryptionPublicKey: the plaintext comes back encrypted to the caller’s own key', () => {
  let keyId: string;
  beforeAll(async () => {
    keyId = await newKey(sym, 'wrap-to-caller');
  });

  it.each(['RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1', 'RSAES_PKCS1_V1_5'] as const)('RSA-2048 with %s, decrypted by Node with the client’s private key', async (alg) => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const r = await sym('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256', EncryptionPublicKey: pem, EncryptionAlgorithm: alg });
    const dataKey = clientDecrypt(privateKey, alg, unb64(r.Plaintext));
    expect(dataKey).toHaveLength(32);
    // the same data key through Decrypt, wrapped again
    const d = await sym('Decrypt', { CiphertextBlob: r.CiphertextBlob, EncryptionPublicKey: pem, EncryptionAlgorithm: alg });
    expect(clientDecrypt(privateKey, alg, unb64(d.Plaintext))).toEqual(dataKey);
  });

  it('SM2 (C1C3C2 and its ASN.1 form), decrypted by sm-crypto-v2 with the client’s private key', async () => {
    const pair = sm2.generateKeyPairHex();
    const spki = Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a811ccf5501822d034200', 'hex'), Buffer.from(pair.publicKey, 'hex')]);
    const pem = `-----BEGIN PUBLIC KEY-----\n${spki.toString('base64')}\n-----END PUBLIC KEY-----\n`;
    const raw = await sym('GenerateDataKey', { KeyId: keyId, NumberOfBytes: 32, EncryptionPublicKey: pem });
    // C1 (x‖y, 64 bytes, no 0x04 prefix) ‖ C3 (32) ‖ C2 (32): 128 bytes, as Tencent's GenerateDataKey example
    // (docs/contract/ambiguities.md#sm2-c1c3c2-prefix).
    const c1c3c2 = unb64(raw.Plaintext);
    expect(c1c3c2).toHaveLength(128);
    const dk = Buffer.from(sm2.doDecrypt(c1c3c2.toString('hex'), pair.privateKey, 1, { output: 'array' }));
    expect(dk).toHaveLength(32);
    const asn1 = await sym('Decrypt', { CiphertextBlob: raw.CiphertextBlob, EncryptionPublicKey: pem, EncryptionAlgorithm: 'SM2_C1C3C2_ASN1' });
    expect(Buffer.from(sm2.doDecrypt(unb64(asn1.Plaintext).toString('hex'), pair.privateKey, 1, { output: 'array', asn1: true }))).toEqual(dk);
  });

  it('a public key that is not RSA-2048 or SM2, or a mismatched algorithm, is FailedOperation.EncryptionError', async () => {
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(await code(sym('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256', EncryptionPublicKey: ec }))).toBe('FailedOperation.EncryptionError');
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(await code(sym('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256', EncryptionPublicKey: rsa, EncryptionAlgorithm: 'SM2' }))).toBe('FailedOperation.EncryptionError');
    expect(await code(sym('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256', EncryptionPublicKey: 'not pem' }))).toBe('FailedOperation.EncryptionError');
  });
});

describe('limits and misuse, each violated once', () => {
  let keyId: string;
  beforeAll(async () => {
    keyId = await newKey(sym, 'limits');
  });

  it('Plaintext over 4096 bytes, or not base64', async () => {
    expect(await code(sym('Encrypt', { KeyId: keyId, Plaintext: b64(Buffer.alloc(4097)) }))).toBe('InvalidParameterValue.InvalidPlaintext');
    expect(await code(symIntl('Encrypt', { KeyId: keyId, Plaintext: '***' }))).toBe('InvalidParameterValue.InvalidPlaintext');
  });

  it('EncryptionContext: at most 1024 characters where the model says so (Encrypt, Decrypt), a JSON object everywhere', async () => {
    // 508 characters, about 1,500 bytes of UTF-8: within the limit, which counts characters.
    const chinese = JSON.stringify({ 用途: `${'支付'.repeat(249)}款` });
    expect([...chinese]).toHaveLength(508);
    expect(Buffer.byteLength(chinese)).toBeGreaterThan(1400);
    const e = await sym('Encrypt', { KeyId: keyId, Plaintext: b64('x'), EncryptionContext: chinese });
    expect(unb64((await sym('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: chinese })).Plaintext).toString()).toBe('x');
    // 1024 characters, astral ones counted once.
    const edge = JSON.stringify({ k: '𝔘'.repeat(1024 - 8) });
    expect([...edge]).toHaveLength(1024);
    await sym('Encrypt', { KeyId: keyId, Plaintext: b64('x'), EncryptionContext: edge });
    const big = JSON.stringify({ k: 'x'.repeat(1020) });
    expect([...big]).toHaveLength(1028);
    // Encrypt's and Decrypt's lists name no InvalidParameterValue (docs/contract/actions.md#common-answers).
    expect(await code(sym('Encrypt', { KeyId: keyId, Plaintext: b64('x'), EncryptionContext: big }))).toBe('InvalidParameter');
    expect(await code(sym('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: big }))).toBe('InvalidParameter');
    // GenerateDataKey and ReEncrypt state no limit.
    const dk = await sym('GenerateDataKey', { KeyId: keyId, NumberOfBytes: 16, EncryptionContext: big });
    const moved = await sym('ReEncrypt', { CiphertextBlob: dk.CiphertextBlob, SourceEncryptionContext: big, DestinationEncryptionContext: big });
    expect(moved.KeyId).toBe(keyId);
    expect(await code(sym('Encrypt', { KeyId: keyId, Plaintext: b64('x'), EncryptionContext: '[1,2]' }))).toBe('InvalidParameter');
    expect(await code(sym('Encrypt', { KeyId: keyId, Plaintext: b64('x'), EncryptionContext: 'plain text' }))).toBe('InvalidParameter');
  });

  it('NumberOfBytes outside 1–1024; KeySpec outside AES_128/AES_256: InvalidParameter, the parameter code of their lists', async () => {
    expect(await code(sym('GenerateRandom', { NumberOfBytes: 0 }))).toBe('InvalidParameter');
    expect(await code(sym('GenerateRandom', { NumberOfBytes: 1025 }))).toBe('InvalidParameter');
    expect(await code(sym('GenerateDataKey', { KeyId: keyId, NumberOfBytes: 1025 }))).toBe('InvalidParameter');
    expect(await code(sym('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_512' }))).toBe('InvalidParameter');
    expect(await code(sym('GenerateDataKey', { KeyId: keyId }))).toBe('MissingParameter');
  });

  it('GenerateRandom returns token randomness of the requested length', async () => {
    const a = unb64((await sym('GenerateRandom', { NumberOfBytes: 1024 })).Plaintext);
    const b = unb64((await symIntl('GenerateRandom', { NumberOfBytes: 1024 })).Plaintext);
    expect(a).toHaveLength(1024);
    expect(a.equals(b)).toBe(false);
    expect(unb64((await sym('GenerateRandom', { NumberOfBytes: 1 })).Plaintext)).toHaveLength(1);
  });

  it('a signing key cannot encrypt; an unknown key is CmkNotFound', async () => {
    const signer = await newKey(sym, 'not-for-encrypt', { KeyUsage: sym === gz ? 'ASYMMETRIC_SIGN_VERIFY_SM2' : 'ASYMMETRIC_SIGN_VERIFY_ECC' });
    expect(await code(sym('Encrypt', { KeyId: signer, Plaintext: b64('x') }))).toBe('InvalidParameter');
    expect(await code(sym('Encrypt', { KeyId: crypto.randomUUID(), Plaintext: b64('x') }))).toBe('ResourceUnavailable.CmkNotFound');
  });

  it('a ciphertext of one region does not open in another', async () => {
    const blob = (await sym('Encrypt', { KeyId: keyId, Plaintext: b64('x') })).CiphertextBlob;
    expect(await code((sym === gz ? hk : gz)('Decrypt', { CiphertextBlob: blob }))).toBe('ResourceUnavailable.CmkNotFound');
  });

  it('nothing secret in the logs: no plaintext field, no plaintext value', () => {
    const text = server.logText();
    expect(text).not.toMatch(/"Plaintext"\s*:/);
    for (const secret of ['tamper me', b64('tamper me'), b64('one'), b64('two')]) expect(text).not.toContain(secret);
  });
});
