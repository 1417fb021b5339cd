import { aadPrefix, assembleBlob, blobAad, BlobAlgorithm, canonicalContext, InvalidContextError, parseBlob } from '../crypto/blob.js';
import { assertWrappable, PublicKeyWrapError, wrapToPublicKey, type WrapAlgorithm } from '../crypto/public-wrap.js';
import type { KeyVersionRef, SymmetricEngine } from '../crypto/symmetric.js';
import { DecryptFailedError } from '../crypto/port.js';
import type { KeyRecord } from '../model/keys.js';
import type { KeyRepo } from '../store/key-repo.js';
import { EncryptionError, InvalidArgumentError, InvalidCiphertextError, InvalidKeyUsageError } from './errors.js';
import { isSymmetric, type Caller, type KeyService } from './keys.js';
import { TtlCache } from './cache.js';

// Symmetric operations under a CMK (docs/contract/actions.md#group-symmetric): Encrypt, Decrypt, ReEncrypt,
// GenerateDataKey, GenerateRandom. The key's state is checked by the state table (Encrypt
// needs Enabled; Decrypt also works Archived); the blob names key and version (crypto/blob.ts).

export interface PublicWrap {
  publicKeyPem: string;
  algorithm?: WrapAlgorithm;
}

function context(ctx: string | undefined): Buffer {
  try {
    return canonicalContext(ctx);
  } catch (err) {
    if (err instanceof InvalidContextError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

export class CryptoService {
  /**
   * Versions of token-resident keys that exist: a version row of such a key carries nothing
   * that changes (its material is the token object named by key id and version), and versions
   * go only with their key, whose row is read (or TTL-cached) first. Saves a query per call.
   * Software (SM4) versions are read per call: their sealed material can be cleared.
   */
  private readonly tokenVersions: TtlCache<string, KeyVersionRef>;

  constructor(
    private readonly keys: KeyService,
    private readonly repo: KeyRepo,
    private readonly engine: SymmetricEngine,
    cache: { enabled: boolean } = { enabled: false },
  ) {
    this.tokenVersions = new TtlCache({ ttlMs: cache.enabled ? Infinity : 0, maxEntries: 200_000 });
  }

  private async versionRef(key: KeyRecord, version: number): Promise<KeyVersionRef | undefined> {
    const read = async () => {
      const v = (await this.repo.versions(key.keyId)).find((x) => x.version === version);
      return (
        v && {
          keyId: key.keyId,
          version,
          spec: key.keySpec === 'SM4' ? ('SM4' as const) : ('AES_256' as const),
          tokenResident: key.tokenResident,
          sealedMaterial: v.sealedMaterial,
        }
      );
    };
    // Versions above current_version are reservations of a rotation in progress: never kept.
    if (key.tokenResident && version <= key.currentVersion)
      return this.tokenVersions.getOrLoad(`${key.keyId}:${version}`, read as () => Promise<KeyVersionRef>, (r) => r !== undefined);
    return read();
  }

  private async symmetricKey(caller: Caller, keyId: string, operation: 'Encrypt' | 'Decrypt'): Promise<KeyRecord> {
    const key = await this.keys.get(caller, keyId, operation);
    if (!isSymmetric(key)) throw new InvalidKeyUsageError(`key ${keyId} is ${key.keyUsage}, not ENCRYPT_DECRYPT`);
    return key;
  }

  private async seal(key: KeyRecord, plaintext: Buffer, ctx: Buffer): Promise<Buffer> {
    const ref = await this.versionRef(key, key.currentVersion);
    if (!ref) throw new InvalidArgumentError(`key ${key.keyId} has no usable version`);
    const prefix = aadPrefix({ algorithm: key.keySpec === 'SM4' ? BlobAlgorithm.SM4_GCM : BlobAlgorithm.AES_256_GCM, keyId: key.keyId, version: key.currentVersion });
    const sealed = await this.engine.encrypt(ref, plaintext, blobAad(prefix, ctx));
    return assembleBlob(prefix, sealed.iv, sealed.sealed);
  }

  async encrypt(caller: Caller, keyId: string, plaintext: Buffer, encryptionContext?: string): Promise<{ keyId: string; blob: Buffer }> {
    const ctx = context(encryptionContext);
    const key = await this.symmetricKey(caller, keyId, 'Encrypt');
    return { keyId: key.keyId, blob: await this.seal(key, plaintext, ctx) };
  }

  /** The caller wipes the returned plaintext after use. */
  async decrypt(caller: Caller, blob: Buffer, encryptionContext?: string): Promise<{ keyId: string; plaintext: Buffer; version: number; current: boolean }> {
    const ctx = context(encryptionContext);
    let parsed: ReturnType<typeof parseBlob>;
    try {
      parsed = parseBlob(blob);
    } catch {
      throw new InvalidCiphertextError('CiphertextBlob is not a valid ciphertext of this service');
    }
    const key = await this.symmetricKey(caller, parsed.keyId, 'Decrypt');
    const ref = await this.versionRef(key, parsed.version);
    if (!ref) throw new InvalidCiphertextError('CiphertextBlob names a key version that does not exist');
    try {
      const plaintext = await this.engine.decrypt(ref, parsed.algorithm, parsed.iv, parsed.sealed, blobAad(parsed.aadPrefix, ctx));
      return { keyId: key.keyId, plaintext, version: parsed.version, current: parsed.version === key.currentVersion };
    } catch (err) {
      if (err instanceof DecryptFailedError) throw new InvalidCiphertextError('the ciphertext could not be decrypted: it was altered, or the EncryptionContext differs');
      throw err;
    }
  }

  async reEncrypt(
    caller: Caller,
    blob: Buffer,
    opts: { destinationKeyId?: string; sourceContext?: string; destinationContext?: string },
  ): Promise<{ blob: Buffer; keyId: string; sourceKeyId: string; reEncrypted: boolean }> {
    const destCtx = context(opts.destinationContext);
    const src = await this.decrypt(caller, blob, opts.sourceContext);
    try {
      const destId = opts.destinationKeyId || src.keyId;
      // docs/contract/actions.md#group-symmetric: same key, no rotation since, same context → the input comes back unchanged.
      if (destId === src.keyId && src.current && context(opts.sourceContext).equals(destCtx)) {
        await this.symmetricKey(caller, destId, 'Encrypt');
        return { blob, keyId: destId, sourceKeyId: src.keyId, reEncrypted: false };
      }
      const dest = await this.symmetricKey(caller, destId, 'Encrypt');
      return { blob: await this.seal(dest, src.plaintext, destCtx), keyId: dest.keyId, sourceKeyId: src.keyId, reEncrypted: true };
    } finally {
      src.plaintext.fill(0);
    }
  }

  /** A data key from the token's RNG, sealed under the CMK. The caller wipes `plaintext`. */
  async generateDataKey(caller: Caller, keyId: string, bytes: number, encryptionContext?: string): Promise<{ keyId: string; plaintext: Buffer; blob: Buffer }> {
    const ctx = context(encryptionContext);
    const key = await this.symmetricKey(caller, keyId, 'Encrypt');
    const plaintext = await this.engine.random(bytes);
    try {
      return { keyId: key.keyId, plaintext, blob: await this.seal(key, plaintext, ctx) };
    } catch (err) {
      plaintext.fill(0);
      throw err;
    }
  }

  random(bytes: number): Promise<Buffer> {
    return this.engine.random(bytes);
  }

  /** EncryptionPublicKey: refuse a key (or algorithm) that cannot carry the plaintext, before anything is made. */
  checkCallerKey(wrap: PublicWrap): void {
    try {
      assertWrappable(wrap.publicKeyPem, wrap.algorithm);
    } catch (err) {
      if (err instanceof PublicKeyWrapError) throw new EncryptionError(err.message);
      throw err;
    }
  }

  /** EncryptionPublicKey: hand the plaintext back encrypted to the caller's own public key. */
  wrapForCaller(plaintext: Buffer, wrap: PublicWrap): Buffer {
    try {
      return wrapToPublicKey(plaintext, wrap.publicKeyPem, wrap.algorithm);
    } catch (err) {
      if (err instanceof PublicKeyWrapError) throw new EncryptionError(err.message);
      throw err;
    }
  }
}
