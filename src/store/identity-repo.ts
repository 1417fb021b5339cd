import type { Knex } from 'knex';
import type { Db } from './db.js';

import type { AccountRow, ConsoleUserIdentity, CredentialIdentity, CredentialRow, CredentialStatus, UserRow, UserStatus } from '../model/identity.js';

type Conn = Db | Knex.Transaction;

const user = (r: Record<string, unknown>): UserRow => ({
  uin: String(r.uin),
  accountUin: String(r.account_uin),
  name: String(r.name),
  isRoot: !!r.is_root,
  createdAt: Number(r.created_at),
  status: (r.status as UserStatus) ?? 'Enabled',
});
const credential = (r: Record<string, unknown>): CredentialRow => ({
  secretId: String(r.secret_id),
  userUin: String(r.user_uin),
  sealedSecretKey: r.sealed_secret_key as Buffer,
  status: r.status as CredentialStatus,
  createdAt: Number(r.created_at),
});

export class IdentityRepo {
  constructor(private readonly db: Db) {}

  transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  async insertAccount(a: AccountRow, conn: Conn = this.db): Promise<void> {
    await conn('accounts').insert({ uin: a.uin, app_id: a.appId, created_at: a.createdAt });
  }

  async findAccount(uin: string, conn: Conn = this.db): Promise<AccountRow | undefined> {
    const r = await conn('accounts').where({ uin }).first();
    return r ? { uin: r.uin, appId: r.app_id, createdAt: Number(r.created_at) } : undefined;
  }

  async insertUser(u: UserRow, conn: Conn = this.db): Promise<void> {
    await conn('users').insert({ uin: u.uin, account_uin: u.accountUin, name: u.name, is_root: u.isRoot, created_at: u.createdAt });
  }

  async findUserByName(accountUin: string, name: string, conn: Conn = this.db): Promise<UserRow | undefined> {
    const r = await conn('users').where({ account_uin: accountUin, name }).first();
    return r ? user(r) : undefined;
  }

  async listUsers(accountUin: string, conn: Conn = this.db): Promise<UserRow[]> {
    return (await conn('users').where({ account_uin: accountUin }).orderBy('name')).map(user);
  }

  async setUserStatus(accountUin: string, name: string, status: UserStatus, conn: Conn = this.db): Promise<boolean> {
    return (await conn('users').where({ account_uin: accountUin, name, is_root: false }).update({ status })) > 0;
  }

  async findUser(uin: string, conn: Conn = this.db): Promise<UserRow | undefined> {
    const r = await conn('users').where({ uin }).first();
    return r ? user(r) : undefined;
  }

  async insertCredential(c: CredentialRow, conn: Conn = this.db): Promise<void> {
    await conn('credentials').insert({ secret_id: c.secretId, user_uin: c.userUin, sealed_secret_key: c.sealedSecretKey, status: c.status, created_at: c.createdAt });
  }

  async countCredentials(userUin: string, conn: Conn = this.db): Promise<number> {
    const r = await conn('credentials').where({ user_uin: userUin }).count<{ n: number }[]>({ n: '*' });
    return Number(r[0]?.n ?? 0);
  }

  async setCredentialStatus(secretId: string, status: CredentialStatus, conn: Conn = this.db): Promise<boolean> {
    return (await conn('credentials').where({ secret_id: secretId }).update({ status })) > 0;
  }

  async deleteCredential(secretId: string, conn: Conn = this.db): Promise<boolean> {
    return (await conn('credentials').where({ secret_id: secretId }).delete()) > 0;
  }

  async findCredential(secretId: string, conn: Conn = this.db): Promise<CredentialRow | undefined> {
    const r = await conn('credentials').where({ secret_id: secretId }).first();
    return r ? credential(r) : undefined;
  }

  /** One indexed lookup per API request: credential, user and account together. */
  async findCredentialIdentity(secretId: string): Promise<CredentialIdentity | undefined> {
    const r = await this.db('credentials as c')
      .join('users as u', 'u.uin', 'c.user_uin')
      .join('accounts as a', 'a.uin', 'u.account_uin')
      .where('c.secret_id', secretId)
      .first('c.*', 'u.account_uin', 'u.name', 'u.is_root', 'u.status as user_status', 'a.app_id');
    if (!r) return undefined;
    return {
      ...credential(r),
      accountUin: String(r.account_uin),
      appId: String(r.app_id),
      userName: String(r.name),
      isRoot: !!r.is_root,
      userStatus: (r.user_status as UserStatus) ?? 'Enabled',
    };
  }

  /** Console sign-in: the user's identity (no credential) and its console password hash. */
  async findConsoleUser(by: { uin: string } | { accountUin: string; name: string }): Promise<(ConsoleUserIdentity & { passwordHash: string | null }) | undefined> {
    const q = this.db('users as u').join('accounts as a', 'a.uin', 'u.account_uin');
    if ('uin' in by) q.where('u.uin', by.uin);
    else q.where({ 'u.account_uin': by.accountUin, 'u.name': by.name });
    const r = await q.first('u.uin', 'u.account_uin', 'u.name', 'u.is_root', 'u.status', 'u.console_password_hash', 'a.app_id');
    if (!r) return undefined;
    return {
      userUin: String(r.uin),
      accountUin: String(r.account_uin),
      appId: String(r.app_id),
      userName: String(r.name),
      isRoot: !!r.is_root,
      userStatus: (r.status as UserStatus) ?? 'Enabled',
      passwordHash: r.console_password_hash == null ? null : String(r.console_password_hash),
    };
  }

  /** Sets (or, with null, removes) a user's console password hash; false when no such user. */
  async setConsolePasswordHash(accountUin: string, name: string, hash: string | null): Promise<boolean> {
    return (await this.db('users').where({ account_uin: accountUin, name }).update({ console_password_hash: hash })) > 0;
  }
}
