import { constants, createCipheriv, createHash, publicEncrypt, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Kek } from '../crypto/kek.js';
import { materialContext } from '../crypto/key-material.js';
import { DecryptFailedError, InvalidInputError, MaterialMismatchError } from '../pkcs11/errors.js';
import type { ObjectName } from '../pkcs11/templates.js';
import type { Token, TokenObjectInfo } from '../pkcs11/token.js';
import type { ImportParams, ImportRepo } from '../store/import-repo.js';
import type { KeyRecord, KeyRepo } from '../store/key-repo.js';
import {
  ImportMaterialSizeError,
  ImportMaterialUnreadableError,
  ImportTokenExpiredError,
  ImportTokenInvalidError,
  InvalidArgumentError,
  KeyInUseError,
  KeyNotFoundError,
  MaterialNotMatchError,
  NotExternalKeyError,
} from './errors.js';
import { transition } from './key-state.js';
import type { Caller, KeyService } from './keys.js';
import { KEY_ID } from './jobs.js';

// Bring your own key (kms-api.md §4.4): GetParametersForImport, ImportKeyMaterial,
// DeleteImportedKeyMaterial. Paths, by region standard and wrapping algorithm:
// - FIPS, RSAES_PKCS1_V1_5 / RSAES_OAEP_SHA_1 (and OAEP_SHA_256 on a token that has it):
//   C_UnwrapKey in the token; the material is never in this process (Token.importAesKey).
// - FIPS, RSAES_OAEP_SHA_256 on a token without it (SoftHSM2): raw RSA in the token, OAEP
//   decoded here, the 32 bytes re-encrypted at once to the same wrapping public key with
//   OAEP-SHA1 and wiped, then the in-token path. The material is in memory for microseconds.
// - SM regions: SM4 material lives in the software module anyway: RSA decryption in the token,
//   the 16 bytes sealed under the KEK and wiped.
// Re-import after deletion or expiry must be the same material: a keyed fingerprint (AES-CMAC
// under a token key of the material's key check value and the key id) is kept, never the material.

export type WrappingAlgorithm = 'RSAES_PKCS1_V1_5' | 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256';

/** The token layer's name for each wrapping algorithm: RSA decryption, and C_UnwrapKey. */
const RSA_DECRYPT_SCHEME = { RSAES_PKCS1_V1_5: 'pkcs1', RSAES_OAEP_SHA_1: 'oaep-sha1', RSAES_OAEP_SHA_256: 'oaep-sha256' } as const;
const UNWRAP_SCHEME: Record<WrappingAlgorithm, 'rsa-pkcs1' | 'rsa-oaep-sha1' | 'rsa-oaep-sha256'> = { RSAES_PKCS1_V1_5: 'rsa-pkcs1', RSAES_OAEP_SHA_1: 'rsa-oaep-sha1', RSAES_OAEP_SHA_256: 'rsa-oaep-sha256' };

const VALIDITY_SECONDS = 24 * 3600;
/** A claim older than this is an import that crashed midway: its wrapping pair is destroyed. */
const STALE_CLAIM_SECONDS = 600;
const STAGING_KEY: ObjectName = { keyId: 'import-staging', version: 1 };
const FINGERPRINT_KEY: ObjectName = { keyId: 'import-fingerprint', version: 1 };
const WRAP_PREFIX = 'wrap-';
const now = () => Math.floor(Date.now() / 1000);

const pairName = (importId: string): ObjectName => ({ keyId: `${WRAP_PREFIX}${importId}`, version: 0 });
const hashToken = (importToken: string) => createHash('sha256').update(importToken, 'utf8').digest('hex');
const fingerprintContext = (keyId: string) => Buffer.from(`hsmkms-byok-fingerprint-v1:${keyId}:`, 'utf8');

export interface ImportParametersResult {
  keyId: string;
  importToken: string;
  publicKeyDer: Buffer;
  validTo: number;
}

