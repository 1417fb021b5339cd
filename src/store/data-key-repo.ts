import type { Knex } from 'knex';
import { whereContains, type Db } from './db.js';
import type { Origin, Tag, TagMatch } from '../model/keys.js';

// Hosted data keys (migration 0010). The row holds the data key only as the CiphertextBlob
// sealed under its CMK; nothing here can open it.

import type { DataKeyListFilter, DataKeyPatch, DataKeyRecord, DataKeyState } from '../model/data-keys.js';

type Conn = Db | Knex.Transaction;

const COLUMNS: Record<keyof DataKeyPatch, string> = { name: 'data_key_name', description: 'description', state: 'state', deletionDate: 'deletion_date' };

function fromRow(r: Record<string, unknown>, tags: Tag[]): DataKeyRecord {
  return {
    dataKeyId: String(r.data_key_id),
    accountUin: String(r.account_uin),
    region: String(r.region),
    keyId: String(r.key_id),
    keyName: String(r.key_alias ?? ''),
    name: String(r.data_key_name),
    description: String(r.description),
    state: r.state as DataKeyState,
    origin: r.origin as Origin,
    creatorUin: String(r.creator_uin),
    createdAt: Number(r.created_at),
    deletionDate: Number(r.deletion_date),
    numberOfBytes: Number(r.number_of_bytes),
    ciphertextBlob: Buffer.from(r.ciphertext_blob as Buffer),
    tags,
  };
}

export class DataKeyRepo {
  constructor(private readonly db: Db) {}

  transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  private base(conn: Conn) {
    return conn('data_keys as d').leftJoin('keys as k', 'k.key_id', 'd.key_id').select('d.*', 'k.alias as key_alias');
  }

  private async withTags(rows: Record<string, unknown>[], conn: Conn): Promise<DataKeyRecord[]> {
    if (rows.length === 0) return [];
    const tagRows = await conn('data_key_tags')
      .whereIn(
        'data_key_id',
        rows.map((r) => String(r.data_key_id)),
      )
      .orderBy(['data_key_id', 'tag_key']);
    const tags = new Map<string, Tag[]>();
    for (const t of tagRows) tags.set(t.data_key_id, [...(tags.get(t.data_key_id) ?? []), { key: t.tag_key, value: t.tag_value }]);
    return rows.map((r) => fromRow(r, tags.get(String(r.data_key_id)) ?? []));
  }

  async insert(d: DataKeyRecord, conn: Conn = this.db): Promise<void> {
    const write = async (c: Conn) => {
      await c('data_keys').insert({
        data_key_id: d.dataKeyId,
        account_uin: d.accountUin,
        region: d.region,
        key_id: d.keyId,
        data_key_name: d.name,
        description: d.description,
        state: d.state,
        origin: d.origin,
        creator_uin: d.creatorUin,
        created_at: d.createdAt,
        deletion_date: d.deletionDate,
        number_of_bytes: d.numberOfBytes,
        ciphertext_blob: d.ciphertextBlob,
      });
      if (d.tags.length) await c('data_key_tags').insert(d.tags.map((t) => ({ data_key_id: d.dataKeyId, tag_key: t.key, tag_value: t.value })));
    };
    await ((conn as Knex.Transaction).isTransaction ? write(conn) : this.db.transaction(write));
  }

  async get(accountUin: string, region: string, dataKeyId: string, conn: Conn = this.db): Promise<DataKeyRecord | undefined> {
    return (await this.getMany(accountUin, region, [dataKeyId], conn))[0];
  }

  /** Data keys of an account in a region; others are invisible. */
  async getMany(accountUin: string, region: string, dataKeyIds: string[], conn: Conn = this.db): Promise<DataKeyRecord[]> {
    const rows = await this.base(conn).whereIn('d.data_key_id', dataKeyIds).andWhere({ 'd.account_uin': accountUin, 'd.region': region });
    return this.withTags(rows, conn);
  }

  async nameTaken(accountUin: string, region: string, name: string, conn: Conn = this.db): Promise<boolean> {
    return !!(await conn('data_keys').where({ account_uin: accountUin, region, data_key_name: name }).first('data_key_id'));
  }

