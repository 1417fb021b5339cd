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
  assertExact(context);
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

/**
 * The canonical form must name exactly what the caller wrote, or two different contexts would
 * open each other's ciphertexts: JSON.parse keeps the last of repeated keys (`{"t":"B","t":"A"}`
 * reads as `{"t":"A"}`) and rounds numbers to doubles (9007199254740993 reads as …992). So a key
 * may appear once per object, and a number only as the text JSON.stringify gives it back
 * (docs/ciphertext.md#encryption-context). `text` is valid JSON (JSON.parse read it): only
 * strings, numbers and the structure need looking at.
 */
function assertExact(text: string): void {
  const objects: Array<{ keys: Set<string>; keyNext: boolean } | undefined> = [];
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c === '"') {
      let end = i + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const top = objects[objects.length - 1];
      if (top?.keyNext) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) throw new InvalidContextError('EncryptionContext must not repeat a key');
        top.keys.add(key);
        top.keyNext = false;
      }
      i = end + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let end = i + 1;
      while (end < text.length && /[0-9eE.+-]/.test(text[end]!)) end++;
      const number = text.slice(i, end);
      if (JSON.stringify(Number(number)) !== number)
        throw new InvalidContextError('EncryptionContext numbers must be written exactly as they read back (use a string for anything else)');
      i = end;
    } else {
      if (c === '{') objects.push({ keys: new Set(), keyNext: true });
      else if (c === '[') objects.push(undefined);
      else if (c === '}' || c === ']') objects.pop();
      else if (c === ',') {
        const top = objects[objects.length - 1];
        if (top) top.keyNext = true;
      }
      i++;
    }
  }
}

export function blobAad(prefix: Buffer, context: Buffer): Buffer {
  return Buffer.concat([prefix, context]);
}
