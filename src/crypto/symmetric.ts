import { sm4 } from 'sm-crypto-v2';
import type { Kek } from './kek.js';
import { materialContext } from './key-material.js';
import { BlobAlgorithm } from './blob.js';
import { DecryptFailedError } from '../pkcs11/errors.js';
import type { Token } from '../pkcs11/token.js';

// Authenticated symmetric encryption under a CMK version: AES-256-GCM inside the token for
// FIPS keys, SM4-GCM (RFC 8998, sm-crypto-v2 — not sm-crypto, which silently runs ECB when
// asked for GCM: docs/contract/token-facts.md) in the software module for SM keys, whose material is unsealed
// from the KEK for the operation and wiped afterwards — or in the token for SM4 keys made
// there (vendor mechanisms, crypto/sm-placement.ts).

export interface Sealed {
  algorithm: BlobAlgorithm;
  iv: Buffer;
  /** ciphertext ‖ 16-byte tag */
  sealed: Buffer;
}

export interface KeyVersionRef {
  keyId: string;
  version: number;
  spec: 'AES_256' | 'SM4';
  /** true: a token key (AES, or SM4 with vendor mechanisms); false: SM4 material sealed under the KEK */
  tokenResident: boolean;
  sealedMaterial: Buffer | null;
}

export class SymmetricEngine {
  constructor(
    private readonly token: Token,
    private readonly kek: Kek,
  ) {}

  async encrypt(key: KeyVersionRef, plaintext: Buffer, aad: Buffer): Promise<Sealed> {
    if (key.spec === 'SM4' && key.tokenResident) {
      const r = await this.token.sm4GcmEncrypt({ keyId: key.keyId, version: key.version }, plaintext, aad);
      return { algorithm: BlobAlgorithm.SM4_GCM, iv: r.iv, sealed: r.ciphertext };
    }
    if (key.tokenResident) {
      const r = await this.token.aesGcmEncrypt({ keyId: key.keyId, version: key.version }, plaintext, aad);
      return { algorithm: BlobAlgorithm.AES_256_GCM, iv: r.iv, sealed: r.ciphertext };
    }
    const iv = await this.token.random(12);
    const material = await this.unseal(key);
    try {
      const r = sm4.encrypt(plaintext, material, { mode: 'gcm', iv, associatedData: aad, outputTag: true, output: 'array', padding: 'none' });
      return { algorithm: BlobAlgorithm.SM4_GCM, iv, sealed: Buffer.concat([Buffer.from(r.output), Buffer.from(r.tag!)]) };
    } finally {
      material.fill(0);
    }
  }

  /** Bytes from the token's random generator (data keys, GenerateRandom). */
  random(bytes: number): Promise<Buffer> {
    return this.token.random(bytes);
  }

  async decrypt(key: KeyVersionRef, algorithm: BlobAlgorithm, iv: Buffer, sealed: Buffer, aad: Buffer): Promise<Buffer> {
    const expected = key.spec === 'SM4' ? BlobAlgorithm.SM4_GCM : BlobAlgorithm.AES_256_GCM;
    if (algorithm !== expected || sealed.length <= 16) throw new DecryptFailedError('decrypt: failed');
    if (key.spec === 'SM4' && key.tokenResident) return this.token.sm4GcmDecrypt({ keyId: key.keyId, version: key.version }, iv, sealed, aad);
    if (key.tokenResident) return this.token.aesGcmDecrypt({ keyId: key.keyId, version: key.version }, iv, sealed, aad);
    const material = await this.unseal(key);
    try {
      const out = sm4.decrypt(sealed.subarray(0, sealed.length - 16), material, {
        mode: 'gcm',
        iv,
        associatedData: aad,
        tag: sealed.subarray(sealed.length - 16),
        output: 'array',
        padding: 'none',
      });
      return Buffer.from(out);
    } catch {
      throw new DecryptFailedError('decrypt: failed');
    } finally {
      material.fill(0);
    }
  }

  private async unseal(key: KeyVersionRef): Promise<Buffer> {
    if (!key.sealedMaterial) throw new DecryptFailedError('key material unavailable');
    return this.kek.open(key.sealedMaterial, materialContext(key.keyId, key.version));
  }
}
