import crypto from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  WB_MAGIC,
  WhiteboxAlgorithm,
  WhiteboxDirection,
  WhiteboxFormatError,
  type WhiteboxFormatProblem,
  describeTableSet,
  generateTables,
  loadTables,
  whiteboxDecryptCbc,
} from '../../src/crypto/whitebox/index.js';

// The serialized table set (docs/whitebox.md, "Blob format"): fields at their offsets, and the
// parser refusing bad magic, unknown versions, truncation and a bad trailer before anything else.

const KEY_ID = 'c4a1e2f3-0b9d-4e8c-a7f6-5d4c3b2a1908';

function problemOf(f: () => unknown): WhiteboxFormatProblem | 'none' | 'other' {
  try {
    f();
    return 'none';
  } catch (e) {
    return e instanceof WhiteboxFormatError ? e.problem : 'other';
  }
}

/** Rewrites the SHA-256 trailer so a test reaches the checks after it. */
function resealed(b: Buffer): Buffer {
  const body = b.subarray(0, b.length - 32);
  return Buffer.concat([body, crypto.createHash('sha256').update(body).digest()]);
}

describe('HKWB layout', () => {
  const key = crypto.randomBytes(16);
  const tableSetId = crypto.randomBytes(16);
  const bindingSeed = crypto.randomBytes(32);
  let blob: Buffer;
  beforeAll(() => {
    blob = generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID, tableSetId, bindingSeed });
  });

  it('has every field at its documented offset, little-endian', () => {
    expect(blob.subarray(0, 4).equals(WB_MAGIC)).toBe(true);
    expect(WB_MAGIC.toString('latin1')).toBe('HKWB');
    expect([blob[4], blob[5], blob[6], blob[7], blob[8], blob[9]]).toEqual([1, 2, 2, 2, 32, 0]);
    expect(blob.readUInt16LE(10)).toBe(0);
    expect(blob.subarray(12, 28).equals(tableSetId)).toBe(true);
    expect(blob.subarray(28, 44).toString('hex')).toBe(KEY_ID.replace(/-/g, ''));
    const n = blob.readUInt32LE(44);
    expect(n).toBe(153_248);
    expect(blob.subarray(48 + n, 48 + n + 32).equals(bindingSeed)).toBe(true);
    expect(blob.length).toBe(48 + n + 32 + 32);
    expect(blob.subarray(-32).equals(crypto.createHash('sha256').update(blob.subarray(0, -32)).digest())).toBe(true);
  });

  it('describes itself without opening anything, from bytes or the base64 the API returns', () => {
    const h = describeTableSet(blob.toString('base64'));
    expect(h).toMatchObject({
      version: 1,
      algorithm: WhiteboxAlgorithm.SM4,
      direction: WhiteboxDirection.DECRYPT,
      construction: 2,
      rounds: 32,
      bound: false,
      slotCount: 0,
      keyId: KEY_ID,
    });
    expect(h.tableSetId.equals(tableSetId)).toBe(true);
  });

  it('refuses a wrong magic first, whatever else is wrong', () => {
    const bad = Buffer.from(blob);
    bad.write('HKWX', 0, 'latin1');
    expect(problemOf(() => describeTableSet(bad))).toBe('magic');
    expect(problemOf(() => describeTableSet(Buffer.from('HQ')))).toBe('magic');
    expect(problemOf(() => describeTableSet(Buffer.from('not a table set at all, just text')))).toBe('magic');
    expect(problemOf(() => loadTables(Buffer.concat([Buffer.from('HKwb'), blob.subarray(4, 100)])))).toBe('magic');
  });

  it('refuses an unknown format version before looking at the length', () => {
    const bad = Buffer.from(blob.subarray(0, 60));
    bad[4] = 2;
    expect(problemOf(() => describeTableSet(bad))).toBe('version');
    bad[4] = 0;
    expect(problemOf(() => describeTableSet(bad))).toBe('version');
  });

  it('refuses every truncation', () => {
    for (const n of [0, 2, 4, 5, 47, 48, 79, 1000, blob.length - 33, blob.length - 32, blob.length - 1]) {
      expect(
        problemOf(() => describeTableSet(blob.subarray(0, n))),
        `length ${n}`,
      ).toBe('truncated');
    }
  });

  it('refuses a bad trailer (any changed byte) and bytes after it', () => {
    for (const at of [20, 48, 5000, blob.length - 40, blob.length - 1]) {
      const bad = Buffer.from(blob);
      bad[at]! ^= 0x40;
      expect(
        problemOf(() => describeTableSet(bad)),
        `byte ${at}`,
      ).toBe('checksum');
    }
    expect(problemOf(() => describeTableSet(Buffer.concat([blob, Buffer.alloc(1)])))).toBe('malformed');
  });

  it('refuses fields that do not fit, even with a recomputed trailer', () => {
    const edit = (at: number, v: number) => {
      const b = Buffer.from(blob);
      b[at] = v;
      return resealed(b);
    };
    expect(problemOf(() => describeTableSet(edit(5, 3)))).toBe('malformed'); // unknown algorithm
    expect(problemOf(() => describeTableSet(edit(5, 1)))).toBe('malformed'); // AES with SM4 tables
    expect(problemOf(() => describeTableSet(edit(6, 0)))).toBe('malformed'); // direction
    expect(problemOf(() => describeTableSet(edit(7, 1)))).toBe('malformed'); // construction
    expect(problemOf(() => describeTableSet(edit(8, 31)))).toBe('malformed'); // rounds
    expect(problemOf(() => describeTableSet(edit(9, 4)))).toBe('malformed'); // flags
    expect(problemOf(() => describeTableSet(edit(10, 1)))).toBe('malformed'); // slots on an unbound set
    expect(problemOf(() => describeTableSet(resealed(Buffer.from(blob))))).toBe('none');
  });

  it('the runtime refuses a damaged set before using it', () => {
    const bad = Buffer.from(blob);
    bad[10_000]! ^= 1;
    expect(() => whiteboxDecryptCbc(bad, Buffer.alloc(16), Buffer.alloc(16))).toThrow(WhiteboxFormatError);
  });
});
