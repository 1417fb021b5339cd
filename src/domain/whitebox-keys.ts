import { randomUUID } from 'node:crypto';
import type { Region } from '../config.js';
import type { WhiteboxEngine, WhiteBoxKeyRef } from '../crypto/whitebox-engine.js';
import { StoreConflictError } from '../model/errors.js';
import type { Tag } from '../model/keys.js';
import type { DeviceFingerprint, WhiteBoxAlgorithmName, WhiteBoxKeyListFilter, WhiteBoxKeyRecord, WhiteBoxKeyStatus } from '../model/whitebox-keys.js';
import type { WhiteBoxKeyRepo } from '../store/whitebox-key-repo.js';
import { TtlCache } from './cache.js';
import { AliasExistsError, DomainError, InvalidArgumentError } from './errors.js';
import type { Caller } from './keys.js';

// White-box keys (docs/contract/actions.md#group-white-box; docs/whitebox.md for what the tables
// are and are not worth). A key is Enabled or Disabled; Disabled refuses EncryptByWhiteBox, and
// only a Disabled key can be deleted. Its tables are handed out by CreateWhiteBoxKey (EncryptKey
// and DecryptKey) and DescribeWhiteBoxDecryptKey (DecryptKey, bound to the key's device
// fingerprints); the other reads answer metadata only. Copies handed out cannot be revoked.

export { WHITEBOX_KEY_STATUSES, type WhiteBoxKeyStatus } from '../model/whitebox-keys.js';

/** docs/contract/actions.md#action-create-white-box-key: "at most 50 per account". */
export const WHITEBOX_KEY_LIMIT = 50;
/** docs/contract/actions.md#action-overwrite-white-box-device-fingerprints */
export const WHITEBOX_FINGERPRINT_LIMIT = 200;

// Errors (api/error-codes.ts maps them to the codes of each action's list).

export class WhiteBoxKeyNotFoundError extends DomainError {
  readonly code = 'WhiteBoxKeyNotFound';
}
/** EncryptByWhiteBox under a Disabled key. */
export class WhiteBoxKeyDisabledError extends DomainError {
  readonly code = 'WhiteBoxKeyDisabled';
}
/** DeleteWhiteBoxKey of an Enabled key. */
export class WhiteBoxKeyNotDisabledError extends DomainError {
  readonly code = 'WhiteBoxKeyNotDisabled';
}
export class WhiteBoxKeyLimitError extends DomainError {
  readonly code = 'WhiteBoxKeyLimit';
}
export class WhiteBoxFingerprintLimitError extends DomainError {
  readonly code = 'WhiteBoxFingerprintLimit';
}
/** The region does not offer white-box keys (docs/whitebox.md#regions). */
export class WhiteBoxRegionError extends DomainError {
  readonly code = 'WhiteBoxRegion';
}

/** The algorithm of each region standard: white-box keys follow the region's (docs/contract/keys.md#key-usage). */
const ALGORITHM_OF: Record<Region['standard'], WhiteBoxAlgorithmName> = { FIPS: 'AES_256', SM: 'SM4' };

const now = () => Math.floor(Date.now() / 1000);
const ref = (k: WhiteBoxKeyRecord): WhiteBoxKeyRef => ({ keyId: k.keyId, algorithm: k.algorithm, custody: k });

export interface CreateWhiteBoxKeyInput {
  alias: string;
  algorithm: WhiteBoxAlgorithmName;
  description?: string;
  tags?: Tag[];
}

export interface WhiteBoxServiceOptions {
  /** Region names offering white-box keys; '*' every configured region. */
  regions: ReadonlySet<string> | '*';
  /** Regenerated DecryptKeys kept in memory (base64), each a key's equivalent: few, and briefly. */
  cacheEntries?: number;
  cacheTtlMs?: number;
}

export type WhiteBoxListInput = Omit<WhiteBoxKeyListFilter, 'accountUin' | 'region'>;

export class WhiteBoxKeyService {
  private readonly decryptKeys: TtlCache<string, string>;

  constructor(
    private readonly repo: WhiteBoxKeyRepo,
    private readonly engine: WhiteboxEngine,
    private readonly opts: WhiteBoxServiceOptions,
  ) {
    this.decryptKeys = new TtlCache({ ttlMs: opts.cacheTtlMs ?? 5 * 60_000, maxEntries: opts.cacheEntries ?? 8 });
  }

