import crypto from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AES_INV_SBOX, AES_SBOX, aes256CipherKeys, gmul } from '../../src/crypto/whitebox/aes.js';
import { WB_HEADER_BYTES, WhiteboxAlgorithm, WhiteboxDirection, describeTableSet, generateTables, loadTables } from '../../src/crypto/whitebox/index.js';
import { SM4_SBOX, sm4RoundKeys } from '../../src/crypto/whitebox/sm4.js';

// What the tables must not show (weak but necessary checks: the key, its round keys and the bare
// S-boxes are not sitting in the file), that every generation draws fresh encodings, that a seed
// regenerates the same set, and that the library stays pure.

const KEY_ID = '3d2b9c4e-5f6a-4b7c-8d9e-0a1b2c3d4e5f';
const OTHER_ID = 'a0b1c2d3-e4f5-4a6b-9c8d-7e6f5a4b3c2d';

/** Each 4-byte word of b reversed: the same bytes as a little-endian uint32 array would hold them. */
function wordSwapped(b: Uint8Array): Buffer {
  const out = Buffer.from(b);
  for (let i = 0; i + 4 <= out.length; i += 4) out.subarray(i, i + 4).reverse();
  return out;
}

function expectAbsent(blob: Buffer, patterns: Buffer[]): void {
  for (const p of patterns) {
    expect(blob.indexOf(p), `pattern ${p.toString('hex')} found`).toBe(-1);
    expect(blob.indexOf(wordSwapped(p)), `word-swapped pattern ${p.toString('hex')} found`).toBe(-1);
  }
}

function commonPrefix(a: Buffer, b: Buffer): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function sameBytes(a: Buffer, b: Buffer): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) n++;
  return n / a.length;
}

describe('AES-256 table sets do not show the key', () => {
  const key = crypto.randomBytes(32);
  let e: Buffer;
  let d: Buffer;
  beforeAll(() => {
    e = generateTables({ algorithm: WhiteboxAlgorithm.AES_256, direction: WhiteboxDirection.ENCRYPT, key, keyId: KEY_ID });
    d = generateTables({ algorithm: WhiteboxAlgorithm.AES_256, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID });
  });

  it('no 16- or 32-byte window equals the key, a half of it or any round key (either schedule), words swapped or not', () => {
    const patterns = [key, key.subarray(0, 16), key.subarray(16)];
    for (const decrypt of [false, true]) {
      const k = aes256CipherKeys(key, decrypt);
      for (let r = 0; r < 15; r++) patterns.push(Buffer.from(k.subarray(16 * r, 16 * r + 16)));
      for (let r = 0; r < 14; r++) patterns.push(Buffer.from(k.subarray(16 * r, 16 * r + 32)));
    }
    for (const blob of [e, d]) expectAbsent(blob, patterns);
    // The check itself finds a planted copy, byte-swapped words included.
    expect(() => expectAbsent(Buffer.concat([e.subarray(0, 999), wordSwapped(key)]), [key])).toThrow();
  });

  it('neither the bare S-box nor its inverse appears, nor the first words of a textbook T-table', () => {
    const te0 = Buffer.alloc(16);
    for (let x = 0; x < 4; x++) te0.set([gmul(AES_SBOX[x]!, 2), AES_SBOX[x]!, AES_SBOX[x]!, gmul(AES_SBOX[x]!, 3)], 4 * x);
    for (const blob of [e, d]) {
      for (const box of [AES_SBOX, AES_INV_SBOX]) {
        expect(blob.indexOf(Buffer.from(box))).toBe(-1);
        expect(blob.indexOf(Buffer.from(box.subarray(0, 16)))).toBe(-1);
        expect(blob.indexOf(Buffer.from(box.subarray(128, 144)))).toBe(-1);
      }
      expectAbsent(blob, [te0]);
    }
  });

  it('two sets of one key differ throughout (fresh encodings) and both decrypt', () => {
    const again = generateTables({ algorithm: WhiteboxAlgorithm.AES_256, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID });
    expect(commonPrefix(d.subarray(WB_HEADER_BYTES), again.subarray(WB_HEADER_BYTES))).toBeLessThan(16);
    expect(sameBytes(d.subarray(WB_HEADER_BYTES, -64), again.subarray(WB_HEADER_BYTES, -64))).toBeLessThan(0.02);
    const ct = crypto.createCipheriv('aes-256-ecb', key, null).setAutoPadding(false).update(Buffer.alloc(16, 0x5a));
    for (const blob of [d, again]) {
      const out = Buffer.alloc(16);
      loadTables(blob).block(ct, 0, out, 0);
      expect(out.equals(Buffer.alloc(16, 0x5a))).toBe(true);
    }
  });

  it('two keys’ sets share less than 1 KiB after the header', () => {
    const other = generateTables({ algorithm: WhiteboxAlgorithm.AES_256, direction: WhiteboxDirection.DECRYPT, key: crypto.randomBytes(32), keyId: KEY_ID });
    expect(commonPrefix(d.subarray(WB_HEADER_BYTES), other.subarray(WB_HEADER_BYTES))).toBeLessThan(1024);
  });

  it('has the documented size: 749,568 bytes of tables, 749,680 in all', () => {
    expect(describeTableSet(e)).toMatchObject({ tablesLength: 749_568, size: 749_680, rounds: 14, bound: false });
    expect(e.length).toBe(749_680);
  });
});

