import { randomInt } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Kek } from '../crypto/kek.js';
import type { CredentialIdentity, CredentialStatus } from '../model/identity.js';
import type { IdentityRepo } from '../store/identity-repo.js';
import { getMeta, initMeta } from '../store/service-meta.js';
import type { Db } from '../store/db.js';
import { type CacheEpoch, TtlCache } from './cache.js';
import { AlreadyExistsError, CredentialNotFoundError, InvalidArgumentError, NotFoundError, QuotaExceededError } from './errors.js';

// Accounts, users and API key pairs (docs/contract/cam.md#identities): a root account (UIN) owns its
// resources; sub-accounts belong to one root; each user has at most two key pairs; a
// SecretKey is shown once, at creation, and stored only sealed under the token KEK.

export const MAX_CREDENTIALS_PER_USER = 2;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UIN_RE = /^[1-9][0-9]{4,19}$/;
const SECRET_ID_RE = /^[A-Za-z0-9]{16,64}$/;
const SECRET_KEY_RE = /^[\x21-\x7e]{16,128}$/;
const USER_NAME_RE = /^[A-Za-z0-9_.@+=,-]{1,64}$/;
export const ROOT_USER_NAME = 'root';

function randomString(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}
const randomDigits = (n: number) => Array.from({ length: n }, () => randomInt(10)).join('');
export const newUin = () => `100${randomDigits(9)}`;
const newAppId = () => `125${randomDigits(7)}`;
/** Tencent-shaped: `AKID` + 32 characters (36 in all) and a 32-character SecretKey. */
export const newSecretId = () => `AKID${randomString(32)}`;
const newSecretKey = () => randomString(32);

const sealContext = (secretId: string) => `credential:${secretId}`;

export interface NewCredential {
  secretId: string;
  /** Shown once; the caller prints it and forgets it. */
  secretKey: string;
}

export interface IdentityCacheOptions {
  /** How long a credential's identity and status may be reused (0: read per request). */
  ttlMs: number;
  epoch?: CacheEpoch;
  /** Unsealed secret keys kept (wiped when evicted). */
  maxSecretKeys?: number;
}

interface OpenedSecret {
  /** The sealed blob it came from: the cached key is used only while the row still holds it. */
  sealed: Buffer;
  secretKey: Buffer;
  /** Keys the API layer derives from this one (TC3 signing keys per date and service); wiped with it. */
  derived: DerivedKeyMemo;
}

/**
 * Keys derived from a cached secret key, by name (the API layer's TC3 signing keys per credential
 * scope): at most `max`, all wiped when one more comes or when the secret leaves the cache. A
 * request may still hold the memo after that (it was handed out before an await); `keep` then
 * refuses, and the caller wipes its key itself — nothing derived outlives the secret unwiped.
 */
export class DerivedKeyMemo {
  private readonly keys = new Map<string, Buffer>();
  private wiped = false;

  constructor(private readonly max = 4) {}

  get(name: string): Buffer | undefined {
    return this.keys.get(name);
  }

  keep(name: string, key: Buffer): boolean {
    if (this.wiped) return false;
    if (this.keys.size >= this.max) this.clear();
    this.keys.set(name, key);
    return true;
  }

  wipe(): void {
    this.wiped = true;
    this.clear();
  }

  private clear(): void {
    for (const k of this.keys.values()) k.fill(0);
    this.keys.clear();
  }
}

function wipeOpened(o: OpenedSecret): void {
  o.secretKey.fill(0);
  o.derived.wipe();
}

export class IdentityService {
  /** secretId → identity (status included): mutable, short TTL, dropped on local writes. */
  private readonly identities: TtlCache<string, CredentialIdentity>;
  /**
   * secretId → the secret key unsealed from a given blob: the blob never changes for a
   * SecretId, so this needs no TTL; it saves a token decryption per request. Buffers are
   * wiped when they leave the cache.
   */
  private readonly secrets: TtlCache<string, OpenedSecret>;

  constructor(
    private readonly repo: IdentityRepo,
    private readonly kek: Kek,
    cache: IdentityCacheOptions = { ttlMs: 0 },
  ) {
    this.identities = new TtlCache({ ttlMs: cache.ttlMs, maxEntries: 10_000, epoch: cache.epoch });
    this.secrets = new TtlCache({ ttlMs: Infinity, maxEntries: cache.maxSecretKeys ?? 10_000, onEvict: wipeOpened });
  }