  /** Whether the caller's region offers white-box keys (DescribeWhiteBoxServiceStatus). */
  offeredIn(region: Region): boolean {
    return this.opts.regions === '*' || this.opts.regions.has(region.name);
  }

  /**
   * DescribeWhiteBoxServiceStatus: usable wherever it answers. Where the region does not offer
   * white-box keys, every white-box action answers UnsupportedRegion, this one too.
   */
  serviceEnabled(caller: Caller): true {
    this.assertOffered(caller);
    return true;
  }

  private assertOffered(caller: Caller): void {
    if (!this.offeredIn(caller.region)) throw new WhiteBoxRegionError(`White-box keys are not offered in ${caller.region.name}.`);
  }

  private async assertRoom(caller: Caller, alias: string, trx?: Parameters<WhiteBoxKeyRepo['aliasTaken']>[3]): Promise<void> {
    if (await this.repo.aliasTaken(caller.accountUin, caller.region.name, alias, trx))
      throw new AliasExistsError(`white-box key alias ${alias} is already used in ${caller.region.name}`);
    if ((await this.repo.countForAccount(caller.accountUin, trx)) >= WHITEBOX_KEY_LIMIT)
      throw new WhiteBoxKeyLimitError(`the account has reached its limit of ${WHITEBOX_KEY_LIMIT} white-box keys`);
  }

  /** CreateWhiteBoxKey: the key and its first EncryptKey and DecryptKey (base64, unbound). */
  async create(caller: Caller, input: CreateWhiteBoxKeyInput): Promise<{ key: WhiteBoxKeyRecord; encryptKey: string; decryptKey: string }> {
    this.assertOffered(caller);
    const expected = ALGORITHM_OF[caller.region.standard];
    if (input.algorithm !== expected)
      throw new InvalidArgumentError(`Algorithm must be ${expected} in ${caller.region.name}, a ${caller.region.standard} region: white-box keys follow the region's standard.`);
    await this.assertRoom(caller, input.alias);
    const keyId = randomUUID();
    const made = await this.engine.create(keyId, input.algorithm);
    const key: WhiteBoxKeyRecord = {
      keyId,
      accountUin: caller.accountUin,
      region: caller.region.name,
      alias: input.alias,
      description: input.description ?? '',
      algorithm: input.algorithm,
      status: 'Enabled',
      creatorUin: caller.userUin,
      createdAt: now(),
      ...made.custody,
      tags: input.tags ?? [],
      fingerprints: [],
    };
    try {
      await this.repo.transaction(async (trx) => {
        await this.assertRoom(caller, input.alias, trx);
        await this.repo.insert(key, trx);
      });
    } catch (err) {
      if (err instanceof StoreConflictError) throw new AliasExistsError(`white-box key alias ${input.alias} is already used in ${caller.region.name}`);
      throw err;
    }
    const decryptKey = made.decryptKey.toString('base64');
    // What DescribeWhiteBoxDecryptKey regenerates for this binding: the same bytes.
    this.decryptKeys.set(this.cacheKey(key), decryptKey);
    return { key, encryptKey: made.encryptKey.toString('base64'), decryptKey };
  }

  private async find(caller: Caller, keyId: string): Promise<WhiteBoxKeyRecord> {
    this.assertOffered(caller);
    const k = await this.repo.get(caller.accountUin, caller.region.name, keyId);
    if (!k) throw new WhiteBoxKeyNotFoundError(`white-box key ${keyId} not found in ${caller.region.name}`);
    return k;
  }

  describe(caller: Caller, keyId: string): Promise<WhiteBoxKeyRecord> {
    return this.find(caller, keyId);
  }

  list(caller: Caller, input: WhiteBoxListInput): Promise<{ total: number; keys: WhiteBoxKeyRecord[] }> {
    this.assertOffered(caller);
    return this.repo.list({ accountUin: caller.accountUin, region: caller.region.name, ...input });
  }

  private cacheKey(k: Pick<WhiteBoxKeyRecord, 'keyId' | 'bindingVersion'>): string {
    return `${k.keyId}:${k.bindingVersion}`;
  }

