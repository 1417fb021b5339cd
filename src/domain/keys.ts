import { StoreConflictError } from '../model/errors.js';
import { randomUUID } from 'node:crypto';
import type { Region } from '../config.js';
import type { KeyMaterialService, NewMaterial } from '../crypto/key-material.js';
import { alwaysInToken } from '../crypto/key-material.js';
import type { TokenCapabilities } from '../crypto/port.js';
import type { KeyListFilter, KeyPatch, KeyRecord, Origin, Tag, TagMatch } from '../model/keys.js';
import type { KeyRepo } from '../store/key-repo.js';
import {
  AliasExistsError,
  BindingNotFoundError,
  ExternalKeyCannotRotateError,
  InvalidKeyTypeError,
  KeyInUseError,
  KeyLimitError,
  KeyNotFoundError,
  RotationNotSupportedError,
  RotationRateLimitedError,
  RotationRunningError,
  UnsupportedKeyUsageError,
} from './errors.js';
import { transition, type KeyOperation, type KeyState } from './key-state.js';
import { TtlCache, type CacheEpoch } from './cache.js';
import { keyUsageEntry, missingMechanisms, variantFor } from './key-usages.js';

// CMK lifecycle use cases (docs/contract/actions.md#group-lifecycle, docs/contract/actions.md#group-rotation, docs/contract/actions.md#group-binding). Token objects are created before
// their metadata commits and destroyed after it is gone, so a crash leaves at most an orphan
// token object, which reconciliation removes; never a visible key without material.

export interface Caller {
  accountUin: string;
  /** The UIN acting: the root or a sub-account (KeyMetadata.CreatorUin). */
  userUin: string;
  region: Region;
}

const DAY = 86_400;
export const DEFAULT_ROTATE_DAYS = 365;
const now = () => Math.floor(Date.now() / 1000);

export const isSymmetric = (k: Pick<KeyRecord, 'keyUsage'>) => k.keyUsage === 'ENCRYPT_DECRYPT';

export interface CreateKeyInput {
  alias: string;
  description?: string;
  keyUsage?: string;
  /** 1 generated, 2 EXTERNAL (CreateKey `Type`, docs/contract/keys.md#type-and-origin). */
  origin: Origin;
  tags?: Tag[];
}

export interface ListInput {
  offset: number;
  limit: number;
  newestFirst: boolean;
  states?: KeyState[];
  origin?: Origin;
  keyUsages?: string[];
  search?: string;
  tagFilters?: KeyListFilter['tagFilters'];
}

/**
 * Key records for the data plane (Encrypt, Decrypt, signing and CAM's resource checks), reused
 * for a short TTL: a key's state, current version and tags are mutable, so an entry lives at
 * most `ttlMs` and is dropped at once when this process writes key rows (CacheEpoch). A change
 * made through another process or node is seen within `ttlMs` (docs/benchmarks.md). Records
 * are shared: callers never modify them.
 */
export class KeyReads {
  private readonly records: TtlCache<string, KeyRecord>;

  constructor(
    private readonly repo: KeyRepo,
    cache: { ttlMs: number; epoch?: CacheEpoch; maxEntries?: number } = { ttlMs: 0 },
  ) {
    this.records = new TtlCache({ ttlMs: cache.ttlMs, maxEntries: cache.maxEntries ?? 100_000, epoch: cache.epoch });
  }

  get(accountUin: string, region: string, keyId: string): Promise<KeyRecord | undefined> {
    return this.records.getOrLoad(
      `${accountUin}|${region}|${keyId}`,
      () => this.repo.get(accountUin, region, keyId) as Promise<KeyRecord>,
      (k) => k !== undefined,
    );
  }

  async getMany(accountUin: string, region: string, keyIds: string[]): Promise<KeyRecord[]> {
    const out: KeyRecord[] = [];
    const missing: string[] = [];
    for (const id of keyIds) {
      const hit = this.records.get(`${accountUin}|${region}|${id}`);
      if (hit) out.push(hit);
      else missing.push(id);
    }
    if (missing.length === 0) return out;
    if (missing.length === 1) {
      const k = await this.get(accountUin, region, missing[0]!);
      return k ? [...out, k] : out;
    }
    return [...out, ...(await this.repo.getMany(accountUin, region, missing))];
  }
}

/** Operations on the data plane, whose key reads may come from KeyReads. */
const DATA_PLANE: ReadonlySet<KeyOperation> = new Set<KeyOperation>(['Encrypt', 'Decrypt', 'UseAsymmetric']);

export class KeyService {
  private readonly reads: Pick<KeyRepo, 'get'>;

