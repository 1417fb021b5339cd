// The AES pieces table generation needs (FIPS-197): S-box and inverse, GF(2^8) products for
// (Inv)MixColumns, the AES-256 key schedule and the round keys of the equivalent inverse cipher
// (docs/contract/cam.md#resources). Bulk AES is node:crypto's; this file only feeds the generator and the tests.

export function gmul(a: number, b: number): number {
  let p = 0;
  for (let i = 0; i < 8; i++) {
    if (b & 1) p ^= a;
    const hi = a & 0x80;
    a = (a << 1) & 0xff;
    if (hi) a ^= 0x1b;
    b >>= 1;
  }
  return p;
}

// Built rather than written out: multiplicative inverse in GF(2^8) followed by the affine map of docs/contract/cam.md#identities.
function buildSboxes(): { sbox: Uint8Array; inv: Uint8Array } {
  const sbox = new Uint8Array(256);
  const inv = new Uint8Array(256);
  for (let x = 0; x < 256; x++) {
    let y = 0;
    if (x !== 0) for (y = 1; y < 256 && gmul(x, y) !== 1; y++);
    let s = 0x63;
    for (let i = 0; i < 5; i++) s ^= ((y << i) | (y >> (8 - i))) & 0xff;
    sbox[x] = s;
    inv[s] = x;
  }
  return { sbox, inv };
}

const built = buildSboxes();
export const AES_SBOX: Uint8Array = built.sbox;
export const AES_INV_SBOX: Uint8Array = built.inv;

/** MixColumns (row-major 4×4) and its inverse, coefficients of FIPS-197 docs/contract/cam.md#identities and docs/contract/cam.md#resources. */
export const MIX_COLUMNS = [
  [2, 3, 1, 1],
  [1, 2, 3, 1],
  [1, 1, 2, 3],
  [3, 1, 1, 2],
] as const;
export const INV_MIX_COLUMNS = [
  [0x0e, 0x0b, 0x0d, 0x09],
  [0x09, 0x0e, 0x0b, 0x0d],
  [0x0d, 0x09, 0x0e, 0x0b],
  [0x0b, 0x0d, 0x09, 0x0e],
] as const;

/** The 15 round keys of AES-256 as 240 bytes, round r at 16r, in state order (byte 4c+r = row r of column c). Caller wipes. */
export function aes256RoundKeys(key: Uint8Array): Uint8Array {
  const w = new Uint8Array(240);
  w.set(key.subarray(0, 32));
  let rcon = 1;
  for (let i = 8; i < 60; i++) {
    const t = w.slice(4 * (i - 1), 4 * i);
    if (i % 8 === 0) {
      const t0 = t[0]!;
      t[0] = AES_SBOX[t[1]!]! ^ rcon;
      t[1] = AES_SBOX[t[2]!]!;
      t[2] = AES_SBOX[t[3]!]!;
      t[3] = AES_SBOX[t0]!;
      rcon = gmul(rcon, 2);
    } else if (i % 8 === 4) {
      for (let j = 0; j < 4; j++) t[j] = AES_SBOX[t[j]!]!;
    }
    for (let j = 0; j < 4; j++) w[4 * i + j] = w[4 * (i - 8) + j]! ^ t[j]!;
    t.fill(0);
  }
  return w;
}

/** One 16-byte state (or round key) through (Inv)MixColumns, in place. */
export function mixColumnsInPlace(state: Uint8Array, m: readonly (readonly number[])[]): void {
  const col = new Uint8Array(4);
  for (let c = 0; c < 4; c++) {
    for (let r = 0; r < 4; r++) {
      let v = 0;
      for (let k = 0; k < 4; k++) v ^= gmul(m[r]![k]!, state[4 * c + k]!);
      col[r] = v;
    }
    state.set(col, 4 * c);
  }
  col.fill(0);
}

/**
 * The round keys in the order a T-box cipher of either direction adds them: K_0 … K_14, where
 * encryption uses the schedule as is and decryption is the equivalent inverse cipher (FIPS-197
 * docs/contract/cam.md#resources): K_0 = w[14], K_r = InvMixColumns(w[14 − r]) for 1 ≤ r ≤ 13, K_14 = w[0]. Caller wipes.
 */
export function aes256CipherKeys(key: Uint8Array, decrypt: boolean): Uint8Array {
  const w = aes256RoundKeys(key);
  if (!decrypt) return w;
  const k = new Uint8Array(240);
  for (let r = 0; r <= 14; r++) {
    k.set(w.subarray(16 * (14 - r), 16 * (15 - r)), 16 * r);
    if (r >= 1 && r <= 13) mixColumnsInPlace(k.subarray(16 * r, 16 * r + 16), INV_MIX_COLUMNS);
  }
  w.fill(0);
  return k;
}