  /**
   * DescribeWhiteBoxDecryptKey: the DecryptKey bound to the key's fingerprints (unbound when it has
   * none). Its error list has no state refusal, and a Disabled key's tables already out keep
   * working anyway, so a Disabled key answers too.
   */
  async decryptKey(caller: Caller, keyId: string): Promise<string> {
    const k = await this.find(caller, keyId);
    return this.decryptKeys.getOrLoad(this.cacheKey(k), async () =>
      (
        await this.engine.tables(
          ref(k),
          'decrypt',
          k.fingerprints.map((f) => f.identity),
        )
      ).toString('base64'),
    );
  }

  /** EncryptByWhiteBox (docs/contract/actions.md#action-encrypt-by-white-box): Enabled keys only. */
  async encrypt(caller: Caller, keyId: string, plaintext: Buffer, iv?: Buffer): Promise<{ iv: Buffer; ciphertext: Buffer }> {
    const k = await this.find(caller, keyId);
    if (k.status !== 'Enabled') throw new WhiteBoxKeyDisabledError(`white-box key ${keyId} is disabled`);
    return this.engine.encrypt(ref(k), plaintext, iv);
  }

  enable(caller: Caller, keyIds: string[]): Promise<void> {
    return this.setStatus(caller, keyIds, 'Enabled');
  }

  disable(caller: Caller, keyIds: string[]): Promise<void> {
    return this.setStatus(caller, keyIds, 'Disabled');
  }

  /** All or none: every key must exist before any changes. */
  private async setStatus(caller: Caller, keyIds: string[], status: WhiteBoxKeyStatus): Promise<void> {
    this.assertOffered(caller);
    await this.repo.transaction(async (trx) => {
      const found = new Map((await this.repo.getMany(caller.accountUin, caller.region.name, keyIds, trx)).map((k) => [k.keyId, k]));
      const missing = keyIds.find((id) => !found.has(id));
      if (missing) throw new WhiteBoxKeyNotFoundError(`white-box key ${missing} not found in ${caller.region.name}`);
      for (const k of found.values()) {
        if (k.status !== status && !(await this.repo.setStatus(k.keyId, k.status, status, trx)))
          throw new WhiteBoxKeyNotFoundError(`white-box key ${k.keyId} changed concurrently; retry`);
      }
    });
  }

  /** DeleteWhiteBoxKey: a Disabled key only. Its sealed key and seeds go with the row. */
  async delete(caller: Caller, keyId: string): Promise<void> {
    const k = await this.find(caller, keyId);
    if (k.status !== 'Disabled' || !(await this.repo.deleteDisabled(keyId))) throw new WhiteBoxKeyNotDisabledError(`white-box key ${keyId} must be disabled before it is deleted`);
    this.decryptKeys.delete(this.cacheKey(k));
  }

  async fingerprints(caller: Caller, keyId: string): Promise<DeviceFingerprint[]> {
    return (await this.find(caller, keyId)).fingerprints;
  }

  /**
   * OverwriteWhiteBoxDeviceFingerprints: the new list (repeats count once) under a fresh binding
   * seed, so the next DecryptKey has a new output encoding and new slots. Copies bound to the old
   * list keep working: tables cannot be revoked (docs/whitebox.md#service-binding).
   */
  async overwriteFingerprints(caller: Caller, keyId: string, fingerprints: DeviceFingerprint[]): Promise<void> {
    const list: DeviceFingerprint[] = [];
    for (const f of fingerprints) if (!list.some((g) => g.identity === f.identity)) list.push(f);
    if (list.length > WHITEBOX_FINGERPRINT_LIMIT) throw new WhiteBoxFingerprintLimitError(`at most ${WHITEBOX_FINGERPRINT_LIMIT} device fingerprints per white-box key`);
    // Another overwrite may commit between the read and the write: read again and seal for the
    // version that follows it.
    for (let attempt = 0; attempt < 5; attempt++) {
      const k = await this.find(caller, keyId);
      const sealed = await this.engine.newBinding(ref(k), k.bindingVersion + 1);
      if (await this.repo.transaction((trx) => this.repo.rebind(keyId, k.bindingVersion, sealed, list, trx))) {
        this.decryptKeys.delete(this.cacheKey(k));
        return;
      }
    }
    throw new WhiteBoxKeyNotFoundError(`white-box key ${keyId} is being changed concurrently; retry`);
  }
}
