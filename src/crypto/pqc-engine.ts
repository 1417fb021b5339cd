import type { Token } from '../pkcs11/token.js';
import type { Kek } from './kek.js';
import { materialContext } from './key-material.js';
import { mlDsa65Sign, mlDsa65Verify, PqcAlgorithm, pqcDecrypt, pqcEncrypt } from './pqc.js';

// Post-quantum operations under a key version: the software module (docs/pqc.md) with the
// seed unsealed from the KEK for the call and wiped after, and ML-DSA-65 in the token when the
// key was made there (PKCS#11 3.2). The token's RNG supplies the KEM and signing randomness.

export interface PqcKeyRef {
  keyId: string;
  version: number;
  tokenResident: boolean;
  sealedMaterial: Buffer | null;
  publicKey: string;
}

export class PqcEngine {
  constructor(
    private readonly token: Token,
    private readonly kek: Kek,
  ) {}

  private async withSeed<T>(key: PqcKeyRef, fn: (seed: Buffer) => T): Promise<T> {
    if (!key.sealedMaterial) throw new Error(`key ${key.keyId} v${key.version} has no sealed seed`);
    const seed = await this.kek.open(key.sealedMaterial, materialContext(key.keyId, key.version));
    try {
      return fn(seed);
    } finally {
      seed.fill(0);
    }
  }

  /** ML-KEM-768 hybrid encryption; the AEAD follows the region's standard (AES-256-GCM or SM4-GCM). */
  async encrypt(key: PqcKeyRef, standard: 'FIPS' | 'SM', plaintext: Buffer): Promise<Buffer> {
    const algorithm = standard === 'SM' ? PqcAlgorithm.ML_KEM_768_SM4_GCM : PqcAlgorithm.ML_KEM_768_AES_256_GCM;
    const entropy = await this.token.random(44);
    try {
      return pqcEncrypt({ algorithm, keyId: key.keyId, version: key.version }, key.publicKey, plaintext, entropy.subarray(0, 32), entropy.subarray(32));
    } finally {
      entropy.fill(0);
    }
  }

  /** Throws DecryptFailedError for an altered blob. The caller wipes the plaintext. */
  decrypt(key: PqcKeyRef, blob: Buffer): Promise<Buffer> {
    return this.withSeed(key, (seed) => pqcDecrypt(blob, seed));
  }

  async sign(key: PqcKeyRef, message: Buffer): Promise<Buffer> {
    if (key.tokenResident) return this.token.mlDsaSign({ keyId: key.keyId, version: key.version }, message);
    const rnd = await this.token.random(32);
    try {
      return await this.withSeed(key, (seed) => mlDsa65Sign(seed, message, rnd));
    } finally {
      rnd.fill(0);
    }
  }

  verify(key: Pick<PqcKeyRef, 'publicKey'>, message: Buffer, signature: Buffer): boolean {
    return mlDsa65Verify(key.publicKey, message, signature);
  }
}
