import { AES_INV_SBOX, AES_SBOX, INV_MIX_COLUMNS, MIX_COLUMNS, gmul } from './aes.js';
import type { RandomStream } from './drbg.js';
import { WhiteboxFormatError } from './errors.js';
import { byteSliced32, randomInvertible, randomPermutation, sliced32Apply } from './gf2.js';
import { readWordsLE, writeWordsLE } from './words.js';

// White-box AES-256 after Chow, Eisen, Johnson and van Oorschot (SAC 2002), "variant A" of
// docs/whitebox.md: no 128-bit external encodings, a byte-wise output encoding G merged into the
// last round instead. The same code builds the encryption tables (E_K) and the decryption tables
// (D_K, the equivalent inverse cipher of FIPS-197 docs/contract/cam.md#resources: InvS, InvShiftRows, InvMixColumns and
// InvMixColumns-transformed middle round keys, see aes.ts).
//
// Round r (0 ≤ r ≤ 12), column c, input row k (table p = 4c + k):
//   Type II  p: encoded byte → nibble-encoded word  MB_rc · Ty_k(S(L_r⁻¹(byte) ⊕ K_r[src(p)]))
//   XOR      3 steps × 8 nibbles fold the column's four words into MB_rc · MixColumns(column)
//   Type III p: byte k of that word → nibble-encoded word  L_{r+1}(MB_rc⁻¹ · (byte << 8k))
//   XOR      3 steps × 8 nibbles fold those into L_{r+1}(next state column), nibble-encoded
// Last round, output byte p: G_p(S(L_13⁻¹(byte) ⊕ K_13[src(p)]) ⊕ K_14[p]).
// Words hold row j of a column in bits 8j..8j+7; nibble n of a word is bits 4n..4n+3. Each
// XOR table maps (encoded nibble a, encoded nibble b) → fresh encoding of a ⊕ b; the last XOR of a
// chain leaves the encoding the next table decodes. Round 0 reads plain input bytes: with no
// external input encoding there is nothing to undo there (a known weakness, docs/whitebox.md).

const NR = 14;
const MID = NR - 1;
const XORS_PER_STAGE = 96; // 4 columns × 3 steps × 8 nibbles
const TABLE_WORDS = 256;

export const CHOW_AES256_ROUNDS = NR;
export const CHOW_AES256_TABLES_BYTES = MID * (2 * 16 * TABLE_WORDS * 4 + 2 * XORS_PER_STAGE * 128) + 16 * 256;

export interface ChowTables {
  /** Type II, [round][p][byte], MID·16·256 words. */
  readonly ty: Uint32Array;
  /** XOR tables after Type II, [round][column][step][nibble][a << 4 | b], one nibble per byte in memory. */
  readonly xorTy: Uint8Array;
  /** Type III, [round][p][byte]. */
  readonly mbl: Uint32Array;
  readonly xorMbl: Uint8Array;
  /** Last round 8→8 tables with G merged, [p][byte]. */
  readonly last: Uint8Array;
}

/** Where the byte that ShiftRows (or InvShiftRows) moves to output position p = 4c + k comes from. */
export function chowSources(decrypt: boolean): Uint8Array {
  const src = new Uint8Array(16);
  for (let c = 0; c < 4; c++) for (let k = 0; k < 4; k++) src[4 * c + k] = k + 4 * ((decrypt ? c - k + 4 : c + k) & 3);
  return src;
}

/** Eight 4-bit bijections, nibble n at 16n: `p` encodes, `inv` decodes. */
interface WordEncoding {
  p: Uint8Array;
  inv: Uint8Array;
}

function randomWordEncoding(rng: RandomStream): WordEncoding {
  const p = new Uint8Array(128);
  const inv = new Uint8Array(128);
  for (let n = 0; n < 8; n++) {
    const perm = randomPermutation(16, rng);
    p.set(perm.p, 16 * n);
    inv.set(perm.inv, 16 * n);
  }
  return { p, inv };
}

function encodeWord(w: number, e: WordEncoding): number {
  let r = 0;
  for (let n = 0; n < 8; n++) r |= e.p[16 * n + ((w >>> (4 * n)) & 15)]! << (4 * n);
  return r >>> 0;
}

