import { sm2 } from 'sm-crypto-v2';
import type { Kek } from './kek.js';
import { ML_DSA_65_SEED_BYTES, ML_KEM_768_SEED_BYTES, mlDsa65PemFromRaw, mlDsa65PublicKeyPem, mlKem768PublicKeyPem } from './pqc.js';
import type { Token, TokenObjectInfo } from '../pkcs11/token.js';
import type { ObjectName } from '../pkcs11/templates.js';
import type { KeySpec } from '../model/keys.js';
import type { KeyPlacement } from './placement.js';
import { pem } from './pem.js';

// Where a key version's material is made and destroyed. Token specs (AES, RSA, EC) are
// generated inside the token and never leave it; SM4 and SM2 are made in the software module
// and kept only sealed under the token KEK (SoftHSM2 has no GM/T mechanisms), or in the token
// when its profile declares vendor SM mechanisms (crypto/placement.ts, KMS_SM_ENGINE);
// ML-KEM-768 and ML-DSA-65 are made in the software module (SoftHSM2 has no PKCS#11 3.2
// post-quantum mechanisms) and kept only sealed under the token KEK — ML-DSA-65 in the token
// when its profile declares CKM_ML_DSA (KMS_PQC_ENGINE).

export type KeyPurpose = 'encrypt' | 'decrypt' | 'sign';

export interface NewMaterial {
  /** true: made in the token (never leaves it); false: sealed under the KEK. */
  tokenResident: boolean;
  sealedMaterial: Buffer | null;
  /** SubjectPublicKeyInfo PEM of asymmetric keys, kept for GetPublicKey. */
  publicKey: string | null;
}

/**
 * Where each kind of material is made: always in the token, always in the software module, or
 * where the placement (KMS_SM_ENGINE, KMS_PQC_ENGINE) puts that family.
 */
const RESIDENCE: Record<KeySpec, 'token' | 'software' | keyof Pick<KeyPlacement, 'sm2' | 'sm4' | 'mldsa'>> = {
  AES_256: 'token',
  RSA_2048: 'token',
  EC_P256: 'token',
  EC_P384: 'token',
  SM4: 'sm4',
  SM2: 'sm2',
  ML_DSA_65: 'mldsa',
  ML_KEM_768: 'software',
};

/** Material that only ever lives in the token (imported AES material goes there too). */
export const alwaysInToken = (spec: KeySpec): boolean => RESIDENCE[spec] === 'token';

// SubjectPublicKeyInfo header for an uncompressed SM2 point: id-ecPublicKey, curve sm2p256v1
// (OID 1.2.156.10197.1.301, GB/T 35276), BIT STRING of 66 bytes.
const SM2_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a811ccf5501822d034200', 'hex');

export const materialContext = (keyId: string, version: number) => `key:${keyId}:v${version}`;

export class KeyMaterialService {
  constructor(
    private readonly token: Token,
    private readonly kek: Kek,
    /** Where SM and ML-DSA keys are made (crypto/placement.ts); software when absent. */
    private readonly place: Pick<KeyPlacement, 'sm2' | 'sm4' | 'mldsa'> = { sm2: 'software', sm4: 'software', mldsa: 'software' },
  ) {}

  /** Whether a new key of this spec is made in the token. */
  inToken(spec: KeySpec): boolean {
    const r = RESIDENCE[spec];
    return r === 'token' || (r !== 'software' && this.place[r] === 'token');
  }

  /**
   * A version's material. `inToken` pins where (a rotation makes new versions where the key's
   * first version lives); by default the current placement decides.
   */
  async generate(keyId: string, version: number, spec: KeySpec, purpose: KeyPurpose, inToken = this.inToken(spec)): Promise<NewMaterial> {
    const name = { keyId, version };
    if (spec === 'SM4' && inToken) {
      await this.token.generate(name, { kind: 'sm4' });
      return { tokenResident: true, sealedMaterial: null, publicKey: null };
    }
    if (spec === 'SM2' && inToken) {
      const { publicKey } = await this.token.generate(name, { kind: 'sm2', usage: purpose === 'sign' ? { sign: true } : { decrypt: true } });
      return { tokenResident: true, sealedMaterial: null, publicKey: pem(Buffer.concat([SM2_SPKI_PREFIX, publicKey!])) };
    }
    if (spec === 'ML_DSA_65' && inToken) {
      const { publicKey } = await this.token.generate(name, { kind: 'ml-dsa-65' });
      return { tokenResident: true, sealedMaterial: null, publicKey: mlDsa65PemFromRaw(publicKey!) };
    }
    switch (spec) {
      case 'AES_256':
        await this.token.generate(name, { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
        return { tokenResident: true, sealedMaterial: null, publicKey: null };
      case 'RSA_2048':
        await this.token.generate(name, { kind: 'rsa', bits: 2048, usage: purpose === 'sign' ? { sign: true } : { decrypt: true } });
        return { tokenResident: true, sealedMaterial: null, publicKey: (await this.token.exportPublicKey(name)).pem };
      case 'EC_P256':
      case 'EC_P384':
        await this.token.generate(name, { kind: 'ec', curve: spec === 'EC_P256' ? 'P-256' : 'P-384', usage: { sign: true } });
        return { tokenResident: true, sealedMaterial: null, publicKey: (await this.token.exportPublicKey(name)).pem };
      case 'SM4': {
        const key = await this.token.random(16);
        try {
          return { tokenResident: false, sealedMaterial: await this.kek.seal(key, materialContext(keyId, version)), publicKey: null };
        } finally {
          key.fill(0);
        }
      }
      case 'SM2': {
        // sm-crypto-v2 returns hex strings, which JavaScript cannot wipe; the Buffer copy is.
        const pair = sm2.generateKeyPairHex();
        const priv = Buffer.from(pair.privateKey, 'hex');
        try {
          const sealed = await this.kek.seal(priv, materialContext(keyId, version));
          return { tokenResident: false, sealedMaterial: sealed, publicKey: pem(Buffer.concat([SM2_SPKI_PREFIX, Buffer.from(pair.publicKey, 'hex')])) };
        } finally {
          priv.fill(0);
        }
      }
      case 'ML_KEM_768':
      case 'ML_DSA_65': {
        // The FIPS 203/204 seed is the private key (d ‖ z, or ξ); the token's RNG draws it.
        const seed = await this.token.random(spec === 'ML_KEM_768' ? ML_KEM_768_SEED_BYTES : ML_DSA_65_SEED_BYTES);
        try {
          const publicKey = spec === 'ML_KEM_768' ? mlKem768PublicKeyPem(seed) : mlDsa65PublicKeyPem(seed);
          return { tokenResident: false, sealedMaterial: await this.kek.seal(seed, materialContext(keyId, version)), publicKey };
        } finally {
          seed.fill(0);
        }
      }
    }
  }

  /** Every object the service named in the token (reconciliation); fills the token layer's handle cache. */
  listTokenObjects(): Promise<TokenObjectInfo[]> {
    return this.token.listObjects();
  }

  tokenObjectExists(name: ObjectName): Promise<boolean> {
    return this.token.exists(name);
  }

  /** Destroy a named token object (a leftover of a create that crashed). Idempotent. */
  async destroyTokenObject(name: ObjectName): Promise<void> {
    await this.token.destroy(name);
  }

  /** Destroy a version's token objects (software material dies with its database row). Idempotent. */
  async destroy(keyId: string, version: number, tokenResident: boolean): Promise<void> {
    if (tokenResident) await this.token.destroy({ keyId, version });
  }
}