  async createAccount(opts: { uin?: string; secretId?: string; secretKey?: string } = {}): Promise<{ uin: string } & NewCredential> {
    const uin = opts.uin ?? newUin();
    if (!UIN_RE.test(uin)) throw new InvalidArgumentError(`account UIN must be 5 to 20 digits, not starting with 0`);
    const now = Date.now();
    const cred = await this.prepareCredential(opts.secretId, opts.secretKey);
    await this.repo.transaction(async (trx) => {
      if (await this.repo.findAccount(uin, trx)) throw new AlreadyExistsError(`account ${uin} already exists`);
      if (await this.repo.findUser(uin, trx)) throw new AlreadyExistsError(`UIN ${uin} is already a user`);
      await this.repo.insertAccount({ uin, appId: newAppId(), createdAt: now }, trx);
      await this.repo.insertUser({ uin, accountUin: uin, name: ROOT_USER_NAME, isRoot: true, createdAt: now }, trx);
      if (await this.repo.findCredential(cred.secretId, trx)) throw new AlreadyExistsError('that SecretId already exists');
      await this.repo.insertCredential({ secretId: cred.secretId, userUin: uin, sealedSecretKey: cred.sealed, status: 'Enabled', createdAt: now }, trx);
    });
    return { uin, secretId: cred.secretId, secretKey: cred.secretKey };
  }

  async createUser(accountUin: string, name: string): Promise<{ uin: string; name: string; account: string }> {
    if (!USER_NAME_RE.test(name)) throw new InvalidArgumentError('user name must be 1 to 64 characters of letters, digits and _.@+=,-');
    const uin = newUin();
    await this.repo.transaction(async (trx) => {
      if (!(await this.repo.findAccount(accountUin, trx))) throw new NotFoundError(`account ${accountUin} not found`);
      if (await this.repo.findUserByName(accountUin, name, trx)) throw new AlreadyExistsError(`user ${name} already exists in account ${accountUin}`);
      await this.repo.insertUser({ uin, accountUin, name, isRoot: false, createdAt: Date.now() }, trx);
    });
    return { uin, name, account: accountUin };
  }

  async createCredential(accountUin: string, userName: string, given: { secretId?: string; secretKey?: string } = {}): Promise<NewCredential> {
    const cred = await this.prepareCredential(given.secretId, given.secretKey);
    await this.repo.transaction(async (trx) => {
      const user = await this.repo.findUserByName(accountUin, userName, trx);
      if (!user) throw new NotFoundError(`user ${userName} not found in account ${accountUin}`);
      if ((await this.repo.countCredentials(user.uin, trx)) >= MAX_CREDENTIALS_PER_USER) {
        throw new QuotaExceededError(`user ${userName} already has ${MAX_CREDENTIALS_PER_USER} API keys; delete one first`);
      }
      if (await this.repo.findCredential(cred.secretId, trx)) throw new AlreadyExistsError('that SecretId already exists');
      await this.repo.insertCredential({ secretId: cred.secretId, userUin: user.uin, sealedSecretKey: cred.sealed, status: 'Enabled', createdAt: Date.now() }, trx);
    });
    return { secretId: cred.secretId, secretKey: cred.secretKey };
  }

  async listUsers(accountUin: string): Promise<Array<{ uin: string; name: string; root: boolean; status: string }>> {
    return (await this.repo.listUsers(accountUin)).map((u) => ({ uin: u.uin, name: u.name, root: u.isRoot, status: u.status ?? 'Enabled' }));
  }

  /** Sub-accounts only: the root cannot be disabled. */
  async setUserStatus(accountUin: string, name: string, status: 'Enabled' | 'Disabled'): Promise<{ name: string; status: string }> {
    if (!(await this.repo.setUserStatus(accountUin, name, status))) throw new NotFoundError(`sub-account ${name} not found in account ${accountUin}`);
    return { name, status };
  }

  async setCredentialStatus(secretId: string, status: CredentialStatus): Promise<{ secretId: string; status: CredentialStatus }> {
    if (!(await this.repo.setCredentialStatus(secretId, status))) throw new NotFoundError(`API key ${secretId} not found`);
    return { secretId, status };
  }

  async deleteCredential(secretId: string): Promise<{ secretId: string; deleted: true }> {
    if (!(await this.repo.deleteCredential(secretId))) throw new NotFoundError(`API key ${secretId} not found`);
    return { secretId, deleted: true };
  }

