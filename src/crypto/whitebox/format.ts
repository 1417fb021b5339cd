import { createHash } from 'node:crypto';
import { type WhiteboxAlgorithm, type WhiteboxConstruction, WhiteboxDirection, algorithmSpec } from './algorithms.js';
import { WhiteboxFormatError, WhiteboxParameterError } from './errors.js';

// A table set as it travels (EncryptKey / DecryptKey, base64 on the wire; docs/whitebox.md).
// Little-endian, format version 1:
//
//   offset  size        field
//   0       4           magic "HKWB"
//   4       1           format version (1)
//   5       1           algorithm: 1 AES-256, 2 SM4
//   6       1           direction: 1 E_K (encryption tables), 2 D_K (decryption tables)
//   7       1           construction: 1 Chow variant A, 2 Xiao–Lai
//   8       1           rounds (14 / 32)
//   9       1           flags: bit 0 = bound to device fingerprints
//   10      2           slot count (0 when unbound, 1–200 when bound)
//   12      16          table-set id (random)
//   28      16          KeyId (the UUID's 16 bytes)
//   44      4           tables length n
//   48      n           tables (chow-aes.ts / xiao-lai-sm4.ts give the order)
//   48+n    32 | 60·s   unbound: the output-encoding seed; bound: s slots of nonce ‖ sealed seed ‖ tag
//   end−32  32          SHA-256 of every byte before it
//
// The trailer catches truncation and transport damage only; anyone can recompute it.

export const WB_MAGIC = Buffer.from('HKWB', 'latin1');
export const WB_FORMAT_VERSION = 1;
export const WB_HEADER_BYTES = 48;
export const WB_SEED_BYTES = 32;
export const WB_SLOT_BYTES = 60;
export const WB_MAX_SLOTS = 200;
const TRAILER_BYTES = 32;
const FLAG_BOUND = 1;

export interface WhiteboxHeader {
  readonly version: number;
  readonly algorithm: WhiteboxAlgorithm;
  readonly direction: WhiteboxDirection;
  readonly construction: WhiteboxConstruction;
  readonly rounds: number;
  readonly bound: boolean;
  readonly slotCount: number;
  readonly tableSetId: Buffer;
  readonly keyId: string;
  readonly tablesLength: number;
}

