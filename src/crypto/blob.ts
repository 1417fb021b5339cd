import { DecryptFailedError } from '../pkcs11/errors.js';

// The CiphertextBlob of Encrypt, GenerateDataKey and ReEncrypt (docs/ciphertext.md). Binary,
// base64 on the wire; it names the key, the key version and the algorithm so Decrypt finds the
// key without the caller naming it. Format version 1:
//
//   offset  size  field
//   0       2     magic "HK"
//   2       1     format version (1)
//   3       1     algorithm: 1 = AES-256-GCM (token), 2 = SM4-GCM (RFC 8998, software module)
//   4       16    key id (the UUID's 16 bytes)
//   20      4     key version (uint32, big-endian)
//   24      12    IV
//   36      n     ciphertext
//   36+n    16    GCM tag
//
// The AAD is the first 24 header bytes (magic to key version) followed by the canonical
// EncryptionContext; the IV is authenticated by GCM itself (another IV, another tag). So every
// byte and the context are authenticated: any altered byte fails decryption.

export const BLOB_MAGIC = Buffer.from('HK', 'latin1');
export const BLOB_FORMAT = 1;
export const HEADER_BYTES = 36;
const TAG_BYTES = 16;

export enum BlobAlgorithm {
  AES_256_GCM = 1,
  SM4_GCM = 2,
}

export interface BlobHeader {
  algorithm: BlobAlgorithm;
  keyId: string;
  version: number;
  iv: Buffer;
}

export interface ParsedBlob extends BlobHeader {
  /** The authenticated header bytes (offsets 0–23), the start of the AAD. */
  aadPrefix: Buffer;
  /** ciphertext ‖ tag */
  sealed: Buffer;
}

/** Parsing failures say only that the ciphertext is invalid. */
export class InvalidBlobError extends DecryptFailedError {}

function uuidBytes(keyId: string): Buffer {
  const hex = keyId.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new InvalidBlobError('ciphertext: key id is not a UUID');
  return Buffer.from(hex, 'hex');
}

function uuidString(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const AAD_PREFIX_BYTES = 24;

/** Header bytes 0–23: what the AAD starts with, known before the IV is drawn. */
export function aadPrefix(h: Omit<BlobHeader, 'iv'>): Buffer {
  const out = Buffer.alloc(AAD_PREFIX_BYTES);
  BLOB_MAGIC.copy(out, 0);
  out[2] = BLOB_FORMAT;
  out[3] = h.algorithm;
  uuidBytes(h.keyId).copy(out, 4);
  out.writeUInt32BE(h.version, 20);
  return out;
}

export function assembleBlob(prefix: Buffer, iv: Buffer, sealed: Buffer): Buffer {
  if (prefix.length !== AAD_PREFIX_BYTES || iv.length !== 12) throw new InvalidBlobError('ciphertext: bad header');
  return Buffer.concat([prefix, iv, sealed]);
}

/** Explicit offsets; unknown magic, format or algorithm are refused before anything else. */
export function parseBlob(blob: Buffer): ParsedBlob {
  if (blob.length < HEADER_BYTES + TAG_BYTES + 1) throw new InvalidBlobError('ciphertext: too short');
  if (!blob.subarray(0, 2).equals(BLOB_MAGIC)) throw new InvalidBlobError('ciphertext: not an hsmkms ciphertext');
  if (blob[2] !== BLOB_FORMAT) throw new InvalidBlobError(`ciphertext: unknown format version ${blob[2]}`);
  const algorithm = blob[3]!;
  if (algorithm !== BlobAlgorithm.AES_256_GCM && algorithm !== BlobAlgorithm.SM4_GCM) throw new InvalidBlobError('ciphertext: unknown algorithm');
  return {
    algorithm,
    keyId: uuidString(blob.subarray(4, 20)),
    version: blob.readUInt32BE(20),
    iv: Buffer.from(blob.subarray(24, 36)),
    aadPrefix: Buffer.from(blob.subarray(0, AAD_PREFIX_BYTES)),
    sealed: Buffer.from(blob.subarray(HEADER_BYTES)),
  };
}

export class InvalidContextError extends Error {
  readonly code = 'InvalidContext';
}

/**
 * The EncryptionContext in one canonical form: a JSON object re-serialised with keys sorted
 * (recursively) and no whitespace, so key order and spacing do not matter. Absent or empty
 * means no context.
 */
export function canonicalContext(context: string | undefined): Buffer {
  if (context === undefined || context === '') return Buffer.alloc(0);
  let parsed: unknown;
  try {
    parsed = JSON.parse(context);
  } catch {
    throw new InvalidContextError('EncryptionContext must be a JSON object');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidContextError('EncryptionContext must be a JSON object');
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  return Buffer.from(JSON.stringify(sort(parsed)), 'utf8');
}

export function blobAad(prefix: Buffer, context: Buffer): Buffer {
  return Buffer.concat([prefix, context]);
}
