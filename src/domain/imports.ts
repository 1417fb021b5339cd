import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ByokEngine, ImportedMaterial } from '../crypto/byok.js';
import type { KeyMaterialService } from '../crypto/key-material.js';
import { DecryptFailedError, InvalidInputError, MaterialMismatchError, MaterialSizeError, type TokenObjectInfo } from '../crypto/port.js';
import type { KeyRecord } from '../model/keys.js';
import type { ImportParams, ImportRepo } from '../store/import-repo.js';
import type { KeyRepo } from '../store/key-repo.js';
import {
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
import { CMK_ID } from './key-ids.js';
import type { Caller, KeyService } from './keys.js';
import { RSA_ENCRYPTION_ALGORITHMS, type RsaEncryptionAlgorithm } from './key-usages.js';

// Bring your own key (docs/contract/actions.md#group-import): GetParametersForImport,
// ImportKeyMaterial, DeleteImportedKeyMaterial. The parameters, their one-time token and the
// key's state are kept here; the wrapping pairs and the material itself are the engine's
// (crypto/byok.ts). Re-import after deletion or expiry must be the same material, checked by a
// keyed fingerprint the engine computes in the token.

export type WrappingAlgorithm = RsaEncryptionAlgorithm;

const VALIDITY_SECONDS = 24 * 3600;
/** A claim older than this is an import that crashed midway: its wrapping pair is destroyed. */
const STALE_CLAIM_SECONDS = 600;
const now = () => Math.floor(Date.now() / 1000);

const hashToken = (importToken: string) => createHash('sha256').update(importToken, 'utf8').digest('hex');

export interface ImportParametersResult {
  keyId: string;
  importToken: string;
  publicKeyDer: Buffer;
  validTo: number;
}

export class ImportService {
  constructor(
    private readonly keys: KeyService,
    private readonly keyRepo: KeyRepo,
    private readonly repo: ImportRepo,
    private readonly engine: ByokEngine,
    private readonly material: KeyMaterialService,
  ) {}

  async parameters(caller: Caller, keyId: string, algorithm: WrappingAlgorithm): Promise<ImportParametersResult> {
    const key = await this.externalKey(caller, keyId);
    transition(keyId, 'ImportMaterial', key.state);
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
      const der = await this.engine.createWrappingPair(importId, caller.region.standard, RSA_ENCRYPTION_ALGORITHMS[algorithm]);
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
      const outcome = await this.unwrapAndCheck(caller, key, params, encrypted, expected ?? undefined);
      created = outcome.created;
      await this.keyRepo.transaction(async (trx) => {
        const current = await this.keyRepo.get(caller.accountUin, caller.region.name, keyId, trx);
        if (!current) throw new KeyNotFoundError(`key ${keyId} not found in ${caller.region.name}`);
        const state = transition(keyId, 'ImportMaterial', current.state);
        if (outcome.sealed) await this.keyRepo.completeVersion(keyId, 1, outcome.sealed, null, trx);
        await this.repo.keepFingerprint(keyId, outcome.fingerprint, t, trx);
        if (!(await this.keyRepo.update(keyId, current.state, { state, hasMaterial: true, validTo }, trx))) throw new KeyNotFoundError(`key ${keyId} changed concurrently; retry`);
        await this.repo.complete(params.importId, t, trx);
      });
    } catch (err) {
      // Nothing half-done: the material made for this call goes. The ImportToken is spent all the
      // same: a token that survived failures let a caller ask its wrapping key, once per guess,
      // whether a ciphertext unwraps — Bleichenbacher's oracle on RSAES_PKCS1_V1_5
      // (docs/byok.md#one-attempt). The caller asks GetParametersForImport for a new pair.
      if (created) await this.material.destroy(keyId, 1, true).catch(() => undefined);
      await this.spend(params, t);
      throw err;
    }
    await this.spend(params, t, false);
  }

  /**
   * A used ImportToken: its pair goes now (else the job's next run); the row stays (completed
   * by the successful import, or here) until it expires, so a second use is refused as spent
   * rather than unknown.
   */
  private async spend(params: ImportParams, t: number, failed = true): Promise<void> {
    if (failed) await this.repo.complete(params.importId, t).catch(() => undefined);
    await this.engine.destroyWrappingPair(params.importId).catch(() => undefined);
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
    if (key.tokenResident) await this.material.destroy(keyId, 1, true);
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
    const objects = listed ?? (await this.material.listTokenObjects());
    const keyObjects = [...new Set(objects.filter((o) => CMK_ID.test(o.name.keyId)).map((o) => o.name.keyId))];
    for (const keyId of await this.repo.materialLeftOver(keyObjects)) {
      await this.material.destroy(keyId, 1, true);
      done.push(keyId);
    }
    for (const importId of this.engine.wrappingPairs(objects)) {
      if (rows.has(importId) || done.includes(importId)) continue;
      await this.engine.destroyWrappingPair(importId);
      done.push(importId);
    }
    return done;
  }

  // ---------------------------------------------------------------------------------------

  private async externalKey(caller: Caller, keyId: string): Promise<KeyRecord> {
    const key = await this.keys.get(caller, keyId);
    if (key.origin !== 'EXTERNAL')
      throw new NotExternalKeyError(`key ${keyId} was created with KMS-generated material (Type 1); only EXTERNAL keys (Type 2) take imported material`);
    return key;
  }

  private async unwrapAndCheck(caller: Caller, key: KeyRecord, params: ImportParams, encrypted: Buffer, expected: string | undefined): Promise<ImportedMaterial> {
    const sm = caller.region.standard === 'SM';
    try {
      return await this.engine.importMaterial({
        importId: params.importId,
        standard: caller.region.standard,
        scheme: RSA_ENCRYPTION_ALGORITHMS[params.wrappingAlgorithm as WrappingAlgorithm],
        encrypted,
        keyId: key.keyId,
        expectFingerprint: expected,
        hasMaterial: key.hasMaterial,
      });
    } catch (err) {
      // One answer for every way the ciphertext fails to unwrap into material of the right size
      // (bad padding, a decrypted value of the wrong length, a ciphertext the token refuses), so
      // the answer says nothing about the padding (docs/byok.md#one-attempt).
      if (err instanceof DecryptFailedError || err instanceof MaterialSizeError || err instanceof InvalidInputError)
        throw new ImportMaterialUnreadableError(
          `EncryptedKeyMaterial did not unwrap, with this ImportToken’s wrapping key and algorithm, into ${sm ? '128-bit (SM4)' : '256-bit (AES)'} key material; call GetParametersForImport again`,
        );
      if (err instanceof MaterialMismatchError) throw new MaterialNotMatchError('the key material differs from the material imported before into this key');
      throw err;
    }
  }

  /** Forget parameters: the wrapping pair first, then the row. */
  private async discard(p: ImportParams): Promise<void> {
    await this.engine.destroyWrappingPair(p.importId);
    await this.repo.delete(p.importId);
  }
}
