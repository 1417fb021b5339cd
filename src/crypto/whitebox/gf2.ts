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

/** Gauss–Jordan on rows; undefined if singular. */
export function invert(m: Matrix): Matrix | undefined {
  const n = m.length;
  const rows = new Uint32Array(n);
  const aug = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let j = 0; j < n; j++) row |= ((m[j]! >>> i) & 1) << j;
    rows[i] = row >>> 0;
    aug[i] = (1 << i) >>> 0;
  }
  for (let j = 0; j < n; j++) {
    let p = j;
    while (p < n && !((rows[p]! >>> j) & 1)) p++;
    if (p === n) return undefined;
    if (p !== j) {
      [rows[p], rows[j]] = [rows[j]!, rows[p]!];
      [aug[p], aug[j]] = [aug[j]!, aug[p]!];
    }
    for (let i = 0; i < n; i++) {
      if (i !== j && (rows[i]! >>> j) & 1) {
        rows[i] = (rows[i]! ^ rows[j]!) >>> 0;
        aug[i] = (aug[i]! ^ aug[j]!) >>> 0;
      }
    }
  }
  const inv = new Uint32Array(n);
  for (let j = 0; j < n; j++) {
    let col = 0;
    for (let i = 0; i < n; i++) col |= ((aug[i]! >>> j) & 1) << i;
    inv[j] = col >>> 0;
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
 */
export function byteSliced32(a: Affine): Uint32Array {
  const t = new Uint32Array(1024);
  for (let b = 0; b < 4; b++) {
    const cols = a.m.subarray(8 * b, 8 * b + 8);
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