export interface ParsedTableSet extends WhiteboxHeader {
  /** Bytes 0–47, the AAD of every slot. */
  readonly headerBytes: Buffer;
  readonly tables: Buffer;
  /** The output-encoding seed of an unbound set. */
  readonly seed: Buffer | undefined;
  readonly slots: Buffer[];
  /** Total size in bytes. */
  readonly size: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function keyIdBytes(keyId: string): Buffer {
  if (!UUID.test(keyId)) throw new WhiteboxParameterError('white-box key id must be a lower-case UUID');
  return Buffer.from(keyId.replace(/-/g, ''), 'hex');
}

function keyIdString(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function encodeHeader(h: Omit<WhiteboxHeader, 'version'>): Buffer {
  const out = Buffer.alloc(WB_HEADER_BYTES);
  WB_MAGIC.copy(out, 0);
  out[4] = WB_FORMAT_VERSION;
  out[5] = h.algorithm;
  out[6] = h.direction;
  out[7] = h.construction;
  out[8] = h.rounds;
  out[9] = h.bound ? FLAG_BOUND : 0;
  out.writeUInt16LE(h.slotCount, 10);
  h.tableSetId.copy(out, 12);
  keyIdBytes(h.keyId).copy(out, 28);
  out.writeUInt32LE(h.tablesLength, 44);
  return out;
}

export function assembleTableSet(header: Buffer, tables: Buffer, region: Buffer[]): Buffer {
  const body = Buffer.concat([header, tables, ...region]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/**
 * Explicit offsets. A wrong magic, an unknown version and a short or damaged blob are refused
 * before any field is believed; then every field is checked against the algorithm it names.
 */
export function parseTableSet(blob: Uint8Array): ParsedTableSet {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const magicSeen = b.subarray(0, Math.min(4, b.length));
  if (!magicSeen.equals(WB_MAGIC.subarray(0, magicSeen.length))) throw new WhiteboxFormatError('magic', 'white-box tables: not an hsmkms table set (bad magic)');
  if (b.length < 5) throw new WhiteboxFormatError('truncated', 'white-box tables: truncated');
  if (b[4] !== WB_FORMAT_VERSION) throw new WhiteboxFormatError('version', `white-box tables: unknown format version ${b[4]}`);
  if (b.length < WB_HEADER_BYTES + TRAILER_BYTES) throw new WhiteboxFormatError('truncated', 'white-box tables: truncated');

  const flags = b[9]!;
  const slotCount = b.readUInt16LE(10);
  const tablesLength = b.readUInt32LE(44);
  const bound = (flags & FLAG_BOUND) !== 0;
  const regionBytes = bound ? WB_SLOT_BYTES * slotCount : WB_SEED_BYTES;
  const expected = WB_HEADER_BYTES + tablesLength + regionBytes + TRAILER_BYTES;
  if (b.length < expected) throw new WhiteboxFormatError('truncated', `white-box tables: truncated (${b.length} of ${expected} bytes)`);
  if (b.length > expected) throw new WhiteboxFormatError('malformed', `white-box tables: ${b.length - expected} bytes after the trailer`);
  const body = b.subarray(0, expected - TRAILER_BYTES);
  if (
    !createHash('sha256')
      .update(body)
      .digest()
      .equals(b.subarray(expected - TRAILER_BYTES))
  )
    throw new WhiteboxFormatError('checksum', 'white-box tables: checksum mismatch (damaged or truncated)');

  const algorithm = b[5]! as WhiteboxAlgorithm;
  const spec = algorithmSpec(algorithm);
  if (!spec) throw new WhiteboxFormatError('malformed', `white-box tables: unknown algorithm ${b[5]}`);
  const direction = b[6]! as WhiteboxDirection;
  if (direction !== WhiteboxDirection.ENCRYPT && direction !== WhiteboxDirection.DECRYPT) throw new WhiteboxFormatError('malformed', `white-box tables: unknown direction ${b[6]}`);
  if (b[7] !== spec.construction) throw new WhiteboxFormatError('malformed', `white-box tables: construction ${b[7]} does not fit algorithm ${algorithm}`);
  if (b[8] !== spec.rounds) throw new WhiteboxFormatError('malformed', `white-box tables: ${b[8]} rounds do not fit algorithm ${algorithm}`);
  if (flags & ~FLAG_BOUND) throw new WhiteboxFormatError('malformed', `white-box tables: unknown flags 0x${flags.toString(16)}`);
  if (bound ? slotCount < 1 || slotCount > WB_MAX_SLOTS : slotCount !== 0)
    throw new WhiteboxFormatError('malformed', `white-box tables: slot count ${slotCount} does not fit the flags`);
  if (tablesLength !== spec.tablesBytes) throw new WhiteboxFormatError('malformed', `white-box tables: tables length ${tablesLength}, expected ${spec.tablesBytes}`);

  const regionAt = WB_HEADER_BYTES + tablesLength;
  const slots: Buffer[] = [];
  for (let i = 0; i < slotCount; i++) slots.push(b.subarray(regionAt + WB_SLOT_BYTES * i, regionAt + WB_SLOT_BYTES * (i + 1)));
  return {
    version: WB_FORMAT_VERSION,
    algorithm,
    direction,
    construction: spec.construction,
    rounds: spec.rounds,
    bound,
    slotCount,
    tableSetId: Buffer.from(b.subarray(12, 28)),
    keyId: keyIdString(b.subarray(28, 44)),
    tablesLength,
    headerBytes: b.subarray(0, WB_HEADER_BYTES),
    tables: b.subarray(WB_HEADER_BYTES, regionAt),
    seed: bound ? undefined : b.subarray(regionAt, regionAt + WB_SEED_BYTES),
    slots,
    size: b.length,
  };
}

/** Accepts the API's base64 string or the raw bytes. */
export function tableSetBytes(blob: Uint8Array | string): Uint8Array {
  return typeof blob === 'string' ? Buffer.from(blob.trim(), 'base64') : blob;
}

/** The header of a table set, checked (see parseTableSet); nothing is opened or expanded. */
export function describeTableSet(blob: Uint8Array | string): WhiteboxHeader & { readonly size: number } {
  const p = parseTableSet(tableSetBytes(blob));
  return {
    version: p.version,
    algorithm: p.algorithm,
    direction: p.direction,
    construction: p.construction,
    rounds: p.rounds,
    bound: p.bound,
    slotCount: p.slotCount,
    tableSetId: p.tableSetId,
    keyId: p.keyId,
    tablesLength: p.tablesLength,
    size: p.size,
  };
}