export class ImportService {
  private internalKeys: Promise<void> | undefined;

  constructor(
    private readonly keys: KeyService,
    private readonly keyRepo: KeyRepo,
    private readonly repo: ImportRepo,
    private readonly token: Token,
    private readonly kek: Kek,
  ) {}

  /** Whether the token unwraps OAEP-SHA256 itself (profile); otherwise the raw-RSA path. */
  get nativeOaepSha256(): boolean {
    return this.token.supports('CKM_RSA_PKCS_OAEP_SHA256');
  }

  async parameters(caller: Caller, keyId: string, algorithm: WrappingAlgorithm): Promise<ImportParametersResult> {
    const key = await this.externalKey(caller, keyId);
    transition(keyId, 'ImportMaterial', key.state);
    await this.ensureInternalKeys();
    // A new set of parameters supersedes the key's unused ones.
    for (const old of await this.repo.unusedForKey(keyId)) await this.discard(old);
    const importId = randomUUID();
    const importToken = randomBytes(32).toString('base64');
    const createdAt = now();
    const params: ImportParams = {
      importId,
      tokenHash: hashToken(importToken),
      keyId,
      accountUin: caller.accountUin,
      region: caller.region.name,
      wrappingAlgorithm: algorithm,
      createdAt,
      validTo: createdAt + VALIDITY_SECONDS,
      usedAt: null,
      completedAt: null,
    };
    // The row first: every wrapping pair in the token has a row (the job destroys the rest).
    await this.repo.insert(params);
    try {
      await this.token.generateRsaKeyPair(pairName(importId), 2048, this.pairUsage(caller, algorithm));
      const { der } = await this.token.exportPublicKey(pairName(importId));
      return { keyId, importToken, publicKeyDer: der, validTo: params.validTo };
    } catch (err) {
      await this.discard(params).catch(() => undefined);
      throw err;
    }
  }

  async importMaterial(caller: Caller, keyId: string, importToken: string, encrypted: Buffer, validTo = 0): Promise<void> {
    const key = await this.externalKey(caller, keyId);
    transition(keyId, 'ImportMaterial', key.state);
    const t = now();
    if (validTo !== 0 && validTo <= t) throw new InvalidArgumentError('ValidTo must be in the future (Unix seconds), or 0 for material that never expires');
    const params = await this.repo.byTokenHash(hashToken(importToken));
    if (!params || params.keyId !== keyId || params.accountUin !== caller.accountUin || params.region !== caller.region.name) {
      throw new ImportTokenInvalidError(`ImportToken was not issued for key ${keyId}; call GetParametersForImport`);
    }
    if (params.validTo <= t) throw new ImportTokenExpiredError('ImportToken has expired (valid 24 hours); call GetParametersForImport again');
    if (params.usedAt !== null || !(await this.repo.claim(params, t))) {
      throw new ImportTokenExpiredError('ImportToken was already used or another import of this key is under way; call GetParametersForImport again');
    }
    let created = false;
    try {
      const expected = await this.repo.fingerprint(keyId);
      const outcome = await this.unwrapAndCheck(caller, key, params, encrypted, expected ? Buffer.from(expected, 'hex') : undefined);
      created = outcome.created;
      await this.keyRepo.transaction(async (trx) => {
        const current = await this.keyRepo.get(caller.accountUin, caller.region.name, keyId, trx);
        if (!current) throw new KeyNotFoundError(`key ${keyId} not found in ${caller.region.name}`);
        const state = transition(keyId, 'ImportMaterial', current.state);
        if (outcome.sealed) await this.keyRepo.completeVersion(keyId, 1, outcome.sealed, null, trx);
        await this.repo.keepFingerprint(keyId, outcome.fingerprint.toString('hex'), t, trx);
        if (!(await this.keyRepo.update(keyId, current.state, { state, hasMaterial: true, validTo }, trx))) throw new KeyNotFoundError(`key ${keyId} changed concurrently; retry`);
        await this.repo.complete(params.importId, t, trx);
      });
    } catch (err) {
      // Nothing half-done: the material made for this call goes, the token can be used again.
      if (created) await this.token.destroy({ keyId, version: 1 }).catch(() => undefined);
      await this.repo.unclaim(params.importId).catch(() => undefined);
      throw err;
    }
    // Spent: the pair goes now (else the job's next run); the row stays until it expires, so a
    // second use is refused as spent rather than unknown.
    await this.token.destroy(pairName(params.importId)).catch(() => undefined);
  }