  /**
   * The identity behind a SecretId and its secret key, for signature verification.
   * Unknown and disabled keys are the same error. The caller wipes `secretKey` after use (it
   * is always a copy, never the cached buffer). `derived`, when the key is cached, is the
   * cache entry's own memo of keys derived from it (the caller may add to it, never wipe it).
   */
  async authenticate(secretId: string): Promise<{ identity: CredentialIdentity; secretKey: Buffer; derived?: DerivedKeyMemo }> {
    if (!SECRET_ID_RE.test(secretId)) throw new CredentialNotFoundError('SecretId not found');
    const identity = await this.identities.getOrLoad(
      secretId,
      () => this.repo.findCredentialIdentity(secretId) as Promise<CredentialIdentity>,
      (v) => v !== undefined,
    );
    // A disabled key pair and a disabled user look the same from outside: the SecretId is refused.
    if (identity?.status !== 'Enabled' || identity.userStatus !== 'Enabled') {
      this.secrets.delete(secretId);
      throw new CredentialNotFoundError('SecretId not found or disabled');
    }
    const opened = this.secrets.get(secretId);
    if (opened?.sealed.equals(identity.sealedSecretKey)) return { identity, secretKey: Buffer.from(opened.secretKey), derived: opened.derived };
    const secretKey = await this.kek.open(identity.sealedSecretKey, sealContext(secretId));
    if (!this.secrets.enabled) return { identity, secretKey };
    const entry = { sealed: Buffer.from(identity.sealedSecretKey), secretKey: Buffer.from(secretKey), derived: new DerivedKeyMemo() };
    this.secrets.set(secretId, entry);
    return { identity, secretKey, derived: entry.derived };
  }

  private async prepareCredential(secretId?: string, secretKey?: string): Promise<NewCredential & { sealed: Buffer }> {
    const id = secretId ?? newSecretId();
    const key = secretKey ?? newSecretKey();
    if (!SECRET_ID_RE.test(id)) throw new InvalidArgumentError('SecretId must be 16 to 64 letters and digits');
    if (!SECRET_KEY_RE.test(key)) throw new InvalidArgumentError('SecretKey must be 16 to 128 printable ASCII characters');
    const plain = Buffer.from(key, 'utf8');
    try {
      return { secretId: id, secretKey: key, sealed: await this.kek.seal(plain, sealContext(id)) };
    } finally {
      plain.fill(0);
    }
  }
}

/** The file bootstrapRoot writes the generated root key pair to. */
export function rootCredentialsFile(dataDir: string): string {
  return path.join(dataDir, 'root-credentials.json');
}

/** The SecretId root-credentials.json holds, when the file is there and readable. */
export function bootstrapSecretId(dataDir: string): string | undefined {
  try {
    const id = (JSON.parse(readFileSync(rootCredentialsFile(dataDir), 'utf8')) as { secretId?: unknown }).secretId;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The bootstrap key pair retired (README "Retiring the bootstrap root key"): once its SecretId is
 * deleted, root-credentials.json holds nothing that works, so the file goes too. Answers the
 * file removed, if any.
 */
export function removeRetiredBootstrapFile(dataDir: string, deletedSecretId: string): string | undefined {
  if (bootstrapSecretId(dataDir) !== deletedSecretId) return undefined;
  const file = rootCredentialsFile(dataDir);
  rmSync(file, { force: true });
  return file;
}

/**
 * First start: the root account and its key pair, from KMS_ROOT_UIN / KMS_ROOT_SECRET_ID /
 * KMS_ROOT_SECRET_KEY when set, else generated and written once to root-credentials.json
 * (0600). Later starts find `root_uin` in service_meta and do nothing.
 */
export async function bootstrapRoot(
  db: Db,
  identities: IdentityService,
  opts: { dataDir: string; uin?: string; secretId?: string; secretKey?: string },
): Promise<{ uin: string; created: boolean }> {
  const existing = await getMeta(db, 'root_uin');
  if (existing) return { uin: existing, created: false };
  if ((opts.secretId === undefined) !== (opts.secretKey === undefined)) {
    throw new InvalidArgumentError('set both KMS_ROOT_SECRET_ID and KMS_ROOT_SECRET_KEY, or neither');
  }
  const account = await identities.createAccount({ uin: opts.uin, secretId: opts.secretId, secretKey: opts.secretKey });
  const winner = await initMeta(db, 'root_uin', account.uin);
  if (winner === account.uin && opts.secretKey === undefined) {
    const file = rootCredentialsFile(opts.dataDir);
    if (!existsSync(file))
      writeFileSync(file, `${JSON.stringify({ uin: account.uin, secretId: account.secretId, secretKey: account.secretKey }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  }
  return { uin: winner, created: winner === account.uin };
}
