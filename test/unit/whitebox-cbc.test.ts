import crypto from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  WhiteboxAlgorithm,
  WhiteboxDirection,
  WhiteboxPaddingError,
  WhiteboxParameterError,
  WrongTableDirectionError,
  generateTables,
  loadTables,
  referenceDecryptCbc,
  referenceEncryptCbc,
  whiteboxDecryptCbc,
  whiteboxEncryptCbc,
} from '../../src/crypto/whitebox/index.js';

// The client runtime against the server's reference path (EncryptByWhiteBox): CBC with PKCS#7,
// the table set as the only secret the client holds, passed as the API's base64 string.

const KEY_ID = '0b7d5e3a-91c4-4f26-8e1d-2a6c4b9f7e35';
const LENGTHS = [0, 1, 15, 16, 17, 4096];

const cases = [
  { name: 'AES-256', algorithm: WhiteboxAlgorithm.AES_256, keyBytes: 32, node: 'aes-256-cbc' as const },
  { name: 'SM4', algorithm: WhiteboxAlgorithm.SM4, keyBytes: 16, node: 'sm4-cbc' as const },
];

describe.each(cases)('$name CBC/PKCS#7 through the tables', ({ algorithm, keyBytes, node }) => {
  const key = crypto.randomBytes(keyBytes);
  let encryptKey = '';
  let decryptKey = '';

  beforeAll(() => {
    encryptKey = generateTables({ algorithm, direction: WhiteboxDirection.ENCRYPT, key, keyId: KEY_ID }).toString('base64');
    decryptKey = generateTables({ algorithm, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID }).toString('base64');
  });

  it.each(LENGTHS)('the DecryptKey alone opens EncryptByWhiteBox output of %i bytes', (n) => {
    const iv = crypto.randomBytes(16);
    const plaintext = crypto.randomBytes(n);
    const ciphertext = referenceEncryptCbc(algorithm, key, iv, plaintext);
    expect(ciphertext.length).toBe((Math.floor(n / 16) + 1) * 16);
    expect(whiteboxDecryptCbc(decryptKey, iv, ciphertext).equals(plaintext)).toBe(true);
  });

  it.each(LENGTHS)('the EncryptKey produces EncryptByWhiteBox output byte for byte for %i bytes, and node opens it', (n) => {
    const iv = crypto.randomBytes(16);
    const plaintext = crypto.randomBytes(n);
    const ciphertext = whiteboxEncryptCbc(encryptKey, iv, plaintext);
    expect(ciphertext.equals(referenceEncryptCbc(algorithm, key, iv, plaintext))).toBe(true);
    const d = crypto.createDecipheriv(node, key, iv);
    expect(Buffer.concat([d.update(ciphertext), d.final()]).equals(plaintext)).toBe(true);
    expect(referenceDecryptCbc(algorithm, key, iv, ciphertext).equals(plaintext)).toBe(true);
  });

  it('a 16-byte plaintext gains a full block of 0x10', () => {
    const iv = crypto.randomBytes(16);
    const plaintext = crypto.randomBytes(16);
    const c = whiteboxEncryptCbc(encryptKey, iv, plaintext);
    expect(c.length).toBe(32);
    const d = crypto.createDecipheriv(node, key, iv);
    d.setAutoPadding(false);
    const raw = Buffer.concat([d.update(c), d.final()]);
    expect(raw.subarray(16).equals(Buffer.alloc(16, 0x10))).toBe(true);
  });

  it('CBC chaining: the first block depends only on P₁ ⊕ IV (same Δ on both, same ciphertext)', () => {
    const iv = crypto.randomBytes(16);
    const plaintext = crypto.randomBytes(48);
    const delta = crypto.randomBytes(16);
    const shiftedIv = Buffer.from(iv.map((b, i) => b ^ delta[i]!));
    const shifted = Buffer.from(plaintext);
    for (let i = 0; i < 16; i++) shifted[i]! ^= delta[i]!;
    const a = whiteboxEncryptCbc(encryptKey, iv, plaintext);
    const b = whiteboxEncryptCbc(encryptKey, shiftedIv, shifted);
    expect(a.equals(b)).toBe(true);
    expect(whiteboxEncryptCbc(encryptKey, shiftedIv, plaintext).subarray(0, 16).equals(a.subarray(0, 16))).toBe(false);
  });

  it('a loaded table set is reused across messages and gives the same answers as the blob', () => {
    const loaded = loadTables(decryptKey);
    const iv = crypto.randomBytes(16);
    for (const n of [5, 33]) {
      const p = crypto.randomBytes(n);
      expect(whiteboxDecryptCbc(loaded, iv, referenceEncryptCbc(algorithm, key, iv, p)).equals(p)).toBe(true);
    }
  });

  it('wrong padding is a typed error, not garbage', () => {
    const iv = crypto.randomBytes(16);
    // Blocks encrypted without padding whose last bytes are not PKCS#7: 0x00, 0x11 (> 16), and 03 03 02.
    const unpadded = (last: Buffer) => {
      const c = crypto.createCipheriv(node, key, iv);
      c.setAutoPadding(false);
      return Buffer.concat([c.update(Buffer.concat([crypto.randomBytes(16 - last.length), last])), c.final()]);
    };
    for (const tail of [Buffer.from([0x00]), Buffer.from([0x11]), Buffer.from([3, 3, 2])]) {
      let caught: unknown;
      try {
        whiteboxDecryptCbc(decryptKey, iv, unpadded(tail));
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(WhiteboxPaddingError);
      expect((caught as WhiteboxPaddingError).code).toBe('BadPadding');
    }
    // The IV reaches only the first block: a one-block message with its last IV byte flipped fails.
    const one = referenceEncryptCbc(algorithm, key, iv, Buffer.alloc(15, 1));
    const badIv = Buffer.from(iv);
    badIv[15]! ^= 0x80;
    expect(() => whiteboxDecryptCbc(decryptKey, badIv, one)).toThrow(WhiteboxPaddingError);
    expect(() => whiteboxDecryptCbc(decryptKey, iv, Buffer.concat([one, Buffer.alloc(1)]))).toThrow(WhiteboxPaddingError);
    expect(() => whiteboxDecryptCbc(decryptKey, iv, Buffer.alloc(0))).toThrow(WhiteboxPaddingError);
  });

  it('refuses the wrong direction and a wrong IV length', () => {
    const iv = crypto.randomBytes(16);
    expect(() => whiteboxDecryptCbc(encryptKey, iv, Buffer.alloc(16))).toThrow(WrongTableDirectionError);
    expect(() => whiteboxEncryptCbc(decryptKey, iv, Buffer.alloc(16))).toThrow(WrongTableDirectionError);
    expect(() => whiteboxEncryptCbc(encryptKey, Buffer.alloc(12), Buffer.alloc(16))).toThrow(WhiteboxParameterError);
    expect(() => referenceEncryptCbc(algorithm, key.subarray(1), iv, Buffer.alloc(1))).toThrow(WhiteboxParameterError);
  });
});

describe('table generation inputs', () => {
  it('leaves the caller’s key as it was (the library wipes only its own copies)', () => {
    const key = crypto.randomBytes(16);
    const copy = Buffer.from(key);
    generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.ENCRYPT, key, keyId: KEY_ID });
    expect(key.equals(copy)).toBe(true);
  });

  it('refuses a key of the wrong length and a key id that is not a UUID', () => {
    expect(() => generateTables({ algorithm: WhiteboxAlgorithm.AES_256, direction: WhiteboxDirection.ENCRYPT, key: Buffer.alloc(16), keyId: KEY_ID })).toThrow(
      WhiteboxParameterError,
    );
    expect(() => generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.ENCRYPT, key: Buffer.alloc(32), keyId: KEY_ID })).toThrow(WhiteboxParameterError);
    expect(() => generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.ENCRYPT, key: Buffer.alloc(16), keyId: 'not-a-uuid' })).toThrow(
      WhiteboxParameterError,
    );
    expect(() => generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.ENCRYPT, key: Buffer.alloc(16), keyId: KEY_ID, seed: Buffer.alloc(31) })).toThrow(
      WhiteboxParameterError,
    );
  });
});
