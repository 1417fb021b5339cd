import type { RandomStream } from './drbg.js';
import { WhiteboxFormatError } from './errors.js';
import { type Affine, affineCompose, byteSliced32, matVec, randomAffinePair } from './gf2.js';
import { readWordsLE, writeWordsLE } from './words.js';
import { SM4_SBOX, sm4L } from './sm4.js';

// White-box SM4 after Xiao and Lai, "A Secure Implementation of White-Box SM4" (2009). Every state
// word X_i travels encoded by a random 32-bit affine map P_i. Round i (0 ≤ i ≤ 31):
//   s       = M_i1(P_{i+1}X) ⊕ M_i2(P_{i+2}X) ⊕ M_i3(P_{i+3}X)   M_ij = E_i ∘ P_{i+j}⁻¹
//             = E_i(X_{i+1} ⊕ X_{i+2} ⊕ X_{i+3}), E_i four random 8-bit affine maps E_ij
//   t       = T_i0[s byte 0] ⊕ … ⊕ T_i3[s byte 3]                   = Q_i(L(τ(… ⊕ rk_i)))
//             T_ij(e) = Q_i·L(S(E_ij⁻¹(e) ⊕ rk_ij) placed at byte j) ⊕ q_ij, the q_ij summing to Q_i's constant
//   P_{i+4}X_{i+4} = C_i(P_i X_i) ⊕ D_i(t)                           C_i = P_{i+4} ∘ P_i⁻¹, D_i = P_{i+4} ∘ Q_i⁻¹
// (one random constant moved between C_i and D_i, which between them carry P_{i+4}'s once).
// The external maps SE_j = P_j encode the input words; FE_j = G_j ∘ P_{35−j}⁻¹ decode the output
// words into the output encoding G (affine per word here, docs/whitebox.md). Decryption is the
// same construction with the round keys reversed. Words are big-endian (byte 0 = bits 24..31).

export const XIAO_LAI_SM4_ROUNDS = 32;
const AFFINE_BYTES = 132;
const ROUND_BYTES = 5 * AFFINE_BYTES + 4 * 1024;
export const XIAO_LAI_SM4_TABLES_BYTES = 8 * AFFINE_BYTES + XIAO_LAI_SM4_ROUNDS * ROUND_BYTES;

export interface XiaoLaiTables {
  /** Input maps SE_0..3. */
  readonly se: Affine[];
  /** M_i1, M_i2, M_i3 at 3i..3i+2. */
  readonly m: Affine[];
  /** T_ij at (4i + j)·256. */
  readonly t: Uint32Array;
  readonly c: Affine[];
  readonly d: Affine[];
  /** Output maps FE_0..3 (output word j is FE_j(P_{35−j}X_{35−j})). */
  readonly fe: Affine[];
}

/** The four byte maps E_ij (j = 0 at the top byte) as one block-diagonal 32-bit map. */
function blockDiagonal(maps: Affine[]): Affine {
  const m = new Uint32Array(32);
  let c = 0;
  for (let j = 0; j < 4; j++) {
    const shift = 24 - 8 * j;
    for (let b = 0; b < 8; b++) m[shift + b] = (maps[j]!.m[b]! << shift) >>> 0;
    c |= maps[j]!.c << shift;
  }
  return { m, c: c >>> 0 };
}