function decodeByte(e: WordEncoding, byteIndex: number, v: number): number {
  return e.inv[32 * byteIndex + (v & 15)]! | (e.inv[32 * byteIndex + 16 + (v >>> 4)]! << 4);
}

/** Three XOR steps folding four encoded words into one; returns the encoding of the result. */
function xorChain(out: Uint8Array, base: number, inputs: WordEncoding[], rng: RandomStream): WordEncoding {
  let acc = inputs[0]!;
  for (let s = 0; s < 3; s++) {
    const b = inputs[s + 1]!;
    const res = randomWordEncoding(rng);
    for (let n = 0; n < 8; n++) {
      const t = base + (s * 8 + n) * 256;
      for (let x = 0; x < 16; x++) {
        const dx = acc.inv[16 * n + x]!;
        for (let y = 0; y < 16; y++) out[t + ((x << 4) | y)] = res.p[16 * n + (dx ^ b.inv[16 * n + y]!)]!;
      }
    }
    acc = res;
  }
  return acc;
}

/**
 * Builds the tables from the 15 cipher round keys (aes.ts `aes256CipherKeys`, 240 bytes) and the
 * output bijections G (16 × 256 bytes, byte p's at 256p). All encodings are drawn from `rng`.
 */
export function generateChowTables(cipherKeys: Uint8Array, decrypt: boolean, g: Uint8Array, rng: RandomStream): ChowTables {
  const sbox = decrypt ? AES_INV_SBOX : AES_SBOX;
  const mc = decrypt ? INV_MIX_COLUMNS : MIX_COLUMNS;
  const src = chowSources(decrypt);
  const ty = new Uint32Array(MID * 16 * TABLE_WORDS);
  const mbl = new Uint32Array(MID * 16 * TABLE_WORDS);
  const xorTy = new Uint8Array(MID * XORS_PER_STAGE * 256);
  const xorMbl = new Uint8Array(MID * XORS_PER_STAGE * 256);
  const last = new Uint8Array(16 * 256);

  // Ty_k(y): y times column k of the (Inv)MixColumns matrix.
  const tyk = new Uint32Array(4 * 256);
  for (let k = 0; k < 4; k++) {
    for (let y = 0; y < 256; y++) {
      let w = 0;
      for (let j = 0; j < 4; j++) w |= gmul(mc[j]![k]!, y) << (8 * j);
      tyk[256 * k + y] = w >>> 0;
    }
  }

  // inDec[256·i + e]: encoded state byte i → plain state byte, for the round being built.
  let inDec = new Uint8Array(16 * 256);
  for (let i = 0; i < 16; i++) for (let e = 0; e < 256; e++) inDec[256 * i + e] = e;

  for (let r = 0; r < MID; r++) {
    const lMap = new Uint8Array(16 * 256);
    const lInv = new Uint8Array(16 * 256);
    for (let i = 0; i < 16; i++) {
      const l = randomInvertible(8, rng);
      for (let x = 0; x < 256; x++) {
        let a = 0;
        let b = 0;
        for (let k = 0; k < 8; k++) {
          if ((x >>> k) & 1) {
            a ^= l.m[k]!;
            b ^= l.inv[k]!;
          }
        }
        lMap[256 * i + x] = a;
        lInv[256 * i + x] = b;
      }
    }
    const nextDec = new Uint8Array(16 * 256);

    for (let c = 0; c < 4; c++) {
      const mb = randomInvertible(32, rng);
      const mbS = byteSliced32({ m: mb.m, c: 0 });
      const mbInvS = byteSliced32({ m: mb.inv, c: 0 });

      const tyEnc: WordEncoding[] = [];
      for (let k = 0; k < 4; k++) {
        const p = 4 * c + k;
        const s = src[p]!;
        const key = cipherKeys[16 * r + s]!;
        const enc = randomWordEncoding(rng);
        tyEnc.push(enc);
        const at = (16 * r + p) * TABLE_WORDS;
        for (let e = 0; e < 256; e++) ty[at + e] = encodeWord(sliced32Apply(mbS, tyk[256 * k + sbox[inDec[256 * s + e]! ^ key]!]!), enc);
      }
      const mixed = xorChain(xorTy, (r * XORS_PER_STAGE + c * 24) * 256, tyEnc, rng);

      const mblEnc: WordEncoding[] = [];
      for (let k = 0; k < 4; k++) {
        const p = 4 * c + k;
        const enc = randomWordEncoding(rng);
        mblEnc.push(enc);
        const at = (16 * r + p) * TABLE_WORDS;
        for (let e = 0; e < 256; e++) {
          const v = sliced32Apply(mbInvS, decodeByte(mixed, k, e) << (8 * k));
          let w = 0;
          for (let j = 0; j < 4; j++) w |= lMap[256 * (4 * c + j) + ((v >>> (8 * j)) & 255)]! << (8 * j);
          mbl[at + e] = encodeWord(w >>> 0, enc);
        }
      }
      const state = xorChain(xorMbl, (r * XORS_PER_STAGE + c * 24) * 256, mblEnc, rng);
      for (let j = 0; j < 4; j++) {
        const i = 4 * c + j;
        for (let e = 0; e < 256; e++) nextDec[256 * i + e] = lInv[256 * i + decodeByte(state, j, e)]!;
      }
      mbS.fill(0);
      mbInvS.fill(0);
    }
    inDec.fill(0);
    inDec = nextDec;
    lMap.fill(0);
    lInv.fill(0);
  }

  for (let p = 0; p < 16; p++) {
    const s = src[p]!;
    const k13 = cipherKeys[16 * MID + s]!;
    const k14 = cipherKeys[16 * NR + p]!;
    for (let e = 0; e < 256; e++) last[256 * p + e] = g[256 * p + (sbox[inDec[256 * s + e]! ^ k13]! ^ k14)]!;
  }
  inDec.fill(0);
  tyk.fill(0);
  return { ty, xorTy, mbl, xorMbl, last };
}

