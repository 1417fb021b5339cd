import { WhiteboxAlgorithm, type WhiteboxAlgorithmSpec, WhiteboxDirection, algorithmSpec } from './algorithms.js';
import { aesOutputEncoding, normaliseIdentity, openSlots, sm4OutputEncoding } from './binding.js';
import { chowBlock, chowSources, deserializeChowTables } from './chow-aes.js';
import { FingerprintNotBoundError, WhiteboxFormatError, WhiteboxPaddingError, WhiteboxParameterError, WrongTableDirectionError } from './errors.js';
import { keyIdBytes, parseTableSet, tableSetBytes } from './format.js';
import { byteSliced32 } from './gf2.js';
import { deserializeXiaoLaiTables, expandXiaoLai, xiaoLaiBlock } from './xiao-lai-sm4.js';

// The client side: CBC with PKCS#7 through a table set alone — no raw key, no token, no service
// (what `hsmkms whitebox encrypt|decrypt --key-file` runs). A DecryptKey opens what
// EncryptByWhiteBox (reference.ts) produced; an EncryptKey produces what node's aes-256-cbc or
// sm4-cbc would.

const BLOCK = 16;

export interface WhiteboxCipher {
  readonly algorithm: WhiteboxAlgorithm;
  readonly direction: WhiteboxDirection;
  readonly keyId: string;
  readonly tableSetId: Buffer;
  readonly bound: boolean;
  /** One block through the tables, output encoding removed: plain AES/SM4 of the set's direction. */
  block(input: Uint8Array, inAt: number, out: Uint8Array, outAt: number): void;
}

/**
 * Parses and expands a table set (base64 string or bytes). A bound set needs a listed identity;
 * an unbound set ignores `fingerprint`. The result is reusable: expansion costs more than a
 * 4 KiB message (docs/whitebox.md).
 */
export function loadTables(blob: Uint8Array | string, fingerprint?: string): WhiteboxCipher {
  const p = parseTableSet(tableSetBytes(blob));
  const spec = algorithmSpec(p.algorithm) as WhiteboxAlgorithmSpec;
  const kid = keyIdBytes(p.keyId);
  let seed: Buffer | undefined;
  if (!p.bound) seed = Buffer.from(p.seed!);
  else if (fingerprint === undefined || fingerprint.trim() === '')
    throw new FingerprintNotBoundError('fingerprint not bound to this key: the table set is bound to device fingerprints and none was given');
  else seed = openSlots(spec, normaliseIdentity(fingerprint), p.tableSetId, kid, p.headerBytes, p.slots);
  if (!seed) throw new FingerprintNotBoundError('fingerprint not bound to this key');
  const info = { algorithm: p.algorithm, direction: p.direction, keyId: p.keyId, tableSetId: p.tableSetId, bound: p.bound };
  try {
    if (p.algorithm === WhiteboxAlgorithm.AES_256) {
      const { g, gInv } = aesOutputEncoding(seed, p.direction, kid);
      g.fill(0);
      const t = deserializeChowTables(p.tables);
      const src = chowSources(p.direction === WhiteboxDirection.DECRYPT);
      const scratch = new Uint8Array(32);
      return {
        ...info,
        block(input, inAt, out, outAt) {
          chowBlock(t, src, input, inAt, out, outAt, scratch);
          for (let i = 0; i < BLOCK; i++) out[outAt + i] = gInv[(i << 8) | out[outAt + i]!]!;
        },
      };
    }
    if (p.algorithm === WhiteboxAlgorithm.SM4) {
      const x = expandXiaoLai(deserializeXiaoLaiTables(p.tables));
      const gInv = sm4OutputEncoding(seed, p.direction, kid).gInv.map((a) => byteSliced32(a));
      return {
        ...info,
        block(input, inAt, out, outAt) {
          xiaoLaiBlock(x, input, inAt, out, outAt);
          for (let j = 0; j < 4; j++) {
            const o = outAt + 4 * j;
            const w = (out[o]! << 24) | (out[o + 1]! << 16) | (out[o + 2]! << 8) | out[o + 3]!;
            const t = gInv[j]!;
            const v = t[w & 255]! ^ t[256 | ((w >>> 8) & 255)]! ^ t[512 | ((w >>> 16) & 255)]! ^ t[768 | (w >>> 24)]!;
            out[o] = v >>> 24;
            out[o + 1] = (v >>> 16) & 255;
            out[o + 2] = (v >>> 8) & 255;
            out[o + 3] = v & 255;
          }
        },
      };
    }
    throw new WhiteboxFormatError('malformed', `white-box tables: unknown algorithm ${p.algorithm}`);
  } finally {
    seed.fill(0);
  }
}