describe('SM4 table sets do not show the key', () => {
  const key = crypto.randomBytes(16);
  let e: Buffer;
  let d: Buffer;
  beforeAll(() => {
    e = generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.ENCRYPT, key, keyId: KEY_ID });
    d = generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID });
  });

  it('no 16-byte window equals the key or four consecutive round keys (big- or little-endian), nor the S-box', () => {
    const rk = sm4RoundKeys(key);
    const schedule = Buffer.alloc(128);
    rk.forEach((w, i) => schedule.writeUInt32BE(w, 4 * i));
    const patterns = [key];
    for (let i = 0; i + 16 <= 128; i += 4) patterns.push(schedule.subarray(i, i + 16));
    for (const blob of [e, d]) {
      expectAbsent(blob, patterns);
      expect(blob.indexOf(Buffer.from(SM4_SBOX))).toBe(-1);
      expect(blob.indexOf(Buffer.from(SM4_SBOX.subarray(0, 16)))).toBe(-1);
    }
  });

  it('two sets of one key differ, two keys’ sets share less than 1 KiB after the header', () => {
    const again = generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.ENCRYPT, key, keyId: KEY_ID });
    const other = generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.ENCRYPT, key: crypto.randomBytes(16), keyId: KEY_ID });
    expect(commonPrefix(e.subarray(WB_HEADER_BYTES), again.subarray(WB_HEADER_BYTES))).toBeLessThan(16);
    expect(sameBytes(e.subarray(WB_HEADER_BYTES, -64), again.subarray(WB_HEADER_BYTES, -64))).toBeLessThan(0.02);
    expect(commonPrefix(e.subarray(WB_HEADER_BYTES), other.subarray(WB_HEADER_BYTES))).toBeLessThan(1024);
  });

  it('has the documented size: 153,248 bytes of tables, 153,360 in all', () => {
    expect(describeTableSet(d)).toMatchObject({ tablesLength: 153_248, size: 153_360, rounds: 32 });
  });
});

describe('deterministic generation from seeds', () => {
  const seed = crypto.randomBytes(32);
  const bindingSeed = crypto.randomBytes(32);
  const tableSetId = crypto.randomBytes(16);

  it.each([
    ['AES-256', WhiteboxAlgorithm.AES_256, 32],
    ['SM4', WhiteboxAlgorithm.SM4, 16],
  ] as const)('%s: the same key, seeds and table-set id give the same bytes; another seed, direction or key id does not', (_n, algorithm, bytes) => {
    const key = crypto.randomBytes(bytes);
    const opts = { algorithm, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID, seed, bindingSeed, tableSetId };
    const a = generateTables(opts);
    expect(generateTables(opts).equals(a)).toBe(true);
    const body = (b: Buffer) => b.subarray(WB_HEADER_BYTES, WB_HEADER_BYTES + 4096);
    expect(body(generateTables({ ...opts, seed: crypto.randomBytes(32) })).equals(body(a))).toBe(false);
    expect(body(generateTables({ ...opts, direction: WhiteboxDirection.ENCRYPT })).equals(body(a))).toBe(false);
    expect(body(generateTables({ ...opts, keyId: OTHER_ID })).equals(body(a))).toBe(false);
    // Only the output encoding depends on the binding seed: the inner tables stay, the set differs.
    const rebound = generateTables({ ...opts, bindingSeed: crypto.randomBytes(32) });
    expect(body(rebound).equals(body(a))).toBe(true);
    expect(rebound.equals(a)).toBe(false);
  });
});

describe('the library is pure', () => {
  it('imports only node built-ins, sm-crypto-v2 and files of its own folder', () => {
    const dir = path.join(import.meta.dirname, '..', '..', 'src', 'crypto', 'whitebox');
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    let seen = 0;
    for (const f of files) {
      const text = readFileSync(path.join(dir, f), 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\b[^'";]*?from\s+'([^']+)'/gm)) {
        const spec = m[1]!;
        const ok = spec.startsWith('node:') || spec === 'sm-crypto-v2' || /^\.\/[a-z0-9-]+\.js$/.test(spec);
        expect(ok, `${f} imports ${spec}`).toBe(true);
        seen++;
      }
    }
    expect(seen).toBeGreaterThan(30);
  });
});