/** `roundKeys` in the order the rounds use them (reversed for decryption); `gOut` are G_0..3. */
export function generateXiaoLaiTables(roundKeys: Uint32Array, gOut: Affine[], rng: RandomStream): XiaoLaiTables {
  const p: { map: Affine; inv: Affine }[] = [];
  for (let i = 0; i < 36; i++) p.push(randomAffinePair(32, rng));
  const m: Affine[] = [];
  const c: Affine[] = [];
  const d: Affine[] = [];
  const t = new Uint32Array(XIAO_LAI_SM4_ROUNDS * 4 * 256);
  for (let i = 0; i < XIAO_LAI_SM4_ROUNDS; i++) {
    const e = [0, 1, 2, 3].map(() => randomAffinePair(8, rng));
    const ei = blockDiagonal(e.map((x) => x.map));
    for (let j = 1; j <= 3; j++) m.push(affineCompose(ei, p[i + j]!.inv));
    const q = randomAffinePair(32, rng);
    const mix = rng.u32();
    const ci = affineCompose(p[i + 4]!.map, p[i]!.inv);
    const di = affineCompose(p[i + 4]!.map, q.inv);
    c.push({ m: ci.m, c: (ci.c ^ mix) >>> 0 });
    d.push({ m: di.m, c: (di.c ^ p[i + 4]!.map.c ^ mix) >>> 0 });

    const split = [rng.u32(), rng.u32(), rng.u32()];
    const rk = roundKeys[i]!;
    for (let j = 0; j < 4; j++) {
      const shift = 24 - 8 * j;
      const kj = (rk >>> shift) & 255;
      const cj = j < 3 ? split[j]! : (q.map.c ^ split[0]! ^ split[1]! ^ split[2]!) >>> 0;
      const at = (4 * i + j) * 256;
      const eInv = e[j]!.inv;
      for (let x = 0; x < 256; x++) {
        const y = (matVec(eInv.m, x) ^ eInv.c) & 255;
        t[at + x] = (matVec(q.map.m, sm4L(SM4_SBOX[y ^ kj]! << shift)) ^ cj) >>> 0;
      }
    }
  }
  const se = [0, 1, 2, 3].map((j) => p[j]!.map);
  const fe = [0, 1, 2, 3].map((j) => affineCompose(gOut[j]!, p[35 - j]!.inv));
  return { se, m, t, c, d, fe };
}

/**
 * Replaces the output encoding in serialized tables, in place: FE_j ← G′_j ∘ G_j⁻¹ ∘ FE_j. The FE
 * maps are the final 528 bytes; nothing else depends on G, and no key is needed.
 */
export function reencodeXiaoLaiOutput(tables: Buffer, gInvOld: Affine[], gNew: Affine[]): void {
  for (let j = 0; j < 4; j++) {
    const at = XIAO_LAI_SM4_TABLES_BYTES - (4 - j) * AFFINE_BYTES;
    writeAffine(affineCompose(gNew[j]!, affineCompose(gInvOld[j]!, readAffine(tables, at))), tables, at);
  }
}

function writeAffine(a: Affine, out: Buffer, at: number): number {
  at = writeWordsLE(a.m, out, at);
  out.writeUInt32LE(a.c, at);
  return at + 4;
}

function readAffine(buf: Buffer, at: number): Affine {
  const m = new Uint32Array(32);
  readWordsLE(buf, at, m);
  return { m, c: buf.readUInt32LE(at + 128) };
}

/**
 * SE_0..3; per round M_i1, M_i2, M_i3, T_i0..T_i3 (256 uint32 LE each), C_i, D_i; FE_0..3. An
 * affine map is 132 bytes: its 32 columns (column k = image of bit k) then its constant, uint32 LE.
 */
export function serializeXiaoLaiTables(x: XiaoLaiTables): Buffer {
  const out = Buffer.alloc(XIAO_LAI_SM4_TABLES_BYTES);
  let at = 0;
  for (const a of x.se) at = writeAffine(a, out, at);
  for (let i = 0; i < XIAO_LAI_SM4_ROUNDS; i++) {
    for (let j = 0; j < 3; j++) at = writeAffine(x.m[3 * i + j]!, out, at);
    at = writeWordsLE(x.t.subarray(i * 1024, (i + 1) * 1024), out, at);
    at = writeAffine(x.c[i]!, out, at);
    at = writeAffine(x.d[i]!, out, at);
  }
  for (const a of x.fe) at = writeAffine(a, out, at);
  return out;
}

