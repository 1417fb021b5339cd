import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { sm4 } from 'sm-crypto-v2';
import { DecryptFailedError } from '../pkcs11/errors.js';
import { pem } from './pem.js';

// Post-quantum algorithms in the software module (SoftHSM2 has no PKCS#11 3.2 ML-KEM / ML-DSA
// mechanisms): ML-KEM-768 (FIPS 203) as the KEM of a hybrid encryption with AES-256-GCM (FIPS
// regions) or SM4-GCM (RFC 8998, SM regions), and ML-DSA-65 (FIPS 204) signatures, both through
// @noble/post-quantum. Private keys are kept as their FIPS seeds (ML-KEM: d ‖ z, 64 bytes; ML-DSA:
// ξ, 32 bytes), sealed under the token KEK by the caller; each operation expands the seed, uses
// the key and wipes seed and expanded key. The blob format is docs/pqc.md:
//
//   offset  size  field
//   0       2     magic "HQ"
//   2       1     format version (1)
//   3       1     algorithm: 1 = ML-KEM-768 + AES-256-GCM, 2 = ML-KEM-768 + SM4-GCM
//   4       16    key id (the UUID's 16 bytes)
//   20      4     key version (uint32, big-endian)
//   24      1088  ML-KEM-768 ciphertext
//   1112    12    IV
//   1124    n     AEAD ciphertext
//   1124+n  16    GCM tag
//
// AEAD key = HKDF-SHA256(ML-KEM shared secret, salt = empty, info = "hsmkms-pqc-v1" ‖
// SHA-256(bytes 0–1111)), 32 bytes for AES-256, 16 for SM4; AAD = bytes 0–1111. So the algorithm, key id, version and KEM ciphertext are all
// authenticated, and the IV by GCM itself.

export enum PqcAlgorithm {
  ML_KEM_768_AES_256_GCM = 1,
  ML_KEM_768_SM4_GCM = 2,
}

const MAGIC = Buffer.from('HQ', 'latin1');
const FORMAT = 1;
const KEM_CT = 1088;
const IV = 12;
const TAG = 16;
/** Bytes before the IV: what the AAD and the KDF info cover. */
export const PQC_HEADER_BYTES = 24 + KEM_CT;
const MIN_BLOB = PQC_HEADER_BYTES + IV + 1 + TAG;

export const ML_KEM_768_SEED_BYTES = 64;
export const ML_DSA_65_SEED_BYTES = 32;

// SubjectPublicKeyInfo algorithm identifiers (NIST CSOR: id-alg-ml-kem-768 2.16.840.1.101.3.4.4.2,
// id-ml-dsa-65 2.16.840.1.101.3.4.3.18; RFC 9935/9881 layouts: no parameters).
const OID_ML_KEM_768 = Buffer.from('0609608648016503040402', 'hex');
const OID_ML_DSA_65 = Buffer.from('0609608648016503040312', 'hex');

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}
const der = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);

function spkiPem(oid: Buffer, publicKey: Uint8Array): string {
  const spki = der(0x30, Buffer.concat([der(0x30, oid), der(0x03, Buffer.concat([Buffer.from([0]), publicKey]))]));
  return pem(spki);
}

/** The raw public key inside one of our SubjectPublicKeyInfo PEMs. */
export function rawPublicKeyFromPem(pem: string, kind: 'ML-KEM-768' | 'ML-DSA-65'): Uint8Array {
  const spki = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const size = kind === 'ML-KEM-768' ? ml_kem768.lengths.publicKey! : ml_dsa65.lengths.publicKey!;
  const oid = kind === 'ML-KEM-768' ? OID_ML_KEM_768 : OID_ML_DSA_65;
  if (spki.length < size || spki.indexOf(oid) < 0) throw new Error(`not an ${kind} public key`);
  return spki.subarray(spki.length - size);
}

/** The public key (SubjectPublicKeyInfo PEM) of an ML-KEM-768 seed d ‖ z (FIPS 203 ML-KEM.KeyGen_internal). */
export function mlKem768PublicKeyPem(seed: Buffer): string {
  const keys = ml_kem768.keygen(seed);
  keys.secretKey.fill(0);
  return spkiPem(OID_ML_KEM_768, keys.publicKey);
}

/** The public key of an ML-DSA-65 seed ξ (FIPS 204 ML-DSA.KeyGen_internal). */
export function mlDsa65PublicKeyPem(seed: Buffer): string {
  const keys = ml_dsa65.keygen(seed);
  keys.secretKey.fill(0);
  return spkiPem(OID_ML_DSA_65, keys.publicKey);
}

/** The SubjectPublicKeyInfo PEM of a raw ML-DSA-65 public key (from a token's CKA_VALUE). */
export function mlDsa65PemFromRaw(raw: Uint8Array): string {
  if (raw.length !== ml_dsa65.lengths.publicKey) throw new Error('not an ML-DSA-65 public key');
  return spkiPem(OID_ML_DSA_65, raw);
}

