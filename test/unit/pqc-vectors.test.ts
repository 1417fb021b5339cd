import { createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { shake128 } from '@noble/hashes/sha3.js';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';
import {
  mlDsa65PemFromRaw,
  mlDsa65PublicKeyPem,
  mlDsa65Sign,
  mlDsa65Verify,
  mlKem768PublicKeyPem,
  parsePqcBlob,
  PQC_HEADER_BYTES,
  PqcAlgorithm,
  pqcDecrypt,
  pqcEncrypt,
  rawPublicKeyFromPem,
} from '../../src/crypto/pqc.js';

// FIPS 203 / FIPS 204 known answers (test/vectors/pqc.json, sources noted there) for the
// @noble/post-quantum primitives the software module uses, and the PQC blob format
// (docs/pqc.md) opened independently with Node's OpenSSL.

const vectors = JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'vectors', 'pqc.json'), 'utf8'));
const hex = (s: string) => Buffer.from(s, 'hex');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').toUpperCase();

describe('ML-DSA-65 (FIPS 204): NIST ACVP key generation and Sign_internal vectors', () => {
  it.each(vectors.ml_dsa_65.cases as Array<{ name: string; seed: string; key_sha256: string; msg: string; sig_sha256: string }>)('$name', (v) => {
    const { publicKey, secretKey } = ml_dsa65.keygen(hex(v.seed));
    expect(sha256(Buffer.concat([publicKey, secretKey]))).toBe(v.key_sha256);
    const sig = ml_dsa65.internal.sign(hex(v.msg), secretKey, { extraEntropy: false });
    expect(sha256(sig)).toBe(v.sig_sha256);
    // The service's public key encoding carries exactly this key.
    expect(Buffer.from(rawPublicKeyFromPem(mlDsa65PublicKeyPem(hex(v.seed)), 'ML-DSA-65')).equals(Buffer.from(publicKey))).toBe(true);
  });
});

describe('ML-KEM-768 (FIPS 203): C2SP accumulated vectors', () => {
  it(`${vectors.ml_kem_768_accumulated.tests} deterministic key generations, encapsulations and (rejecting) decapsulations hash to the published value`, () => {
    const rng = shake128.create({});
    const out = shake128.create({});
    for (let i = 0; i < vectors.ml_kem_768_accumulated.tests; i++) {
      const { publicKey, secretKey } = ml_kem768.keygen(rng.xof(64));
      out.update(publicKey);
      const { cipherText, sharedSecret } = ml_kem768.encapsulate(publicKey, rng.xof(32));
      out.update(cipherText).update(sharedSecret);
      expect(Buffer.from(ml_kem768.decapsulate(cipherText, secretKey)).equals(Buffer.from(sharedSecret))).toBe(true);
      out.update(ml_kem768.decapsulate(rng.xof(ml_kem768.lengths.cipherText!), secretKey));
    }
    expect(Buffer.from(out.xof(32)).toString('hex')).toBe(vectors.ml_kem_768_accumulated.shake128_32);
  });
});

