import type { Knex } from 'knex';
import type { KeyState } from '../model/keys.js';
import { retryingTransaction, whereContains, type Db } from './db.js';

import type { KeyListFilter, KeyPatch, KeyRecord, KeySpec, KeyVersionRecord, Origin, Tag, TagMatch } from '../model/keys.js';

type Conn = Db | Knex.Transaction;

const COLUMNS: Record<keyof KeyPatch, string> = {
  alias: 'alias',
  description: 'description',
  state: 'state',
  deletionDate: 'deletion_date',
  rotationEnabled: 'rotation_enabled',
  rotateDays: 'rotate_days',
  nextRotateTime: 'next_rotate_time',
  lastRotateTime: 'last_rotate_time',
  validTo: 'valid_to',
  currentVersion: 'current_version',
  hasMaterial: 'has_material',
};

function columnsOf(patch: KeyPatch): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) row[COLUMNS[k as keyof KeyPatch]] = v;
  return row;
}

function fromRow(r: Record<string, unknown>, tags: Tag[]): KeyRecord {
  return {
    keyId: String(r.key_id),
    accountUin: String(r.account_uin),
    region: String(r.region),
    alias: String(r.alias),
    description: String(r.description),
    keyUsage: String(r.key_usage),
    keySpec: r.key_spec as KeySpec,
    origin: r.origin as Origin,
    state: r.state as KeyState,
    creatorUin: String(r.creator_uin),
    createdAt: Number(r.created_at),
    deletionDate: Number(r.deletion_date),
    rotationEnabled: !!r.rotation_enabled,
    rotateDays: Number(r.rotate_days),
    nextRotateTime: Number(r.next_rotate_time),
    lastRotateTime: Number(r.last_rotate_time),
    validTo: Number(r.valid_to),
    currentVersion: Number(r.current_version),
    tokenResident: !!r.token_resident,
    hasMaterial: !!r.has_material,
    tags,
  };
}

export class KeyRepo {
  constructor(private readonly db: Db) {}

