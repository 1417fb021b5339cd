import type { RandomStream } from './drbg.js';

// Linear and affine maps over GF(2)^n, n ≤ 32, the encodings both constructions are made of.
// A matrix is stored by columns: column k is the image of the unit vector 1 << k, so applying it
// is the XOR of the columns whose bit is set in the input.

export type Matrix = Uint32Array;

export interface Affine {
  readonly m: Matrix;
  readonly c: number;
}

export function matVec(m: Matrix, v: number): number {
  let r = 0;
  for (let k = 0; k < m.length; k++) if ((v >>> k) & 1) r ^= m[k]!;
  return r >>> 0;
}

/** a·b: first b, then a. */
export function matMul(a: Matrix, b: Matrix): Matrix {
  const out = new Uint32Array(b.length);
  for (let k = 0; k < b.length; k++) out[k] = matVec(a, b[k]!);
  return out;
}

export function identity(n: number): Matrix {
  const m = new Uint32Array(n);
  for (let k = 0; k < n; k++) m[k] = (1 << k) >>> 0;
  return m;
}

/**
 * Gauss–Jordan on rows; undefined if singular. Works in Int32Array so no intermediate becomes a
 * heap number: the runtime inverts its output maps before the JIT has warmed up.
 */
export function invert(m: Matrix): Matrix | undefined {
  const n = m.length;
  const rows = new Int32Array(n);
  const aug = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const col = m[j]! | 0;
    for (let i = 0; i < n; i++) if ((col >>> i) & 1) rows[i] = rows[i]! | (1 << j);
  }
  for (let i = 0; i < n; i++) aug[i] = 1 << i;
  for (let j = 0; j < n; j++) {
    const bit = 1 << j;
    let p = j;
    while (p < n && (rows[p]! & bit) === 0) p++;
    if (p === n) return undefined;
    if (p !== j) {
      let t = rows[p]!;
      rows[p] = rows[j]!;
      rows[j] = t;
      t = aug[p]!;
      aug[p] = aug[j]!;
      aug[j] = t;
    }
    const rj = rows[j]!;
    const aj = aug[j]!;
    for (let i = 0; i < n; i++) {
      if (i !== j && (rows[i]! & bit) !== 0) {
        rows[i] = rows[i]! ^ rj;
        aug[i] = aug[i]! ^ aj;
      }
    }
  }
  const inv = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const row = aug[i]!;
    for (let j = 0; j < n; j++) if ((row >>> j) & 1) inv[j] = inv[j]! | (1 << i);
  }
  return inv;
}

/** A uniformly random invertible n×n matrix and its inverse (about 3.5 draws on average). */
export function randomInvertible(n: number, rng: RandomStream): { m: Matrix; inv: Matrix } {
  const mask = n === 32 ? 0xffffffff : (1 << n) - 1;
  for (;;) {
    const m = new Uint32Array(n);
    for (let k = 0; k < n; k++) m[k] = (rng.u32() & mask) >>> 0;
    const inv = invert(m);
    if (inv) return { m, inv };
  }
}

export function affineApply(a: Affine, x: number): number {
  return (matVec(a.m, x) ^ a.c) >>> 0;
}

/** a∘b: first b, then a. */
export function affineCompose(a: Affine, b: Affine): Affine {
  return { m: matMul(a.m, b.m), c: (matVec(a.m, b.c) ^ a.c) >>> 0 };
}

export function affineInverse(a: Affine): Affine {
  const inv = invert(a.m);
  if (!inv) throw new Error('affine map is not invertible');
  return { m: inv, c: matVec(inv, a.c) };
}

export function randomAffinePair(n: number, rng: RandomStream): { map: Affine; inv: Affine } {
  const { m, inv } = randomInvertible(n, rng);
  const c = n === 32 ? rng.u32() : rng.u32() & ((1 << n) - 1);
  return { map: { m, c }, inv: { m: inv, c: matVec(inv, c) } };
}

/** A uniformly random permutation of 0..n−1 (Fisher–Yates) and its inverse. */
export function randomPermutation(n: number, rng: RandomStream): { p: Uint8Array; inv: Uint8Array } {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  const inv = new Uint8Array(n);
  for (let i = 0; i < n; i++) inv[p[i]!] = i;
  return { p, inv };
}

/**
 * A 32-bit affine map as four 256-entry tables, one per input byte (bits 8b..8b+7), the constant
 * folded into the first: apply(x) = t[x & 255] ^ t[256 + (x >>> 8 & 255)] ^ t[512 + …] ^ t[768 + …].
 * Written into `t` when given (1,024 entries), so a runtime can expand many maps into one array.
 */
export function byteSliced32(a: Affine, t: Uint32Array = new Uint32Array(1024)): Uint32Array {
  for (let b = 0; b < 4; b++) {
    const cols = a.m.subarray(8 * b, 8 * b + 8);
    t[256 * b] = 0;
    for (let x = 1; x < 256; x++) {
      const low = x & -x;
      const k = 31 - Math.clz32(low);
      t[256 * b + x] = (t[256 * b + (x ^ low)]! ^ cols[k]!) >>> 0;
    }
  }
  for (let x = 0; x < 256; x++) t[x] = (t[x]! ^ a.c) >>> 0;
  return t;
}

export function sliced32Apply(t: Uint32Array, x: number): number {
  return (t[x & 255]! ^ t[256 | ((x >>> 8) & 255)]! ^ t[512 | ((x >>> 16) & 255)]! ^ t[768 | (x >>> 24)]!) >>> 0;
}