export function deserializeXiaoLaiTables(buf: Buffer): XiaoLaiTables {
  if (buf.length !== XIAO_LAI_SM4_TABLES_BYTES) throw new WhiteboxFormatError('malformed', `white-box tables: SM4 tables must be ${XIAO_LAI_SM4_TABLES_BYTES} bytes`);
  let at = 0;
  const next = () => {
    const a = readAffine(buf, at);
    at += AFFINE_BYTES;
    return a;
  };
  const se = [next(), next(), next(), next()];
  const m: Affine[] = [];
  const c: Affine[] = [];
  const d: Affine[] = [];
  const t = new Uint32Array(XIAO_LAI_SM4_ROUNDS * 1024);
  for (let i = 0; i < XIAO_LAI_SM4_ROUNDS; i++) {
    m.push(next(), next(), next());
    at = readWordsLE(buf, at, t.subarray(i * 1024, (i + 1) * 1024));
    c.push(next());
    d.push(next());
  }
  const fe = [next(), next(), next(), next()];
  return { se, m, t, c, d, fe };
}

/** The tables with every affine map expanded to four byte tables (xiao-lai runtime form). */
export interface XiaoLaiRuntime {
  readonly se: Uint32Array;
  readonly m: Uint32Array;
  readonly t: Uint32Array;
  readonly c: Uint32Array;
  readonly d: Uint32Array;
  readonly fe: Uint32Array;
}

function expandAll(maps: Affine[]): Uint32Array {
  const out = new Uint32Array(maps.length * 1024);
  for (let i = 0; i < maps.length; i++) byteSliced32(maps[i]!, out.subarray(i * 1024, (i + 1) * 1024));
  return out;
}

export function expandXiaoLai(x: XiaoLaiTables): XiaoLaiRuntime {
  return { se: expandAll(x.se), m: expandAll(x.m), t: x.t, c: expandAll(x.c), d: expandAll(x.d), fe: expandAll(x.fe) };
}

function ap(t: Uint32Array, at: number, x: number): number {
  return t[at | (x & 255)]! ^ t[(at + 256) | ((x >>> 8) & 255)]! ^ t[(at + 512) | ((x >>> 16) & 255)]! ^ t[(at + 768) | (x >>> 24)]!;
}

/**
 * One block: 4 input maps, 32 × (3 + 1 + 2) maps of 4 lookups each but the T step, 4 output maps;
 * 800 lookups. Output words are still under G; the caller removes it.
 */
export function xiaoLaiBlock(x: XiaoLaiRuntime, input: Uint8Array, inAt: number, out: Uint8Array, outAt: number): void {
  const word = (k: number) => ((input[inAt + k]! << 24) | (input[inAt + k + 1]! << 16) | (input[inAt + k + 2]! << 8) | input[inAt + k + 3]!) >>> 0;
  let y0 = ap(x.se, 0, word(0));
  let y1 = ap(x.se, 1024, word(4));
  let y2 = ap(x.se, 2048, word(8));
  let y3 = ap(x.se, 3072, word(12));
  const { m, t, c, d } = x;
  for (let i = 0; i < XIAO_LAI_SM4_ROUNDS; i++) {
    const mb = i * 3072;
    const s = ap(m, mb, y1) ^ ap(m, mb + 1024, y2) ^ ap(m, mb + 2048, y3);
    const tb = i * 1024;
    const v = t[tb | (s >>> 24)]! ^ t[(tb + 256) | ((s >>> 16) & 255)]! ^ t[(tb + 512) | ((s >>> 8) & 255)]! ^ t[(tb + 768) | (s & 255)]!;
    const y4 = ap(c, tb, y0) ^ ap(d, tb, v);
    y0 = y1;
    y1 = y2;
    y2 = y3;
    y3 = y4;
  }
  const put = (k: number, w: number) => {
    out[outAt + k] = w >>> 24;
    out[outAt + k + 1] = (w >>> 16) & 255;
    out[outAt + k + 2] = (w >>> 8) & 255;
    out[outAt + k + 3] = w & 255;
  };
  put(0, ap(x.fe, 0, y3));
  put(4, ap(x.fe, 1024, y2));
  put(8, ap(x.fe, 2048, y1));
  put(12, ap(x.fe, 3072, y0));
}