/**
 * Replaces the output encoding in serialized tables, in place: last ← G′ ∘ G⁻¹ ∘ last. The last
 * round is the final 4,096 bytes; nothing else depends on G, and no key is needed.
 */
export function reencodeChowOutput(tables: Buffer, gInvOld: Uint8Array, gNew: Uint8Array): void {
  const at = CHOW_AES256_TABLES_BYTES - 16 * 256;
  for (let p = 0; p < 16; p++) for (let e = 0; e < 256; e++) tables[at + 256 * p + e] = gNew[256 * p + gInvOld[256 * p + tables[at + 256 * p + e]!]!]!;
}

function packNibbles(src: Uint8Array, out: Buffer, at: number): number {
  for (let i = 0; i < src.length; i += 2) out[at++] = src[i]! | (src[i + 1]! << 4);
  return at;
}

function unpackNibbles(buf: Buffer, at: number, dst: Uint8Array): number {
  for (let i = 0; i < dst.length; i += 2) {
    const v = buf[at++]!;
    dst[i] = v & 15;
    dst[i + 1] = v >>> 4;
  }
  return at;
}

/**
 * Per round r = 0..12: Type II (16 × 256 uint32 LE), its XOR tables (96 × 128 bytes, two
 * nibbles a byte, entry 2m in the low half), Type III, its XOR tables; then the 16 last-round
 * tables (16 × 256 bytes). 749,568 bytes.
 */
export function serializeChowTables(t: ChowTables): Buffer {
  const out = Buffer.alloc(CHOW_AES256_TABLES_BYTES);
  let at = 0;
  const words = 16 * TABLE_WORDS;
  const xors = XORS_PER_STAGE * 256;
  for (let r = 0; r < MID; r++) {
    at = writeWordsLE(t.ty.subarray(r * words, (r + 1) * words), out, at);
    at = packNibbles(t.xorTy.subarray(r * xors, (r + 1) * xors), out, at);
    at = writeWordsLE(t.mbl.subarray(r * words, (r + 1) * words), out, at);
    at = packNibbles(t.xorMbl.subarray(r * xors, (r + 1) * xors), out, at);
  }
  out.set(t.last, at);
  return out;
}