  constructor(
    private readonly repo: KeyRepo,
    private readonly material: KeyMaterialService,
    private readonly opts: {
      cmkLimit: number;
      /** What the token offers (key usages it cannot serve are refused). */
      capabilities: () => TokenCapabilities;
      /** The KMS guide's deletion alarm: any attempt to use a key pending deletion. */
      onPendingDeleteUse?: (key: KeyRecord, caller: Caller, operation: KeyOperation) => void;
      /** Cached key reads for the data plane; management operations always read the row. */
      reads?: KeyReads;
    },
  ) {
    this.reads = opts.reads ?? repo;
  }

  async create(caller: Caller, input: CreateKeyInput): Promise<KeyRecord> {
    const keyUsage = input.keyUsage ?? 'ENCRYPT_DECRYPT';
    const target = variantFor(caller.region, keyUsage);
    const purpose = keyUsageEntry(keyUsage)?.purpose;
    if (!target || !purpose) {
      throw new UnsupportedKeyUsageError(`key usage ${keyUsage} is not offered in ${caller.region.name} (${caller.region.standard}); ListAlgorithms lists what is`);
    }
    const missing = missingMechanisms(target, this.opts.capabilities());
    if (missing.length > 0) {
      throw new UnsupportedKeyUsageError(
        `key usage ${keyUsage} (${target.algorithm}) needs ${missing.join(', ')}, which this deployment's token does not offer; ListAlgorithms lists what it serves`,
      );
    }
    if (input.origin === 'EXTERNAL' && keyUsage !== 'ENCRYPT_DECRYPT') {
      throw new InvalidKeyTypeError('external key material is for symmetric ENCRYPT_DECRYPT keys only');
    }
    if (await this.repo.aliasTaken(caller.accountUin, caller.region.name, input.alias)) throw new AliasExistsError(`alias ${input.alias} is already used in ${caller.region.name}`);
    if ((await this.repo.count(caller.accountUin, caller.region.name)) >= this.opts.cmkLimit) {
      throw new KeyLimitError(`the account has reached its limit of ${this.opts.cmkLimit} keys in ${caller.region.name}`);
    }
    const keyId = randomUUID();
    const createdAt = now();
    const external = input.origin === 'EXTERNAL';
    // Several nodes share the token: the intent tells their reconciliation this object is being
    // created, not left over by a crash (it goes with the key row, or below on failure).
    if (!external) await this.repo.recordIntent(keyId, 1);
    let made: NewMaterial;
    try {
      // EXTERNAL keys get material from ImportKeyMaterial: AES into the token, SM4 sealed under the KEK.
      made = external ? { tokenResident: alwaysInToken(target.spec), sealedMaterial: null, publicKey: null } : await this.material.generate(keyId, 1, target.spec, purpose);
    } catch (err) {
      await this.repo.clearIntent(keyId, 1).catch(() => undefined);
      throw err;
    }
    const record: KeyRecord = {
      keyId,
      accountUin: caller.accountUin,
      region: caller.region.name,
      alias: input.alias,
      description: input.description ?? '',
      keyUsage,
      keySpec: target.spec,
      origin: input.origin,
      state: external ? 'PendingImport' : 'Enabled',
      creatorUin: caller.userUin,
      createdAt,
      deletionDate: 0,
      rotationEnabled: false,
      rotateDays: 0,
      nextRotateTime: 0,
      lastRotateTime: 0,
      validTo: 0,
      currentVersion: 1,
      tokenResident: made.tokenResident,
      hasMaterial: !external,
      tags: input.tags ?? [],
    };
    try {
      await this.repo.transaction(async (trx) => {
        // Checked again inside the transaction: the unique index is the final word.
        if (await this.repo.aliasTaken(caller.accountUin, caller.region.name, input.alias, trx))
          throw new AliasExistsError(`alias ${input.alias} is already used in ${caller.region.name}`);
        await this.repo.insert(record, { keyId, version: 1, createdAt, sealedMaterial: made.sealedMaterial, publicKey: made.publicKey }, trx);
      });
    } catch (err) {
      if (!external) {
        await this.material.destroy(keyId, 1, record.tokenResident).catch(() => undefined);
        await this.repo.clearIntent(keyId, 1).catch(() => undefined);
      }
      if (err instanceof StoreConflictError) throw new AliasExistsError(`alias ${input.alias} is already used in ${caller.region.name}`);
      throw err;
    }
    return record;
  }