describe('the PQC ciphertext blob (docs/pqc.md)', () => {
  const keyId = '0b5a1d2e-3c4f-4a6b-8c7d-9e0f1a2b3c4d';
  const seed = randomBytes(64);
  const pem = mlKem768PublicKeyPem(seed);
  const seal = (algorithm: PqcAlgorithm, pt: Buffer) => pqcEncrypt({ algorithm, keyId, version: 3 }, pem, pt, randomBytes(32), randomBytes(12));

  it('names algorithm, key and version, and opens with Node OpenSSL given only the KEM secret (AES-256-GCM)', () => {
    const pt = Buffer.from('post-quantum payload');
    const blob = seal(PqcAlgorithm.ML_KEM_768_AES_256_GCM, pt);
    expect(blob.subarray(0, 4)).toEqual(Buffer.from([0x48, 0x51, 1, 1]));
    expect(parsePqcBlob(blob)).toMatchObject({ algorithm: 1, keyId, version: 3 });
    expect(blob.length).toBe(PQC_HEADER_BYTES + 12 + pt.length + 16);
    // Independently: decapsulate, HKDF, AES-256-GCM with the header as AAD.
    const { secretKey } = ml_kem768.keygen(seed);
    const ss = ml_kem768.decapsulate(blob.subarray(24, PQC_HEADER_BYTES), secretKey);
    const header = blob.subarray(0, PQC_HEADER_BYTES);
    const key = Buffer.from(hkdfSync('sha256', ss, Buffer.alloc(0), Buffer.concat([Buffer.from('hsmkms-pqc-v1'), createHash('sha256').update(header).digest()]), 32));
    const d = createDecipheriv('aes-256-gcm', key, blob.subarray(PQC_HEADER_BYTES, PQC_HEADER_BYTES + 12));
    d.setAAD(header);
    d.setAuthTag(blob.subarray(blob.length - 16));
    expect(Buffer.concat([d.update(blob.subarray(PQC_HEADER_BYTES + 12, blob.length - 16)), d.final()])).toEqual(pt);
    expect(pqcDecrypt(blob, seed)).toEqual(pt);
  });

  it('SM4-GCM variant round-trips and is a different algorithm byte', () => {
    const blob = seal(PqcAlgorithm.ML_KEM_768_SM4_GCM, Buffer.from('国密'));
    expect(blob[3]).toBe(2);
    expect(pqcDecrypt(blob, seed).toString()).toBe('国密');
  });

  it.each([
    ['algorithm', 3],
    ['key id', 10],
    ['version', 23],
    ['KEM ciphertext', 500],
    ['IV', PQC_HEADER_BYTES + 1],
    ['ciphertext', PQC_HEADER_BYTES + 13],
    ['tag', -1],
  ])('refuses a blob whose %s byte was altered', (_field, offset) => {
    for (const alg of [PqcAlgorithm.ML_KEM_768_AES_256_GCM, PqcAlgorithm.ML_KEM_768_SM4_GCM]) {
      const blob = seal(alg, Buffer.from('tamper me'));
      const i = (offset as number) < 0 ? blob.length - 1 : (offset as number);
      blob[i] ^= i === 3 ? 0x03 : 0x01;
      expect(() => pqcDecrypt(blob, seed)).toThrow();
    }
  });

  it('refuses another key, a truncated blob and an unknown format', () => {
    const blob = seal(PqcAlgorithm.ML_KEM_768_AES_256_GCM, Buffer.from('x'));
    expect(() => pqcDecrypt(blob, randomBytes(64))).toThrow();
    expect(() => pqcDecrypt(blob.subarray(0, blob.length - 1 - 16), seed)).toThrow();
    const other = Buffer.from(blob);
    other[2] = 2;
    expect(() => parsePqcBlob(other)).toThrow(/format/);
  });
});

describe('ML-DSA-65 signatures of the service verify with @noble/post-quantum directly', () => {
  it('sign → verify; altered message or signature fails', () => {
    const seed = randomBytes(32);
    const pem = mlDsa65PublicKeyPem(seed);
    const msg = Buffer.from('message');
    const sig = mlDsa65Sign(seed, msg, randomBytes(32));
    expect(sig.length).toBe(3309);
    expect(ml_dsa65.verify(sig, msg, rawPublicKeyFromPem(pem, 'ML-DSA-65'))).toBe(true);
    expect(mlDsa65Verify(pem, Buffer.from('messagf'), sig)).toBe(false);
    sig[100] ^= 1;
    expect(mlDsa65Verify(pem, msg, sig)).toBe(false);
  });
});

describe('ML-DSA-65 public keys from a token (raw CKA_VALUE)', () => {
  it('wraps the raw key in the same SubjectPublicKeyInfo as software keys; noble verifies through it', () => {
    const seed = Buffer.alloc(32, 7);
    const keys = ml_dsa65.keygen(seed);
    expect(mlDsa65PemFromRaw(keys.publicKey)).toBe(mlDsa65PublicKeyPem(seed));
    const raw = rawPublicKeyFromPem(mlDsa65PemFromRaw(keys.publicKey), 'ML-DSA-65');
    const msg = new TextEncoder().encode('token-made key');
    expect(ml_dsa65.verify(ml_dsa65.sign(msg, keys.secretKey), msg, raw)).toBe(true);
    expect(() => mlDsa65PemFromRaw(keys.publicKey.subarray(1))).toThrow();
  });
});