export function deserializeChowTables(buf: Buffer): ChowTables {
  if (buf.length !== CHOW_AES256_TABLES_BYTES) throw new WhiteboxFormatError('malformed', `white-box tables: AES-256 tables must be ${CHOW_AES256_TABLES_BYTES} bytes`);
  const ty = new Uint32Array(MID * 16 * TABLE_WORDS);
  const mbl = new Uint32Array(MID * 16 * TABLE_WORDS);
  const xorTy = new Uint8Array(MID * XORS_PER_STAGE * 256);
  const xorMbl = new Uint8Array(MID * XORS_PER_STAGE * 256);
  const words = 16 * TABLE_WORDS;
  const xors = XORS_PER_STAGE * 256;
  let at = 0;
  for (let r = 0; r < MID; r++) {
    at = readWordsLE(buf, at, ty.subarray(r * words, (r + 1) * words));
    at = unpackNibbles(buf, at, xorTy.subarray(r * xors, (r + 1) * xors));
    at = readWordsLE(buf, at, mbl.subarray(r * words, (r + 1) * words));
    at = unpackNibbles(buf, at, xorMbl.subarray(r * xors, (r + 1) * xors));
  }
  const last = Uint8Array.from(buf.subarray(at, at + 16 * 256));
  return { ty, xorTy, mbl, xorMbl, last };
}

// Nibble-wise XOR of two encoded words through eight consecutive tables starting at `t`.
function xorWords(x: Uint8Array, t: number, a: number, b: number): number {
  return (
    x[t | ((a & 15) << 4) | (b & 15)]! |
    (x[(t + 256) | (a & 0xf0) | ((b >>> 4) & 15)]! << 4) |
    (x[(t + 512) | ((a >>> 4) & 0xf0) | ((b >>> 8) & 15)]! << 8) |
    (x[(t + 768) | ((a >>> 8) & 0xf0) | ((b >>> 12) & 15)]! << 12) |
    (x[(t + 1024) | ((a >>> 12) & 0xf0) | ((b >>> 16) & 15)]! << 16) |
    (x[(t + 1280) | ((a >>> 16) & 0xf0) | ((b >>> 20) & 15)]! << 20) |
    (x[(t + 1536) | ((a >>> 20) & 0xf0) | ((b >>> 24) & 15)]! << 24) |
    (x[(t + 1792) | ((a >>> 24) & 0xf0) | (b >>> 28)]! << 28)
  );
}

/**
 * One block through the tables: 13 × (16 Type II + 96 XOR + 16 Type III + 96 XOR) + 16 = 2,928
 * lookups. The output is still under G; the caller removes it.
 */
export function chowBlock(t: ChowTables, src: Uint8Array, input: Uint8Array, inAt: number, out: Uint8Array, outAt: number, scratch: Uint8Array): void {
  const state = scratch.subarray(0, 16);
  const next = scratch.subarray(16, 32);
  for (let i = 0; i < 16; i++) state[i] = input[inAt + i]!;
  const { ty, mbl, xorTy, xorMbl } = t;
  for (let r = 0; r < MID; r++) {
    const tb = r * 16 * TABLE_WORDS;
    for (let c = 0; c < 4; c++) {
      const p = 4 * c;
      const w0 = ty[tb + p * 256 + state[src[p]!]!]!;
      const w1 = ty[tb + (p + 1) * 256 + state[src[p + 1]!]!]!;
      const w2 = ty[tb + (p + 2) * 256 + state[src[p + 2]!]!]!;
      const w3 = ty[tb + (p + 3) * 256 + state[src[p + 3]!]!]!;
      const xb = (r * XORS_PER_STAGE + c * 24) * 256;
      let m = xorWords(xorTy, xb, w0, w1);
      m = xorWords(xorTy, xb + 2048, m, w2);
      m = xorWords(xorTy, xb + 4096, m, w3);
      const v0 = mbl[tb + p * 256 + (m & 255)]!;
      const v1 = mbl[tb + (p + 1) * 256 + ((m >>> 8) & 255)]!;
      const v2 = mbl[tb + (p + 2) * 256 + ((m >>> 16) & 255)]!;
      const v3 = mbl[tb + (p + 3) * 256 + (m >>> 24)]!;
      let s = xorWords(xorMbl, xb, v0, v1);
      s = xorWords(xorMbl, xb + 2048, s, v2);
      s = xorWords(xorMbl, xb + 4096, s, v3);
      next[p] = s & 255;
      next[p + 1] = (s >>> 8) & 255;
      next[p + 2] = (s >>> 16) & 255;
      next[p + 3] = s >>> 24;
    }
    state.set(next);
  }
  const last = t.last;
  for (let p = 0; p < 16; p++) out[outAt + p] = last[p * 256 + state[src[p]!]!]!;
}
