import { materialContext } from '../crypto/key-material.js';
import type { Kek } from '../crypto/kek.js';
import { mlDsa65Sign, mlDsa65Verify, parsePqcBlob, PqcAlgorithm, pqcDecrypt, pqcEncrypt } from '../crypto/pqc.js';
import { DecryptFailedError } from '../pkcs11/errors.js';
import type { Token } from '../pkcs11/token.js';
import type { KeyRecord, KeyRepo } from '../store/key-repo.js';
import { InvalidArgumentError, InvalidCiphertextError, InvalidKeyUsageError } from './errors.js';
import type { KeyOperation } from './key-state.js';
import type { Caller, KeyService } from './keys.js';
import { PQC_ENCRYPT_USAGE, PQC_SIGN_USAGE } from './service-info.js';

// Post-quantum operations (kms-api.md §4.8): PostQuantumCryptoEncrypt / Decrypt (ML-KEM-768
// hybrid, FIPS 203) and PostQuantumCryptoSign / Verify (ML-DSA-65, FIPS 204). State rules as the
// contract gives them (§2.3): Encrypt like Encrypt (Enabled only), Decrypt like Decrypt (also
// Archived), Sign/Verify like the asymmetric ones. Private keys are software-module seeds sealed
// under the token KEK, unsealed per call and wiped after (SoftHSM2 has no ML-KEM / ML-DSA).

export class PqcService {
  constructor(
    private readonly keys: KeyService,
    private readonly repo: KeyRepo,
    private readonly token: Token,
    private readonly kek: Kek,
  ) {}

  private async key(caller: Caller, keyId: string, usage: string, operation: KeyOperation): Promise<KeyRecord> {
    const key = await this.keys.get(caller, keyId, operation);
    if (key.keyUsage !== usage) throw new InvalidKeyUsageError(`key ${keyId} is ${key.keyUsage}; this operation needs ${usage}`);
    return key;
  }

  private async version(key: KeyRecord, version = key.currentVersion) {
    const v = (await this.repo.versions(key.keyId)).find((x) => x.version === version);
    if (!v?.sealedMaterial || !v.publicKey) throw new InvalidArgumentError(`key ${key.keyId} has no usable material`);
    return { sealed: v.sealedMaterial, publicKey: v.publicKey, version };
  }

  /** The public key alone (also of keys whose private half lives in a token). */
  private async publicKey(key: KeyRecord): Promise<string> {
    const v = (await this.repo.versions(key.keyId)).find((x) => x.version === key.currentVersion);
    if (!v?.publicKey) throw new InvalidArgumentError(`key ${key.keyId} has no public key`);
    return v.publicKey;
  }

  private async withSeed<T>(key: KeyRecord, sealed: Buffer, version: number, fn: (seed: Buffer) => T): Promise<T> {
    const seed = await this.kek.open(sealed, materialContext(key.keyId, version));
    try {
      return fn(seed);
    } finally {
      seed.fill(0);
    }
  }

  async encrypt(caller: Caller, keyId: string, plaintext: Buffer): Promise<{ keyId: string; blob: Buffer }> {
    const key = await this.key(caller, keyId, PQC_ENCRYPT_USAGE, 'Encrypt');
    const v = await this.version(key);
    // The AEAD follows the region's standard: AES-256-GCM (FIPS) or SM4-GCM (SM).
    const algorithm = caller.region.standard === 'SM' ? PqcAlgorithm.ML_KEM_768_SM4_GCM : PqcAlgorithm.ML_KEM_768_AES_256_GCM;
    const entropy = await this.token.random(44);
    try {
      const blob = pqcEncrypt({ algorithm, keyId: key.keyId, version: v.version }, v.publicKey, plaintext, entropy.subarray(0, 32), entropy.subarray(32));
      return { keyId: key.keyId, blob };
    } finally {
      entropy.fill(0);
    }
  }

  /** The caller wipes the plaintext. */
  async decrypt(caller: Caller, blob: Buffer): Promise<{ keyId: string; plaintext: Buffer }> {
    let header;
    try {
      header = parsePqcBlob(blob);
    } catch {
      throw new InvalidCiphertextError('CiphertextBlob is not a post-quantum ciphertext of this service');
    }
    const key = await this.key(caller, header.keyId, PQC_ENCRYPT_USAGE, 'Decrypt');
    let v;
    try {
      v = await this.version(key, header.version);
    } catch {
      throw new InvalidCiphertextError('CiphertextBlob names a key version that does not exist');
    }
    try {
      return { keyId: key.keyId, plaintext: await this.withSeed(key, v.sealed, v.version, (seed) => pqcDecrypt(blob, seed)) };
    } catch (err) {
      if (err instanceof DecryptFailedError) throw new InvalidCiphertextError('the ciphertext could not be decrypted: it was altered');
      throw err;
    }
  }

  async sign(caller: Caller, keyId: string, message: Buffer): Promise<Buffer> {
    const key = await this.key(caller, keyId, PQC_SIGN_USAGE, 'UseAsymmetric');
    // Made in a token with PKCS#11 3.2 ML-DSA (KMS_PQC_ENGINE): signed there.
    if (key.tokenResident) return this.token.mlDsaSign({ keyId: key.keyId, version: key.currentVersion }, message);
    const v = await this.version(key);
    const rnd = await this.token.random(32);
    try {
      return await this.withSeed(key, v.sealed, v.version, (seed) => mlDsa65Sign(seed, message, rnd));
    } finally {
      rnd.fill(0);
    }
  }

  async verify(caller: Caller, keyId: string, message: Buffer, signature: Buffer): Promise<boolean> {
    const key = await this.key(caller, keyId, PQC_SIGN_USAGE, 'UseAsymmetric');
    return mlDsa65Verify(await this.publicKey(key), message, signature);
  }
}
