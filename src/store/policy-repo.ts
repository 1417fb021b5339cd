import type { Db } from './db.js';

export interface PolicyRow {
  policyId: string;
  accountUin: string;
  name: string;
  document: string;
  createdAt: number;
}

const row = (r: Record<string, unknown>): PolicyRow => ({
  policyId: String(r.policy_id),
  accountUin: String(r.account_uin),
  name: String(r.name),
  document: String(r.document),
  createdAt: Number(r.created_at),
});

export class PolicyRepo {
  constructor(private readonly db: Db) {}

  async insert(p: PolicyRow): Promise<void> {
    await this.db('policies').insert({ policy_id: p.policyId, account_uin: p.accountUin, name: p.name, document: p.document, created_at: p.createdAt });
  }

  async findByName(accountUin: string, name: string): Promise<PolicyRow | undefined> {
    const r = await this.db('policies').where({ account_uin: accountUin, name }).first();
    return r ? row(r) : undefined;
  }

  async list(accountUin: string): Promise<PolicyRow[]> {
    return (await this.db('policies').where({ account_uin: accountUin }).orderBy('name')).map(row);
  }

  async attach(userUin: string, policyRef: string): Promise<void> {
    await this.db('user_policies').insert({ user_uin: userUin, policy_ref: policyRef, created_at: Date.now() }).onConflict(['user_uin', 'policy_ref']).ignore();
  }

  async detach(userUin: string, policyRef: string): Promise<boolean> {
    return (await this.db('user_policies').where({ user_uin: userUin, policy_ref: policyRef }).delete()) > 0;
  }

  /** The user's attached references with the stored documents (null for presets). */
  async forUser(userUin: string): Promise<Array<{ ref: string; name: string | null; document: string | null }>> {
    const rows = await this.db('user_policies as up')
      .leftJoin('policies as p', 'p.policy_id', 'up.policy_ref')
      .where('up.user_uin', userUin)
      .orderBy('up.policy_ref')
      .select('up.policy_ref', 'p.name', 'p.document');
    return rows.map((r) => ({ ref: String(r.policy_ref), name: r.name ?? null, document: r.document ?? null }));
  }
}
