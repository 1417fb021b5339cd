import type { PqcEngine, PqcKeyRef } from '../crypto/pqc-engine.js';
import { parsePqcBlob } from '../crypto/pqc.js';
import { DecryptFailedError } from '../crypto/port.js';
import type { KeyRecord } from '../model/keys.js';
import type { KeyRepo } from '../store/key-repo.js';
import { InvalidArgumentError, InvalidCiphertextError, InvalidKeyUsageError } from './errors.js';
import type { KeyOperation } from './key-state.js';
import type { Caller, KeyService } from './keys.js';
import { PQC_ENCRYPT_USAGE, PQC_SIGN_USAGE } from './key-usages.js';

// Post-quantum operations (docs/contract/actions.md#group-pqc): PostQuantumCryptoEncrypt /
// Decrypt (ML-KEM-768 hybrid, FIPS 203) and PostQuantumCryptoSign / Verify (ML-DSA-65, FIPS 204).
// State rules as the contract gives them: Encrypt like Encrypt (Enabled only), Decrypt like
// Decrypt (also Archived), Sign/Verify like the asymmetric ones. The engine (crypto/pqc-engine.ts)
// keeps private seeds sealed under the token KEK and unseals them per call.

export class PqcService {
  constructor(
    private readonly keys: KeyService,
    private readonly repo: KeyRepo,
    private readonly engine: PqcEngine,
  ) {}

  private async key(caller: Caller, keyId: string, usage: string, operation: KeyOperation): Promise<KeyRecord> {
    const key = await this.keys.get(caller, keyId, operation);
    if (key.keyUsage !== usage) throw new InvalidKeyUsageError(`key ${keyId} is ${key.keyUsage}; this operation needs ${usage}`);
    return key;
  }

  /** A version of the key; `needsSeed` for operations on the private half held in the software module. */
  private async ref(key: KeyRecord, version: number, needsSeed: boolean): Promise<PqcKeyRef> {
    const v = (await this.repo.versions(key.keyId)).find((x) => x.version === version);
    if (!v?.publicKey || (needsSeed && !v.sealedMaterial)) throw new InvalidArgumentError(`key ${key.keyId} has no usable material`);
    return { keyId: key.keyId, version, tokenResident: key.tokenResident, sealedMaterial: v.sealedMaterial, publicKey: v.publicKey };
  }

  async encrypt(caller: Caller, keyId: string, plaintext: Buffer): Promise<{ keyId: string; blob: Buffer }> {
    const key = await this.key(caller, keyId, PQC_ENCRYPT_USAGE, 'Encrypt');
    const ref = await this.ref(key, key.currentVersion, true);
    return { keyId: key.keyId, blob: await this.engine.encrypt(ref, caller.region.standard, plaintext) };
  }

  /** The caller wipes the plaintext. */
  async decrypt(caller: Caller, blob: Buffer): Promise<{ keyId: string; plaintext: Buffer }> {
    let header: ReturnType<typeof parsePqcBlob>;
    try {
      header = parsePqcBlob(blob);
    } catch {
      throw new InvalidCiphertextError('CiphertextBlob is not a post-quantum ciphertext of this service');
    }
    const key = await this.key(caller, header.keyId, PQC_ENCRYPT_USAGE, 'Decrypt');
    let ref: PqcKeyRef;
    try {
      ref = await this.ref(key, header.version, true);
    } catch {
      throw new InvalidCiphertextError('CiphertextBlob names a key version that does not exist');
    }
    try {
      return { keyId: key.keyId, plaintext: await this.engine.decrypt(ref, blob) };
    } catch (err) {
      if (err instanceof DecryptFailedError) throw new InvalidCiphertextError('the ciphertext could not be decrypted: it was altered');
      throw err;
    }
  }

  async sign(caller: Caller, keyId: string, message: Buffer): Promise<Buffer> {
    const key = await this.key(caller, keyId, PQC_SIGN_USAGE, 'UseAsymmetric');
    // Made in a token with PKCS#11 3.2 ML-DSA (KMS_PQC_ENGINE): signed there, no seed.
    return this.engine.sign(await this.ref(key, key.currentVersion, !key.tokenResident), message);
  }

  async verify(caller: Caller, keyId: string, message: Buffer, signature: Buffer): Promise<boolean> {
    const key = await this.key(caller, keyId, PQC_SIGN_USAGE, 'UseAsymmetric');
    return this.engine.verify(await this.ref(key, key.currentVersion, false), message, signature);
  }
}
