import type { Knex } from 'knex';
import type { Tag } from '../model/keys.js';
import type { DeviceFingerprint, WhiteBoxAlgorithmName, WhiteBoxKeyListFilter, WhiteBoxKeyRecord, WhiteBoxKeyStatus } from '../model/whitebox-keys.js';
import type { Db } from './db.js';

// White-box keys (migration 0020). The row holds the key and its seeds only sealed under the KEK;
// nothing here can open them, and no table set is ever written.

type Conn = Db | Knex.Transaction;

function fromRow(r: Record<string, unknown>, tags: Tag[], fingerprints: DeviceFingerprint[]): WhiteBoxKeyRecord {
  return {
    keyId: String(r.key_id),
    accountUin: String(r.account_uin),
    region: String(r.region),
    alias: String(r.alias),
    description: String(r.description),
    algorithm: r.algorithm as WhiteBoxAlgorithmName,
    status: r.status as WhiteBoxKeyStatus,
    creatorUin: String(r.creator_uin),
    createdAt: Number(r.created_at),
    sealedKey: Buffer.from(r.sealed_key as Buffer),
    sealedSeed: Buffer.from(r.sealed_seed as Buffer),
    sealedBindingSeed: Buffer.from(r.sealed_binding_seed as Buffer),
    tableSetId: Buffer.from(r.table_set_id as Buffer),
    bindingVersion: Number(r.binding_version),
    tags,
    fingerprints,
  };
}

export class WhiteBoxKeyRepo {
  constructor(private readonly db: Db) {}

  transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  private async complete(rows: Record<string, unknown>[], conn: Conn): Promise<WhiteBoxKeyRecord[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => String(r.key_id));
    const tags = new Map<string, Tag[]>();
    for (const t of await conn('whitebox_key_tags').whereIn('key_id', ids).orderBy(['key_id', 'tag_key']))
      tags.set(t.key_id, [...(tags.get(t.key_id) ?? []), { key: t.tag_key, value: t.tag_value }]);
    const prints = new Map<string, DeviceFingerprint[]>();
    for (const f of await conn('whitebox_key_fingerprints').whereIn('key_id', ids).orderBy(['key_id', 'position']))
      prints.set(f.key_id, [...(prints.get(f.key_id) ?? []), { identity: f.identity, description: f.description }]);
    return rows.map((r) => fromRow(r, tags.get(String(r.key_id)) ?? [], prints.get(String(r.key_id)) ?? []));
  }

  async insert(k: WhiteBoxKeyRecord, conn: Conn = this.db): Promise<void> {
    const write = async (c: Conn) => {
      await c('whitebox_keys').insert({
        key_id: k.keyId,
        account_uin: k.accountUin,
        region: k.region,
        alias: k.alias,
        description: k.description,
        algorithm: k.algorithm,
        status: k.status,
        creator_uin: k.creatorUin,
        created_at: k.createdAt,
        sealed_key: k.sealedKey,
        sealed_seed: k.sealedSeed,
        sealed_binding_seed: k.sealedBindingSeed,
        table_set_id: k.tableSetId,
        binding_version: k.bindingVersion,
      });
      if (k.tags.length) await c('whitebox_key_tags').insert(k.tags.map((t) => ({ key_id: k.keyId, tag_key: t.key, tag_value: t.value })));
      if (k.fingerprints.length) await this.writeFingerprints(k.keyId, k.fingerprints, c);
    };
    await ((conn as Knex.Transaction).isTransaction ? write(conn) : this.db.transaction(write));
  }

  private async writeFingerprints(keyId: string, fingerprints: DeviceFingerprint[], conn: Conn): Promise<void> {
    // Chunks keep each statement well below SQLite's bound-parameter limit (200 rows × 4).
    for (let i = 0; i < fingerprints.length; i += 100) {
      await conn('whitebox_key_fingerprints').insert(
        fingerprints.slice(i, i + 100).map((f, j) => ({ key_id: keyId, position: i + j, identity: f.identity, description: f.description })),
      );
    }
  }

  async get(accountUin: string, region: string, keyId: string, conn: Conn = this.db): Promise<WhiteBoxKeyRecord | undefined> {
    return (await this.getMany(accountUin, region, [keyId], conn))[0];
  }

  /** White-box keys of an account in a region; others are invisible. */
  async getMany(accountUin: string, region: string, keyIds: string[], conn: Conn = this.db): Promise<WhiteBoxKeyRecord[]> {
    if (keyIds.length === 0) return [];
    const rows = await conn('whitebox_keys').whereIn('key_id', keyIds).andWhere({ account_uin: accountUin, region });
    return this.complete(rows, conn);
  }

  async aliasTaken(accountUin: string, region: string, alias: string, conn: Conn = this.db): Promise<boolean> {
    return !!(await conn('whitebox_keys').where({ account_uin: accountUin, region, alias }).first('key_id'));
  }

  /** Every white-box key of the account, in all regions (the quota is per account). */
  async countForAccount(accountUin: string, conn: Conn = this.db): Promise<number> {
    const r = (await conn('whitebox_keys').where({ account_uin: accountUin }).count({ n: '*' })) as Array<{ n: number | string }>;
    return Number(r[0]?.n ?? 0);
  }

  /** Newest first, ties broken on the id, so pages partition the set. */
  async list(f: WhiteBoxKeyListFilter, conn: Conn = this.db): Promise<{ total: number; keys: WhiteBoxKeyRecord[] }> {
    const q = conn('whitebox_keys as w').where({ 'w.account_uin': f.accountUin, 'w.region': f.region });
    if (f.status) q.andWhere({ 'w.status': f.status });
    for (const tf of f.tagFilters ?? []) {
      q.whereIn('w.key_id', function () {
        this.select('key_id').from('whitebox_key_tags').where('tag_key', tf.key);
        if (tf.values.length) this.whereIn('tag_value', tf.values);
      });
    }
    const counted = (await q.clone().count({ n: '*' })) as Array<{ n: number | string }>;
    const page = q
      .select('w.*')
      .orderBy([
        { column: 'w.created_at', order: 'desc' },
        { column: 'w.key_id', order: 'desc' },
      ])
      .offset(f.offset);
    if (f.limit !== undefined) page.limit(f.limit);
    return { total: Number(counted[0]?.n ?? 0), keys: await this.complete(await page, conn) };
  }

  /** Optimistic: false when the row is gone or its status changed meanwhile. */
  async setStatus(keyId: string, expected: WhiteBoxKeyStatus, status: WhiteBoxKeyStatus, conn: Conn = this.db): Promise<boolean> {
    return (await conn('whitebox_keys').where({ key_id: keyId, status: expected }).update({ status })) === 1;
  }

  /** A new fingerprint list and the binding seed sealed for it; false when another overwrite came first. */
  async rebind(keyId: string, expectedVersion: number, sealedBindingSeed: Buffer, fingerprints: DeviceFingerprint[], conn: Conn): Promise<boolean> {
    const n = await conn('whitebox_keys')
      .where({ key_id: keyId, binding_version: expectedVersion })
      .update({ sealed_binding_seed: sealedBindingSeed, binding_version: expectedVersion + 1 });
    if (n !== 1) return false;
    await conn('whitebox_key_fingerprints').where({ key_id: keyId }).delete();
    if (fingerprints.length) await this.writeFingerprints(keyId, fingerprints, conn);
    return true;
  }

  /** Only a Disabled key goes (DeleteWhiteBoxKey); false when it is not, or not there. */
  async deleteDisabled(keyId: string, conn: Conn = this.db): Promise<boolean> {
    return (await conn('whitebox_keys').where({ key_id: keyId, status: 'Disabled' }).delete()) === 1;
  }
}