  async get(caller: Caller, keyId: string, operation: KeyOperation = 'Read'): Promise<KeyRecord> {
    const key = await (DATA_PLANE.has(operation) ? this.reads : this.repo).get(caller.accountUin, caller.region.name, keyId);
    if (!key) throw new KeyNotFoundError(`key ${keyId} not found in ${caller.region.name}`);
    if (key.state === 'PendingDelete' && (operation === 'Encrypt' || operation === 'Decrypt' || operation === 'UseAsymmetric')) {
      this.opts.onPendingDeleteUse?.(key, caller, operation);
    }
    // EXTERNAL material past its ValidTo is unusable at once, before the lifecycle job moves
    // the key to PendingImport and destroys the material.
    const expired = key.origin === 'EXTERNAL' && key.validTo > 0 && key.validTo <= now() && key.state !== 'PendingDelete';
    transition(keyId, operation, expired && (operation === 'Encrypt' || operation === 'Decrypt') ? 'PendingImport' : key.state);
    return key;
  }

  /** DescribeKeys: every id must exist (the contract's CmkNotFound), returned in request order. */
  async getMany(caller: Caller, keyIds: string[]): Promise<KeyRecord[]> {
    const found = new Map((await this.repo.getMany(caller.accountUin, caller.region.name, keyIds)).map((k) => [k.keyId, k]));
    const missing = keyIds.find((id) => !found.has(id));
    if (missing) throw new KeyNotFoundError(`key ${missing} not found in ${caller.region.name}`);
    return keyIds.map((id) => found.get(id)!);
  }

  list(caller: Caller, input: ListInput): Promise<{ total: number; keys: KeyRecord[] }> {
    return this.repo.list({ accountUin: caller.accountUin, region: caller.region.name, ...input });
  }

  async updateAlias(caller: Caller, keyId: string, alias: string): Promise<void> {
    await this.change(caller, [keyId], 'UpdateMetadata', async (key, trx) => {
      if (key.alias === alias) return {};
      if (await this.repo.aliasTaken(caller.accountUin, caller.region.name, alias, trx)) throw new AliasExistsError(`alias ${alias} is already used in ${caller.region.name}`);
      return { alias };
    });
  }

  async updateDescription(caller: Caller, keyId: string, description: string): Promise<void> {
    await this.change(caller, [keyId], 'UpdateMetadata', async () => ({ description }));
  }

  /** EnableKey(s): validate every key, then apply all in one transaction (docs/contract/actions.md#group-lifecycle EnableKeys). */
  async enable(caller: Caller, keyIds: string[]): Promise<void> {
    await this.change(caller, keyIds, 'Enable', async () => ({}));
  }

  async disable(caller: Caller, keyIds: string[]): Promise<void> {
    await this.change(caller, keyIds, 'Disable', async (key, trx) => {
      await this.assertUnbound(key, trx);
      return {};
    });
  }

  async scheduleDeletion(caller: Caller, keyId: string, days: number): Promise<KeyRecord> {
    const deletionDate = now() + days * DAY;
    const [key] = await this.change(caller, [keyId], 'ScheduleDeletion', async (k, trx) => {
      await this.assertUnbound(k, trx);
      return { deletionDate };
    });
    return key!;
  }

  async cancelDeletion(caller: Caller, keyId: string): Promise<void> {
    await this.change(caller, [keyId], 'CancelDeletion', async () => ({ deletionDate: 0 }));
  }

  async archive(caller: Caller, keyId: string): Promise<void> {
    await this.change(caller, [keyId], 'Archive', async (key, trx) => {
      await this.assertUnbound(key, trx);
      return {};
    });
  }

  async cancelArchive(caller: Caller, keyId: string): Promise<void> {
    await this.change(caller, [keyId], 'CancelArchive', async () => ({}));
  }

  async enableRotation(caller: Caller, keyId: string, rotateDays = DEFAULT_ROTATE_DAYS): Promise<void> {
    // docs/contract/actions.md#group-rotation: EXTERNAL keys → ExternalCmkCanNotRotate, whatever their state.
    const key = await this.get(caller, keyId);
    if (key.origin === 'EXTERNAL') throw new ExternalKeyCannotRotateError('keys with external material cannot rotate');
    if (!isSymmetric(key)) throw new RotationNotSupportedError('only symmetric keys rotate');
    await this.change(caller, [keyId], 'ConfigureRotation', async (k) => ({ rotationEnabled: true, rotateDays, nextRotateTime: (k.lastRotateTime || now()) + rotateDays * DAY }));
  }

  async disableRotation(caller: Caller, keyId: string): Promise<void> {
    await this.change(caller, [keyId], 'ConfigureRotation', async () => ({ rotationEnabled: false, nextRotateTime: 0 }));
  }

  /**
   * RotateKey (docs/contract/actions.md#group-rotation): a symmetric, KMS-generated key with rotation enabled gets a new version,
   * used for new encryptions from now on; at most once per 24 hours.
   */
  async rotate(caller: Caller, keyId: string, at = now()): Promise<KeyRecord> {
    const key = await this.get(caller, keyId);
    if (key.origin === 'EXTERNAL' || !isSymmetric(key) || !key.rotationEnabled) {
      throw new RotationNotSupportedError('RotateKey needs a symmetric, KMS-generated key with rotation enabled');
    }
    transition(keyId, 'Rotate', key.state);
    if (key.lastRotateTime && at - key.lastRotateTime < DAY) throw new RotationRateLimitedError('a key can be rotated manually at most once every 24 hours');
    return this.addVersion(key, at);
  }