  /** A transaction over key rows: run again when PostgreSQL broke a deadlock by aborting it. */
  transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return retryingTransaction(this.db, fn);
  }

  async insert(k: KeyRecord, version: KeyVersionRecord, conn: Conn = this.db): Promise<void> {
    await this.atomically(conn, (c) => this.insertIn(c, k, version));
  }

  private async insertIn(conn: Conn, k: KeyRecord, version: KeyVersionRecord): Promise<void> {
    await conn('keys').insert({
      key_id: k.keyId,
      account_uin: k.accountUin,
      region: k.region,
      alias: k.alias,
      description: k.description,
      key_usage: k.keyUsage,
      key_spec: k.keySpec,
      origin: k.origin,
      state: k.state,
      creator_uin: k.creatorUin,
      created_at: k.createdAt,
      deletion_date: k.deletionDate,
      rotation_enabled: k.rotationEnabled,
      rotate_days: k.rotateDays,
      next_rotate_time: k.nextRotateTime,
      last_rotate_time: k.lastRotateTime,
      valid_to: k.validTo,
      current_version: k.currentVersion,
      token_resident: k.tokenResident,
      has_material: k.hasMaterial,
    });
    await this.bump(conn, { account_uin: k.accountUin, region: k.region, state: k.state, key_usage: k.keyUsage, origin: k.origin }, 1);
    await this.insertVersion(version, conn);
    await conn('creation_intents').where({ key_id: k.keyId }).delete();
    if (k.tags.length) await conn('key_tags').insert(k.tags.map((t) => ({ key_id: k.keyId, tag_key: t.key, tag_value: t.value })));
  }

  /**
   * Before a new key's token object is made: "this (key, version) is being created", so that
   * reconciliation on any node leaves the object alone until the row commits (insert removes
   * the intent in its transaction) or the creation fails (clearIntent).
   */
  async recordIntent(keyId: string, version: number, nowMs = Date.now()): Promise<void> {
    await this.db('creation_intents').insert({ key_id: keyId, version, created_at_ms: nowMs });
  }

  async clearIntent(keyId: string, version: number): Promise<void> {
    await this.db('creation_intents').where({ key_id: keyId, version }).delete();
  }

  /** Intents per "keyId/version" with their time: reconciliation's "being created" set. */
  async intents(conn: Conn = this.db): Promise<Map<string, number>> {
    const rows = await conn('creation_intents').select('key_id', 'version', 'created_at_ms');
    return new Map(rows.map((r) => [`${r.key_id}/${Number(r.version)}`, Number(r.created_at_ms)]));
  }

  async insertVersion(v: KeyVersionRecord, conn: Conn = this.db): Promise<void> {
    await conn('key_versions').insert({ key_id: v.keyId, version: v.version, created_at: v.createdAt, sealed_material: v.sealedMaterial, public_key: v.publicKey });
  }

  async completeVersion(keyId: string, version: number, sealedMaterial: Buffer | null, publicKey: string | null, conn: Conn = this.db): Promise<void> {
    await conn('key_versions').where({ key_id: keyId, version }).update({ sealed_material: sealedMaterial, public_key: publicKey });
  }

  async deleteVersion(keyId: string, version: number, conn: Conn = this.db): Promise<void> {
    await conn('key_versions').where({ key_id: keyId, version }).delete();
  }

  /** Compare-and-set on current_version (rotation), whatever the state. */
  async advanceVersion(keyId: string, expectedVersion: number, patch: KeyPatch, conn: Conn = this.db): Promise<boolean> {
    return (await conn('keys').where({ key_id: keyId, current_version: expectedVersion }).update(columnsOf(patch))) === 1;
  }

  /** Version rows above their key's current version: rotations in progress, or crashed. */
  async versionsAboveCurrent(conn: Conn = this.db): Promise<Array<{ keyId: string; version: number; tokenResident: boolean }>> {
    const rows = await conn('key_versions as v')
      .join('keys as k', 'k.key_id', 'v.key_id')
      .whereRaw('v.version > k.current_version')
      .select('v.key_id', 'v.version', 'k.token_resident');
    return rows.map((r) => ({ keyId: String(r.key_id), version: Number(r.version), tokenResident: !!r.token_resident }));
  }

  async versions(keyId: string, conn: Conn = this.db): Promise<KeyVersionRecord[]> {
    const rows = await conn('key_versions').where({ key_id: keyId }).orderBy('version');
    return rows.map((r) => ({
      keyId: r.key_id,
      version: Number(r.version),
      createdAt: Number(r.created_at),
      sealedMaterial: r.sealed_material ?? null,
      publicKey: r.public_key ?? null,
    }));
  }

  private async withTags(rows: Record<string, unknown>[], conn: Conn): Promise<KeyRecord[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => String(r.key_id));
    const tagRows = await conn('key_tags').whereIn('key_id', ids).orderBy(['key_id', 'tag_key']);
    const tags = new Map<string, Tag[]>();
    for (const t of tagRows) {
      const list = tags.get(t.key_id) ?? [];
      list.push({ key: t.tag_key, value: t.tag_value });
      tags.set(t.key_id, list);
    }
    return rows.map((r) => fromRow(r, tags.get(String(r.key_id)) ?? []));
  }

  /** One key of an account in a region; keys of other accounts and regions are invisible. */
  async get(accountUin: string, region: string, keyId: string, conn: Conn = this.db): Promise<KeyRecord | undefined> {
    const row = await conn('keys').where({ key_id: keyId, account_uin: accountUin, region }).first();
    return row ? (await this.withTags([row], conn))[0] : undefined;
  }

  async getMany(accountUin: string, region: string, keyIds: string[], conn: Conn = this.db): Promise<KeyRecord[]> {
    // By primary key only, account and region checked here: with them in the WHERE clause
    // SQLite's planner (no statistics) walked the account index instead (bench:keys).
    const rows = (await conn('keys').whereIn('key_id', keyIds)).filter((r) => r.account_uin === accountUin && r.region === region);
    return this.withTags(rows, conn);
  }

  async aliasTaken(accountUin: string, region: string, alias: string, conn: Conn = this.db): Promise<boolean> {
    return !!(await conn('keys').where({ account_uin: accountUin, region, alias }).first('key_id'));
  }

  async count(accountUin: string, region: string, conn: Conn = this.db): Promise<number> {
    const r = await conn('key_counts').where({ account_uin: accountUin, region }).sum<{ n: number | string | null }[]>({ n: 'n' });
    return Number(r[0]?.n ?? 0);
  }

  private async bump(conn: Conn, c: { account_uin: string; region: string; state: string; key_usage: string; origin: string }, delta: number): Promise<void> {
    await conn('key_counts')
      .insert({ ...c, n: delta })
      .onConflict(['account_uin', 'region', 'state', 'key_usage', 'origin'])
      .merge({ n: conn.raw('key_counts.n + ?', [delta]) });
  }

  /**
   * The account's keys in every region that carry, for each filter, a tag matching it (a filter
   * without key or value matches any): CloudAudit's Tags lookup attribute.
   */
  async idsTagged(accountUin: string, filters: ReadonlyArray<TagMatch>, conn: Conn = this.db): Promise<string[]> {
    const q = conn('keys').where('account_uin', accountUin);
    for (const f of filters)
      q.whereIn('key_id', function () {
        this.select('key_id').from('key_tags');
        if (f.key !== undefined) this.where('tag_key', f.key);
        if (f.value !== undefined) this.where('tag_value', f.value);
      });
    return (await q.select('key_id')).map((r) => String(r.key_id));
  }

  async list(f: KeyListFilter, conn: Conn = this.db): Promise<{ total: number; keys: KeyRecord[] }> {
    const q = conn('keys').where({ account_uin: f.accountUin, region: f.region });
    if (f.states) q.whereIn('state', f.states);
    if (f.origin) q.andWhere({ origin: f.origin });
    if (f.keyUsages) q.whereIn('key_usage', f.keyUsages);
    if (f.search) whereContains(q, conn, ['alias', 'key_id'], f.search);
    for (const tf of f.tagFilters ?? []) {
      // IN over the tag index, not a correlated EXISTS per key row (bench:keys: 195 → 4 ms).
      q.whereIn('key_id', function () {
        this.select('key_id').from('key_tags').where('tag_key', tf.key);
        if (tf.values.length) this.whereIn('tag_value', tf.values);
      });
    }
    let total: number;
    if (f.search || f.tagFilters?.length) {
      const counted = (await q.clone().clearOrder().count({ n: '*' })) as Array<{ n: number | string }>;
      total = Number(counted[0]?.n ?? 0);
    } else {
      const c = conn('key_counts').where({ account_uin: f.accountUin, region: f.region });
      if (f.states) c.whereIn('state', f.states);
      if (f.origin) c.andWhere({ origin: f.origin });
      if (f.keyUsages) c.whereIn('key_usage', f.keyUsages);
      const r = (await c.sum({ n: 'n' })) as Array<{ n: number | string | null }>;
      total = Number(r[0]?.n ?? 0);
    }
    const rows = await q
      .orderBy([
        { column: 'created_at', order: f.newestFirst ? 'desc' : 'asc' },
        { column: 'key_id', order: f.newestFirst ? 'desc' : 'asc' },
      ])
      .offset(f.offset)
      .limit(f.limit);
    return { total, keys: await this.withTags(rows, conn) };
  }

  /**
   * Update with an optimistic check on the state read before, so two concurrent state
   * changes cannot both apply. Returns false when the key changed meanwhile.
   */
  /** Several statements that must commit together: in the caller's transaction, or a new one. */
  private atomically<T>(conn: Conn, fn: (c: Conn) => Promise<T>): Promise<T> {
    return (conn as Knex.Transaction).isTransaction ? fn(conn) : this.db.transaction((trx) => fn(trx));
  }

  async update(keyId: string, expectedState: KeyState, patch: KeyPatch, conn: Conn = this.db): Promise<boolean> {
    return this.atomically(conn, (c) => this.updateIn(c, keyId, expectedState, patch));
  }

  private async updateIn(conn: Conn, keyId: string, expectedState: KeyState, patch: KeyPatch): Promise<boolean> {
    const changed = (await conn('keys').where({ key_id: keyId, state: expectedState }).update(columnsOf(patch))) === 1;
    if (changed && patch.state !== undefined && patch.state !== expectedState) {
      const k = await conn('keys').where({ key_id: keyId }).first('account_uin', 'region', 'key_usage', 'origin');
      // Counter rows locked in one order (by state name) whatever the direction of the change,
      // so two opposite changes (Enabled→Disabled, Disabled→Enabled) cannot deadlock on PostgreSQL.
      const moves: Array<[string, number]> = [
        [expectedState, -1],
        [patch.state, 1],
      ];
      moves.sort((a, b) => (a[0] < b[0] ? -1 : 1));
      for (const [state, delta] of moves) await this.bump(conn, { ...k, state }, delta);
    }
    return changed;
  }

  async delete(keyId: string, conn: Conn = this.db): Promise<void> {
    await this.atomically(conn, (c) => this.deleteIn(c, keyId));
  }

  private async deleteIn(conn: Conn, keyId: string): Promise<void> {
    const k = await conn('keys').where({ key_id: keyId }).first('account_uin', 'region', 'state', 'key_usage', 'origin');
    if (!k) return;
    if ((await conn('keys').where({ key_id: keyId }).delete()) > 0) await this.bump(conn, k, -1);
  }

  async bindingCount(keyId: string, conn: Conn = this.db): Promise<number> {
    const r = await conn('key_bindings').where({ key_id: keyId }).count<{ n: number }[]>({ n: '*' });
    return Number(r[0]?.n ?? 0);
  }

  async bind(keyId: string, productId: string, resourceId: string, conn: Conn = this.db): Promise<void> {
    await conn('key_bindings')
      .insert({ key_id: keyId, product_id: productId, resource_id: resourceId, created_at: Math.floor(Date.now() / 1000) })
      .onConflict(['key_id', 'product_id', 'resource_id'])
      .ignore();
  }

  async unbind(keyId: string, productId: string, resourceId: string, conn: Conn = this.db): Promise<boolean> {
    return (await conn('key_bindings').where({ key_id: keyId, product_id: productId, resource_id: resourceId }).delete()) > 0;
  }

  /** Background jobs: keys whose deletion date has passed. */
  async dueForDeletion(now: number, conn: Conn = this.db): Promise<KeyRecord[]> {
    return this.withTags(await conn('keys').where({ state: 'PendingDelete' }).andWhere('deletion_date', '<=', now), conn);
  }

  async dueForRotation(now: number, conn: Conn = this.db): Promise<KeyRecord[]> {
    return this.withTags(await conn('keys').where({ rotation_enabled: true, state: 'Enabled' }).andWhere('next_rotate_time', '<=', now), conn);
  }

  /** EXTERNAL keys whose material's ValidTo has passed. */
  async dueForExpiry(now: number, conn: Conn = this.db): Promise<KeyRecord[]> {
    return this.withTags(await conn('keys').where({ origin: 'EXTERNAL', has_material: true }).andWhere('valid_to', '>', 0).andWhere('valid_to', '<=', now), conn);
  }

  async clearSealedMaterial(keyId: string, conn: Conn = this.db): Promise<void> {
    await conn('key_versions').where({ key_id: keyId }).update({ sealed_material: null });
  }

  /** Which of these (keyId, version) pairs have rows. */
  async existingVersions(pairs: Array<{ keyId: string; version: number }>, conn: Conn = this.db): Promise<Set<string>> {
    const out = new Set<string>();
    const ids = [...new Set(pairs.map((p) => p.keyId))];
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await conn('key_versions')
        .whereIn('key_id', ids.slice(i, i + 500))
        .select('key_id', 'version');
      for (const r of rows) out.add(`${r.key_id}/${Number(r.version)}`);
    }
    return out;
  }

  async allKeyIds(conn: Conn = this.db): Promise<Array<{ keyId: string; tokenResident: boolean; hasMaterial: boolean; versions: number[] }>> {
    const rows = await conn('key_versions as v').join('keys as k', 'k.key_id', 'v.key_id').select('k.key_id', 'k.token_resident', 'k.has_material', 'v.version');
    const out = new Map<string, { keyId: string; tokenResident: boolean; hasMaterial: boolean; versions: number[] }>();
    for (const r of rows) {
      const e = out.get(r.key_id) ?? { keyId: String(r.key_id), tokenResident: !!r.token_resident, hasMaterial: !!r.has_material, versions: [] as number[] };
      e.versions.push(Number(r.version));
      out.set(r.key_id, e);
    }
    return [...out.values()];
  }
}