  async deleteMaterial(caller: Caller, keyId: string): Promise<void> {
    const key = await this.externalKey(caller, keyId);
    const state = transition(keyId, 'DeleteImportedMaterial', key.state);
    if (!key.hasMaterial && state === key.state) return;
    await this.keyRepo.transaction(async (trx) => {
      if ((await this.keyRepo.bindingCount(keyId, trx)) > 0) throw new KeyInUseError(`key ${keyId} is bound to a cloud resource; unbind it first`);
      if (!(await this.keyRepo.update(keyId, key.state, { state, hasMaterial: false, validTo: 0 }, trx))) throw new KeyNotFoundError(`key ${keyId} changed concurrently; retry`);
      await this.keyRepo.clearSealedMaterial(keyId, trx);
    });
    // After the commit: a crash in between leaves an object of a key without material, which
    // reconciliation destroys (LifecycleJobs.reconcile).
    if (key.tokenResident) await this.token.destroy({ keyId, version: 1 });
  }

  /**
   * The lifecycle job's part: wrapping pairs of expired, abandoned or orphaned parameters,
   * pairs in the token without a row, and token material of EXTERNAL keys that have none (a
   * deletion that crashed after its commit) are destroyed. Returns what was cleaned.
   */
  async cleanup(atSeconds = now(), listed?: TokenObjectInfo[]): Promise<string[]> {
    const done: string[] = [];
    for (const p of await this.repo.finished(atSeconds, STALE_CLAIM_SECONDS)) {
      await this.discard(p);
      done.push(p.importId);
    }
    const rows = await this.repo.allIds();
    const objects = listed ?? (await this.token.listObjects());
    const keyObjects = [...new Set(objects.filter((o) => KEY_ID.test(o.name.keyId)).map((o) => o.name.keyId))];
    for (const keyId of await this.repo.materialLeftOver(keyObjects)) {
      await this.token.destroy({ keyId, version: 1 });
      done.push(keyId);
    }
    for (const o of objects) {
      if (!o.name.keyId.startsWith(WRAP_PREFIX)) continue;
      const importId = o.name.keyId.slice(WRAP_PREFIX.length);
      if (rows.has(importId) || done.includes(importId)) continue;
      await this.token.destroy(o.name);
      done.push(importId);
    }
    return done;
  }

  // ---------------------------------------------------------------------------------------

  private async externalKey(caller: Caller, keyId: string): Promise<KeyRecord> {
    const key = await this.keys.get(caller, keyId);
    if (key.origin !== 'EXTERNAL') throw new NotExternalKeyError(`key ${keyId} was created with KMS-generated material (Type 1); only EXTERNAL keys (Type 2) take imported material`);
    return key;
  }

  private pairUsage(caller: Caller, algorithm: WrappingAlgorithm): { unwrap?: boolean; decrypt?: boolean } {
    if (caller.region.standard === 'SM') return { decrypt: true }; // the material goes to the software module
    if (algorithm === 'RSAES_OAEP_SHA_256' && !this.nativeOaepSha256) return { unwrap: true, decrypt: true }; // raw RSA
    return { unwrap: true };
  }