  /**
   * Shared by RotateKey and the automatic-rotation job. The new version's row is reserved
   * first (its primary key admits one rotation at a time), then its material is made, then
   * both commit with a compare-and-set on current_version. A failure removes only what this
   * call made; a crash leaves a reservation above current_version, which reconciliation clears.
   */
  async addVersion(key: KeyRecord, at: number): Promise<KeyRecord> {
    const version = key.currentVersion + 1;
    try {
      await this.repo.insertVersion({ keyId: key.keyId, version, createdAt: at, sealedMaterial: null, publicKey: null });
    } catch (err) {
      if (err instanceof StoreConflictError) throw new RotationRunningError(`a rotation of key ${key.keyId} is already running`);
      throw err;
    }
    let made: Awaited<ReturnType<KeyMaterialService['generate']>> | undefined;
    const patch: KeyPatch = { currentVersion: version, lastRotateTime: at, nextRotateTime: key.rotationEnabled ? at + key.rotateDays * DAY : 0 };
    try {
      made = await this.material.generate(key.keyId, version, key.keySpec, 'encrypt', key.tokenResident);
      await this.repo.transaction(async (trx) => {
        await this.repo.completeVersion(key.keyId, version, made!.sealedMaterial, made!.publicKey, trx);
        if (!(await this.repo.advanceVersion(key.keyId, key.currentVersion, patch, trx))) throw new RotationRunningError(`key ${key.keyId} changed during rotation`);
      });
    } catch (err) {
      if (made) await this.material.destroy(key.keyId, version, key.tokenResident).catch(() => undefined);
      await this.repo.deleteVersion(key.keyId, version).catch(() => undefined);
      throw err;
    }
    return { ...key, ...patch };
  }

  async bind(caller: Caller, keyId: string, productId: string, resourceId: string): Promise<void> {
    const key = await this.get(caller, keyId, 'Bind');
    await this.repo.bind(key.keyId, productId, resourceId);
  }

  async unbind(caller: Caller, keyId: string, productId: string, resourceId: string): Promise<void> {
    const key = await this.get(caller, keyId, 'Bind');
    if (!(await this.repo.unbind(key.keyId, productId, resourceId))) throw new BindingNotFoundError(`key ${keyId} is not bound to ${productId}/${resourceId}`);
  }

  count(caller: Pick<Caller, 'accountUin'> & { region: string }): Promise<number> {
    return this.repo.count(caller.accountUin, caller.region);
  }

  /** The account's keys, in any region, carrying tags that match every filter. */
  idsTagged(accountUin: string, filters: readonly TagMatch[]): Promise<string[]> {
    return this.repo.idsTagged(accountUin, filters);
  }

  private async assertUnbound(key: KeyRecord, trx: Parameters<KeyRepo['bindingCount']>[1]): Promise<void> {
    if ((await this.repo.bindingCount(key.keyId, trx)) > 0) throw new KeyInUseError(`key ${key.keyId} is bound to a cloud resource; unbind it first`);
  }

  /**
   * Apply a state-machine operation to keys, all or none: every key is read and checked
   * (existence, state table, extra rules) before any is written, in one transaction.
   */
  private async change(
    caller: Caller,
    keyIds: string[],
    operation: KeyOperation,
    extra: (key: KeyRecord, trx: Parameters<KeyRepo['bindingCount']>[1]) => Promise<KeyPatch>,
  ): Promise<KeyRecord[]> {
    return this.repo.transaction(async (trx) => {
      const keys = new Map((await this.repo.getMany(caller.accountUin, caller.region.name, keyIds, trx)).map((k) => [k.keyId, k]));
      const planned: Array<{ key: KeyRecord; patch: KeyPatch }> = [];
      for (const id of keyIds) {
        const key = keys.get(id);
        if (!key) throw new KeyNotFoundError(`key ${id} not found in ${caller.region.name}`);
        const state = transition(id, operation, key.state, key.hasMaterial);
        const patch = { ...(await extra(key, trx)), ...(state !== key.state ? { state } : {}) };
        planned.push({ key, patch });
      }
      for (const { key, patch } of planned) {
        if (Object.keys(patch).length && !(await this.repo.update(key.keyId, key.state, patch, trx))) {
          throw new KeyNotFoundError(`key ${key.keyId} changed concurrently; retry`);
        }
      }
      return planned.map(({ key, patch }) => ({ ...key, ...patch }));
    });
  }
}