function uuidBytes(keyId: string): Buffer {
  return Buffer.from(keyId.replace(/-/g, ''), 'hex');
}
function uuidString(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function aeadKey(sharedSecret: Uint8Array, header: Buffer, algorithm: PqcAlgorithm): Buffer {
  const length = algorithm === PqcAlgorithm.ML_KEM_768_AES_256_GCM ? 32 : 16;
  const info = Buffer.concat([Buffer.from('hsmkms-pqc-v1'), createHash('sha256').update(header).digest()]);
  return Buffer.from(hkdfSync('sha256', sharedSecret, Buffer.alloc(0), info, length));
}

export interface PqcBlobHeader {
  algorithm: PqcAlgorithm;
  keyId: string;
  version: number;
}

/** Header fields, checked in order: length, magic, format, algorithm. Throws on anything else. */
export function parsePqcBlob(blob: Buffer): PqcBlobHeader & { header: Buffer; kemCiphertext: Buffer; iv: Buffer; sealed: Buffer } {
  if (blob.length < MIN_BLOB) throw new DecryptFailedError('PQC blob: too short');
  if (!blob.subarray(0, 2).equals(MAGIC)) throw new DecryptFailedError('PQC blob: unknown magic');
  if (blob[2] !== FORMAT) throw new DecryptFailedError('PQC blob: unknown format version');
  const algorithm = blob[3]!;
  if (algorithm !== PqcAlgorithm.ML_KEM_768_AES_256_GCM && algorithm !== PqcAlgorithm.ML_KEM_768_SM4_GCM) throw new DecryptFailedError('PQC blob: unknown algorithm');
  return {
    algorithm,
    keyId: uuidString(blob.subarray(4, 20)),
    version: blob.readUInt32BE(20),
    header: blob.subarray(0, PQC_HEADER_BYTES),
    kemCiphertext: blob.subarray(24, PQC_HEADER_BYTES),
    iv: blob.subarray(PQC_HEADER_BYTES, PQC_HEADER_BYTES + IV),
    sealed: blob.subarray(PQC_HEADER_BYTES + IV),
  };
}

/**
 * Hybrid encryption to an ML-KEM-768 public key. `m` (32 bytes, wiped here) is the encapsulation
 * randomness and `iv` (12 bytes) the GCM IV, both from the token's RNG in the service.
 */
export function pqcEncrypt(h: PqcBlobHeader, publicKeyPem: string, plaintext: Buffer, m: Buffer, iv: Buffer): Buffer {
  if (m.length !== 32 || iv.length !== IV) throw new Error('pqcEncrypt: m must be 32 bytes and iv 12');
  const pk = rawPublicKeyFromPem(publicKeyPem, 'ML-KEM-768');
  const { cipherText, sharedSecret } = ml_kem768.encapsulate(pk, m);
  m.fill(0);
  const prefix = Buffer.alloc(24);
  MAGIC.copy(prefix, 0);
  prefix[2] = FORMAT;
  prefix[3] = h.algorithm;
  uuidBytes(h.keyId).copy(prefix, 4);
  prefix.writeUInt32BE(h.version, 20);
  const header = Buffer.concat([prefix, cipherText]);
  const key = aeadKey(sharedSecret, header, h.algorithm);
  sharedSecret.fill(0);
  try {
    if (h.algorithm === PqcAlgorithm.ML_KEM_768_AES_256_GCM) {
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(header);
      return Buffer.concat([header, iv, c.update(plaintext), c.final(), c.getAuthTag()]);
    }
    const r = sm4.encrypt(plaintext, key, { mode: 'gcm', iv, associatedData: header, outputTag: true, output: 'array', padding: 'none' });
    return Buffer.concat([header, iv, Buffer.from(r.output), Buffer.from(r.tag!)]);
  } finally {
    key.fill(0);
  }
}

/** Opens a blob with the ML-KEM seed (the caller wipes it). Any alteration → DecryptFailedError. */
export function pqcDecrypt(blob: Buffer, kemSeed: Buffer): Buffer {
  const b = parsePqcBlob(blob);
  const { secretKey, publicKey } = ml_kem768.keygen(kemSeed);
  publicKey.fill(0);
  let sharedSecret: Uint8Array;
  try {
    // ML-KEM decapsulation never fails (implicit rejection): a wrong ciphertext gives a
    // pseudorandom secret, which the GCM tag then refuses.
    sharedSecret = ml_kem768.decapsulate(b.kemCiphertext, secretKey);
  } catch {
    throw new DecryptFailedError('PQC decrypt: failed');
  } finally {
    secretKey.fill(0);
  }
  const key = aeadKey(sharedSecret, b.header, b.algorithm);
  sharedSecret.fill(0);
  const ct = b.sealed.subarray(0, b.sealed.length - TAG);
  const tag = b.sealed.subarray(b.sealed.length - TAG);
  try {
    if (b.algorithm === PqcAlgorithm.ML_KEM_768_AES_256_GCM) {
      const d = createDecipheriv('aes-256-gcm', key, b.iv);
      d.setAAD(b.header);
      d.setAuthTag(tag);
      return Buffer.concat([d.update(ct), d.final()]);
    }
    return Buffer.from(sm4.decrypt(ct, key, { mode: 'gcm', iv: b.iv, associatedData: b.header, tag, output: 'array', padding: 'none' }));
  } catch {
    throw new DecryptFailedError('PQC decrypt: failed');
  } finally {
    key.fill(0);
  }
}

/** ML-DSA-65 signature (FIPS 204 Algorithm 2, empty context, hedged with `rnd`, 32 bytes). */
export function mlDsa65Sign(seed: Buffer, message: Buffer, rnd: Buffer): Buffer {
  const { secretKey, publicKey } = ml_dsa65.keygen(seed);
  publicKey.fill(0);
  try {
    return Buffer.from(ml_dsa65.sign(message, secretKey, { extraEntropy: rnd }));
  } finally {
    secretKey.fill(0);
  }
}

export function mlDsa65Verify(publicKeyPem: string, message: Buffer, signature: Buffer): boolean {
  try {
    return ml_dsa65.verify(signature, message, rawPublicKeyFromPem(publicKeyPem, 'ML-DSA-65'));
  } catch {
    return false;
  }
}