function resolve(tables: WhiteboxCipher | Uint8Array | string, fingerprint: string | undefined, direction: WhiteboxDirection): WhiteboxCipher {
  const c = typeof tables === 'string' || tables instanceof Uint8Array ? loadTables(tables, fingerprint) : tables;
  if (c.direction !== direction) {
    throw new WrongTableDirectionError(
      direction === WhiteboxDirection.DECRYPT
        ? 'this is an encryption table set (EncryptKey); decryption needs the DecryptKey'
        : 'this is a decryption table set (DecryptKey); encryption needs the EncryptKey',
    );
  }
  return c;
}

function checkIv(iv: Uint8Array): void {
  if (iv.length !== BLOCK) throw new WhiteboxParameterError('IV must be 16 bytes');
}

/** CBC encryption with PKCS#7 padding under an EncryptKey: always one block more than ⌊len/16⌋. */
export function whiteboxEncryptCbc(tables: WhiteboxCipher | Uint8Array | string, iv: Uint8Array, plaintext: Uint8Array, fingerprint?: string): Buffer {
  checkIv(iv);
  const c = resolve(tables, fingerprint, WhiteboxDirection.ENCRYPT);
  const pad = BLOCK - (plaintext.length % BLOCK);
  const out = Buffer.alloc(plaintext.length + pad);
  out.set(plaintext);
  out.fill(pad, plaintext.length);
  let prev: Uint8Array = iv;
  let prevAt = 0;
  for (let at = 0; at < out.length; at += BLOCK) {
    for (let i = 0; i < BLOCK; i++) out[at + i] ^= prev[prevAt + i]!;
    c.block(out, at, out, at);
    prev = out;
    prevAt = at;
  }
  return out;
}

/** CBC decryption under a DecryptKey; the padding is checked in full. */
export function whiteboxDecryptCbc(tables: WhiteboxCipher | Uint8Array | string, iv: Uint8Array, ciphertext: Uint8Array, fingerprint?: string): Buffer {
  checkIv(iv);
  if (ciphertext.length === 0 || ciphertext.length % BLOCK !== 0) throw new WhiteboxPaddingError('ciphertext length must be a positive multiple of 16 bytes');
  const c = resolve(tables, fingerprint, WhiteboxDirection.DECRYPT);
  const out = Buffer.alloc(ciphertext.length);
  for (let at = 0; at < ciphertext.length; at += BLOCK) {
    c.block(ciphertext, at, out, at);
    for (let i = 0; i < BLOCK; i++) out[at + i] ^= at === 0 ? iv[i]! : ciphertext[at - BLOCK + i]!;
  }
  const pad = out[out.length - 1]!;
  let bad = pad < 1 || pad > BLOCK;
  for (let i = 2; i <= pad && !bad; i++) bad = out[out.length - i] !== pad;
  if (bad) {
    out.fill(0);
    throw new WhiteboxPaddingError('bad PKCS#7 padding: wrong key, IV or damaged ciphertext');
  }
  const plain = Buffer.from(out.subarray(0, out.length - pad));
  out.fill(0);
  return plain;
}