  private ensureInternalKeys(): Promise<void> {
    this.internalKeys ??= (async () => {
      if (!(await this.token.exists(STAGING_KEY))) await this.token.generateAesKey(STAGING_KEY, 256, { wrap: true, unwrap: true });
      if (!(await this.token.exists(FINGERPRINT_KEY))) await this.token.generateAesKey(FINGERPRINT_KEY, 256, { sign: true });
    })().catch((err) => {
      this.internalKeys = undefined;
      throw err;
    });
    return this.internalKeys;
  }

  private async unwrapAndCheck(
    caller: Caller,
    key: KeyRecord,
    params: ImportParams,
    encrypted: Buffer,
    expected: Buffer | undefined,
  ): Promise<{ fingerprint: Buffer; created: boolean; sealed?: Buffer }> {
    await this.ensureInternalKeys();
    const pair = pairName(params.importId);
    const algorithm = params.wrappingAlgorithm as WrappingAlgorithm;
    const context = fingerprintContext(key.keyId);
    try {
      if (caller.region.standard === 'SM') {
        const material = await this.token.rsaDecrypt(pair, encrypted, RSA_DECRYPT_SCHEME[algorithm]);
        try {
          if (material.length !== 16) throw new ImportMaterialSizeError('key material must be 128 bits (16 bytes) for SM4 keys in SM regions');
          const fingerprint = await this.token.cmac(FINGERPRINT_KEY, Buffer.concat([context, sm4Kcv(material)]));
          if (expected && !timingSafeEqual(expected, fingerprint)) throw new MaterialNotMatchError('the key material differs from the material imported before into this key');
          const sealed = key.hasMaterial ? undefined : await this.kek.seal(material, materialContext(key.keyId, 1));
          return { fingerprint, created: false, sealed };
        } finally {
          material.fill(0);
        }
      }
      let scheme = UNWRAP_SCHEME[algorithm];
      let wrapped = encrypted;
      if (scheme === 'rsa-oaep-sha256' && !this.nativeOaepSha256) {
        const material = await this.token.rsaDecrypt(pair, encrypted, 'oaep-sha256');
        try {
          if (material.length !== 32) throw new ImportMaterialSizeError('key material must be 256 bits (32 bytes) for AES keys in FIPS regions');
          const { keyObject } = await this.token.exportPublicKey(pair);
          wrapped = publicEncrypt({ key: keyObject, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, material);
          scheme = 'rsa-oaep-sha1';
        } finally {
          material.fill(0);
        }
      }
      const fingerprint = await this.token.importAesKey({
        unwrapper: pair,
        scheme,
        wrapped,
        bytes: 32,
        staging: STAGING_KEY,
        fingerprint: { key: FINGERPRINT_KEY, context },
        expectFingerprint: expected,
        // Material already present (re-import to set a new ValidTo): checked, not replaced.
        target: key.hasMaterial ? undefined : { name: { keyId: key.keyId, version: 1 }, usage: { encrypt: true, decrypt: true } },
      });
      return { fingerprint, created: !key.hasMaterial };
    } catch (err) {
      if (err instanceof DecryptFailedError) throw new ImportMaterialUnreadableError('EncryptedKeyMaterial could not be unwrapped with this ImportToken’s wrapping key and algorithm');
      if (err instanceof InvalidInputError) throw new ImportMaterialSizeError('key material must be 256 bits (32 bytes) for AES keys in FIPS regions');
      if (err instanceof MaterialMismatchError) throw new MaterialNotMatchError('the key material differs from the material imported before into this key');
      throw err;
    }
  }

  /** Forget parameters: the wrapping pair first, then the row. */
  private async discard(p: ImportParams): Promise<void> {
    await this.token.destroy(pairName(p.importId));
    await this.repo.delete(p.importId);
  }
}

/** SM4 key check value: SM4-ECB of a zero block (Node's OpenSSL). */
function sm4Kcv(key: Buffer): Buffer {
  const c = createCipheriv('sm4-ecb', key, null).setAutoPadding(false);
  return Buffer.concat([c.update(Buffer.alloc(16)), c.final()]);
}