  /** Data keys counted against the quota: every state but PendingDelete (CancelDataKeyDeletion can exceed it, docs/contract/actions.md#group-data-keys). */
  async countActive(accountUin: string, region: string, conn: Conn = this.db): Promise<number> {
    const r = (await conn('data_keys').where({ account_uin: accountUin, region }).whereNot({ state: 'PendingDelete' }).count({ n: '*' })) as Array<{ n: number | string }>;
    return Number(r[0]?.n ?? 0);
  }

  /** As KeyRepo.idsTagged, for hosted data keys. */
  async idsTagged(accountUin: string, filters: ReadonlyArray<TagMatch>, conn: Conn = this.db): Promise<string[]> {
    const q = conn('data_keys').where('account_uin', accountUin);
    for (const f of filters)
      q.whereIn('data_key_id', function () {
        this.select('data_key_id').from('data_key_tags');
        if (f.key !== undefined) this.where('tag_key', f.key);
        if (f.value !== undefined) this.where('tag_value', f.value);
      });
    return (await q.select('data_key_id')).map((r) => String(r.data_key_id));
  }

  async list(f: DataKeyListFilter, conn: Conn = this.db): Promise<{ total: number; dataKeys: DataKeyRecord[] }> {
    const q = conn('data_keys as d').where({ 'd.account_uin': f.accountUin, 'd.region': f.region });
    if (f.states) q.whereIn('d.state', f.states);
    if (f.origin) q.andWhere({ 'd.origin': f.origin });
    if (f.keyId) q.andWhere({ 'd.key_id': f.keyId });
    if (f.numberOfBytes) q.andWhere({ 'd.number_of_bytes': f.numberOfBytes });
    if (f.search) whereContains(q, conn, ['d.data_key_name', 'd.data_key_id'], f.search);
    for (const tf of f.tagFilters ?? []) {
      q.whereIn('d.data_key_id', function () {
        this.select('data_key_id').from('data_key_tags').where('tag_key', tf.key);
        if (tf.values.length) this.whereIn('tag_value', tf.values);
      });
    }
    const counted = (await q.clone().count({ n: '*' })) as Array<{ n: number | string }>;
    const order = f.newestFirst ? 'desc' : 'asc';
    const rows = await q
      .leftJoin('keys as k', 'k.key_id', 'd.key_id')
      .select('d.*', 'k.alias as key_alias')
      .orderBy([
        { column: 'd.created_at', order },
        { column: 'd.data_key_id', order },
      ])
      .offset(f.offset)
      .limit(f.limit);
    return { total: Number(counted[0]?.n ?? 0), dataKeys: await this.withTags(rows, conn) };
  }

  /** Optimistic update on the state read before; false when the row changed meanwhile. */
  async update(dataKeyId: string, expectedState: DataKeyState, patch: DataKeyPatch, conn: Conn = this.db): Promise<boolean> {
    const row: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(patch)) row[COLUMNS[k as keyof DataKeyPatch]] = v;
    return (await conn('data_keys').where({ data_key_id: dataKeyId, state: expectedState }).update(row)) === 1;
  }

  async delete(dataKeyId: string, conn: Conn = this.db): Promise<boolean> {
    return (await conn('data_keys').where({ data_key_id: dataKeyId }).delete()) > 0;
  }

  /** The deletion job: PendingDelete data keys whose date has passed. */
  async dueForDeletion(now: number, conn: Conn = this.db): Promise<Array<{ dataKeyId: string }>> {
    const rows = await conn('data_keys').where({ state: 'PendingDelete' }).andWhere('deletion_date', '<=', now).select('data_key_id');
    return rows.map((r) => ({ dataKeyId: String(r.data_key_id) }));
  }

  /** The data keys a CMK wraps (they go with it). */
  async idsUnderKey(keyId: string, conn: Conn = this.db): Promise<string[]> {
    return (await conn('data_keys').where({ key_id: keyId }).select('data_key_id')).map((r) => String(r.data_key_id));
  }
}
