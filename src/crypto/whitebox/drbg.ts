import { type Cipher, createCipheriv, hkdfSync } from 'node:crypto';
import { WhiteboxParameterError } from './errors.js';

// Every random choice of a table set comes from one of these streams, so a set is a pure function
// of its inputs and the service can keep a sealed 32-byte seed instead of a megabyte of tables
// (docs/whitebox.md). The stream is a block cipher in counter mode over zeros under a key
// HKDF-derived from the seed and a label naming the purpose, algorithm, direction and key id:
// the generate step of a CTR_DRBG (NIST SP 800-90A §10.2) without reseeding, which one generation
// (well under 2^32 blocks) never needs. AES keys draw from AES-256-CTR/HKDF-SHA256, SM4 keys from
// SM4-CTR/HKDF-SM3, so an SM table set involves no non-SM primitive in its secrets.

export const SEED_BYTES = 32;
const CHUNK = 8192;

export type StreamFamily = 'aes' | 'sm';

export class RandomStream {
  private readonly cipher: Cipher;
  private readonly zeros = new Uint8Array(CHUNK);
  private buf = new Uint8Array(0);
  private at = 0;

  constructor(family: StreamFamily, seed: Uint8Array, label: Uint8Array) {
    if (seed.length !== SEED_BYTES) throw new WhiteboxParameterError(`seed must be ${SEED_BYTES} bytes`);
    const key = Buffer.from(hkdfSync(family === 'aes' ? 'sha256' : 'sm3', seed, new Uint8Array(0), label, family === 'aes' ? 32 : 16));
    this.cipher = createCipheriv(family === 'aes' ? 'aes-256-ctr' : 'sm4-ctr', key, Buffer.alloc(16));
    key.fill(0);
  }

  private refill(): void {
    this.buf = this.cipher.update(this.zeros);
    this.at = 0;
  }

  u8(): number {
    if (this.at >= this.buf.length) this.refill();
    return this.buf[this.at++]!;
  }

  u32(): number {
    if (this.at + 4 > this.buf.length) this.refill();
    const b = this.buf;
    const i = this.at;
    this.at += 4;
    return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
  }

  /** Uniform in 0..n−1 for 1 ≤ n ≤ 256, by rejection (no modulo bias). */
  below(n: number): number {
    const limit = 256 - (256 % n);
    for (;;) {
      const b = this.u8();
      if (b < limit) return b % n;
    }
  }

  /** Drops the buffered keystream; the cipher context itself cannot be wiped from JavaScript. */
  wipe(): void {
    this.buf.fill(0);
    this.at = this.buf.length;
  }
}
