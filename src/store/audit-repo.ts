import type { Knex } from 'knex';
import { uuidTimeMs } from '../ids.js';
import { busyError, sqliteSideConnection, whereContains, walCheckpointer, type Db, type SideConnection } from './db.js';
import { LEGACY_REQUEST_TIMES_META } from './migrations/0014_audit_lookup_by_time.js';
import { getMeta } from './service-meta.js';

/** service_meta row holding the retention anchor (AuditRepo.anchor). */
const ANCHOR_META = 'audit_anchor';

import type { AuditEvent, AuditQuery, Checkpoint, StoredAuditEvent } from '../model/audit.js';

/** Each stored field's column, in the order the SQLite writer lists them. */
const COLUMN_OF = {
  eventId: 'event_id',
  eventTimeMs: 'event_time_ms',
  eventName: 'event_name',
  requestId: 'request_id',
  accountUin: 'account_uin',
  userUin: 'user_uin',
  userName: 'user_name',
  secretId: 'secret_id',
  sourceIp: 'source_ip',
  region: 'region',
  resourceType: 'resource_type',
  resourceName: 'resource_name',
  result: 'result',
  errorCode: 'error_code',
  apiVersion: 'api_version',
  prevHash: 'prev_hash',
  hash: 'hash',
} as const satisfies Record<Exclude<keyof StoredAuditEvent, 'seq'>, string>;
const FIELDS = Object.keys(COLUMN_OF) as Array<keyof typeof COLUMN_OF>;
const COLUMNS = FIELDS.map((f) => COLUMN_OF[f]).join(', ');

type TextField = { [K in keyof AuditEvent]: AuditEvent[K] extends string ? K : never }[keyof AuditEvent];
/** The event's own text fields (the chain's hashes are added later, the time is a number). */
const TEXT_FIELDS = FIELDS.filter((f): f is TextField => f !== 'eventTimeMs' && f !== 'prevHash' && f !== 'hash');

/** NUL or a surrogate that is not part of a pair (in a u-mode class, [\ud800-\udfff] matches only those). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this looks for
const SUSPECT_TEXT = /[\ud800-\udfff\u0000]/u;

/**
 * Every text field's bound: the columns' widths (migration 0005; PostgreSQL refuses longer
 * values, SQLite would keep them), and for resource_name (a text column) the longest list an
 * action names — 100 ids of 36 characters and their commas — so that no event, whatever its
 * request held, takes more than a few KB (docs/reliability.md#audit-bounded).
 */
export const AUDIT_FIELD_WIDTHS: Readonly<Record<TextField, number>> = {
  eventId: 36,
  eventName: 64,
  requestId: 36,
  accountUin: 20,
  userUin: 20,
  userName: 64,
  secretId: 64,
  sourceIp: 64,
  region: 32,
  resourceType: 16,
  result: 8,
  errorCode: 96,
  apiVersion: 16,
  resourceName: 4096,
};

/**
 * An event as both engines store it, so the hash covers exactly what is kept: text well-formed
 * (lone surrogates → U+FFFD), NUL → U+FFFD (PostgreSQL text cannot hold it), cut to the
 * column's width. A request's own text (a v1 Region or Version, a SecretId, a key id) reaches
 * these fields: without this, one odd request failed its whole batch on PostgreSQL.
 */
export function storableAuditEvent(e: AuditEvent): AuditEvent {
  // Nearly every event is storable as it is: check first (a loop over the text fields, no
  // allocation: this runs once per API call), copy only when something must change.
  let clean = true;
  for (const k of TEXT_FIELDS) {
    const v = e[k];
    if (v.length > AUDIT_FIELD_WIDTHS[k] || SUSPECT_TEXT.test(v)) {
      clean = false;
      break;
    }
  }
  if (clean) return e;
  const out = { ...e };
  for (const k of TEXT_FIELDS) {
    let t = out[k].replace(new RegExp(SUSPECT_TEXT.source, 'gu'), '\ufffd');
    const width = AUDIT_FIELD_WIDTHS[k];
    // Cut by code points (PostgreSQL counts characters), never inside a surrogate pair.
    if (t.length > width) t = [...t].slice(0, width).join('');
    (out as Record<string, unknown>)[k] = t;
  }
  return out;
}

const toRow = (e: StoredAuditEvent): Record<string, string | number> => {
  const row: Record<string, string | number> = {};
  for (const f of FIELDS) row[COLUMN_OF[f]] = e[f];
  return row;
};

const fromRow = (r: Record<string, unknown>): StoredAuditEvent => ({
  seq: Number(r.seq),
  eventId: String(r.event_id),
  eventTimeMs: Number(r.event_time_ms),
  eventName: String(r.event_name),
  requestId: String(r.request_id),
  accountUin: String(r.account_uin),
  userUin: String(r.user_uin),
  userName: String(r.user_name),
  secretId: String(r.secret_id),
  sourceIp: String(r.source_ip),
  region: String(r.region),
  resourceType: String(r.resource_type),
  resourceName: String(r.resource_name),
  result: r.result as 'Success' | 'Fail',
  errorCode: String(r.error_code),
  apiVersion: String(r.api_version),
  prevHash: String(r.prev_hash),
  hash: String(r.hash),
});

/**
 * A column value as an SQL literal: integers as digits; text quoted, its quotes doubled (SQLite
 * has no other escape in a string literal); text holding a NUL (which would end the SQL for
 * sqlite3_exec) as hex bytes cast back to text.
 */
function sqlLiteral(v: string | number): string {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError('audit: a numeric column must be a safe integer');
    return String(v);
  }
  if (v.includes('\0')) return `CAST(X'${Buffer.from(v, 'utf8').toString('hex')}' AS TEXT)`;
  return v.includes("'") ? `'${v.replaceAll("'", "''")}'` : `'${v}'`;
}

/** The guard's duplicate key: the chain head is not the one the batch was linked on. */
const HEAD_MOVED = /UNIQUE constraint failed: audit_chain\.id/;

/**
 * SQLite's audit writer: its own connection beside knex's, and one batch = one `exec` (one
 * trip through the thread pool, one WAL commit), built on the chain head this process last
 * wrote. The chain row's UPDATE is conditional on that head; when another process (a worker, a
 * second server, the CLI) moved the head in between, it matches nothing and the guard fails the
 * statement; the transaction stays open with the write lock held, so the batch is relinked on the
 * head read there and committed. Its connection never checkpoints the WAL at commit (AuditRepo's
 * walCheckpointer does, off the path every call waits on).
 * Measured: a third of knex's cost per batch, and the request path's reads no longer queue
 * behind the audit transaction on knex's single connection (docs/benchmarks.md).
 */
class SqliteAuditWriter {
  /** The head this process last wrote or read; undefined = unknown (read it first). */
  private head: string | null | undefined;

  constructor(private readonly side: SideConnection) {}

  private exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.side.get().exec(sql, (err) => (err ? reject(busyError(err) ?? err) : resolve())));
  }

  private async readHead(): Promise<string | null> {
    const row = await new Promise<Record<string, unknown> | undefined>((resolve, reject) =>
      this.side.get().get('SELECT head_hash FROM audit_chain WHERE id = 1', (err, r) => (err ? reject(err) : resolve(r))),
    );
    if (!row) throw new Error('audit: the audit_chain row is missing (migrations not applied?)');
    return (row.head_hash as string | null) ?? null;
  }

  /** The batch's statements after BEGIN: move the head from `expected`, insert, commit. */
  private static batchSql(expected: string | null, events: StoredAuditEvent[]): string {
    const statements = [
      // The expected head is whatever the row held (quoted like any text: a tampered row must not become SQL).
      `UPDATE audit_chain SET batches = batches + 1, head_hash = ${sqlLiteral(events[events.length - 1]!.hash)} WHERE id = 1 AND head_hash IS ${expected === null ? 'NULL' : sqlLiteral(expected)}`,
      // The head moved under us: fail (a duplicate key, HEAD_MOVED) before anything is written.
      'INSERT INTO audit_chain (id, batches) SELECT 1, 0 WHERE changes() = 0',
    ];
    for (let i = 0; i < events.length; i += 200) {
      let values = '';
      for (const e of events.slice(i, i + 200)) {
        let row = '';
        for (const f of FIELDS) row += (row ? ', ' : '(') + sqlLiteral(e[f]);
        values += `${(values ? ', ' : '') + row})`;
      }
      statements.push(`INSERT INTO audit_events (${COLUMNS}) VALUES ${values}`);
    }
    statements.push('COMMIT');
    return `${statements.join(';\n')};`;
  }

  async append(link: (prevHash: string | undefined) => StoredAuditEvent[]): Promise<StoredAuditEvent[]> {
    for (let attempt = 0; ; attempt++) {
      if (this.head === undefined) this.head = await this.readHead();
      const expected = this.head;
      const events = link(expected ?? undefined);
      if (!events.length) return events;
      try {
        // The savepoint marks the transaction as this batch's: the relink below starts by releasing
        // it, which fails — before anything is written — if the transaction is not open after all.
        await this.exec(`BEGIN IMMEDIATE;\nSAVEPOINT audit_relink;\n${SqliteAuditWriter.batchSql(expected, events)}`);
        this.head = events[events.length - 1]!.hash;
        return events;
      } catch (err) {
        if (HEAD_MOVED.test((err as Error).message)) {
          // Another writer (a worker, a node, the CLI) moved the head. The failed statement left
          // our transaction open with the write lock held, so the head read now cannot move
          // again: link on it and finish — no rollback, no second race (docs/benchmarks.md).
          try {
            const head = await this.readHead();
            const relinked = link(head ?? undefined);
            await this.exec(`RELEASE audit_relink;\n${SqliteAuditWriter.batchSql(head, relinked)}`);
            this.head = relinked[relinked.length - 1]!.hash;
            return relinked;
          } catch (again) {
            await this.exec('ROLLBACK').catch(() => undefined);
            this.head = undefined;
            throw again;
          }
        }
        await this.exec('ROLLBACK').catch(() => undefined);
        this.head = undefined;
        // A head changed in a way the guard did not see (the row rewritten by hand, say): link
        // again on the new one. Anything else is a failure.
        const now = await this.readHead().catch(() => expected);
        if (now === expected || attempt >= 100) throw err;
      }
    }
  }

  close(): Promise<void> {
    this.head = undefined;
    return this.side.close();
  }
}

export class AuditRepo {
  private readonly sqlite: SqliteAuditWriter | undefined;
  /** The audit writer leaves WAL checkpoints to this (off the path every call waits on); started by the first append. */
  private checkpointer: { close(): Promise<void> } | undefined;

  constructor(private readonly db: Db) {
    const side = sqliteSideConnection(db, { checkpoints: false });
    this.sqlite = side ? new SqliteAuditWriter(side) : undefined;
  }

  /** Closes the SQLite writer's own connections (the knex pool is the caller's). */
  async close(): Promise<void> {
    const checkpointer = this.checkpointer;
    this.checkpointer = undefined;
    await checkpointer?.close();
    await this.sqlite?.close();
  }

  /**
   * One transaction for the whole batch: the group commit. On SQLite, SqliteAuditWriter above.
   * On PostgreSQL it opens by updating the audit_chain row, which takes the row's lock before
   * the chain head is read, so batches from several nodes are serialised and each links to the
   * head the previous one left: one linear chain. The head is kept in that row (both engines),
   * so the chain continues after retention has removed every event.
   */
  async appendChained(link: (prevHash: string | undefined) => StoredAuditEvent[]): Promise<StoredAuditEvent[]> {
    if (this.sqlite) {
      this.checkpointer ??= walCheckpointer(this.db);
      return this.sqlite.append(link);
    }
    return this.db.transaction(async (trx) => {
      // Lock and read in one statement (RETURNING: PostgreSQL, SQLite ≥ 3.35): one round trip
      // less per batch on PostgreSQL, where every batch of every node passes here.
      const [head] = (await trx('audit_chain').where('id', 1).increment('batches', 1).returning(['head_hash'])) as Array<{ head_hash: string | null }>;
      const events = link(head?.head_hash ?? undefined);
      for (let i = 0; i < events.length; i += 100) await trx('audit_events').insert(events.slice(i, i + 100).map(toRow));
      if (events.length)
        await trx('audit_chain')
          .where('id', 1)
          .update({ head_hash: events[events.length - 1]!.hash });
      return events;
    });
  }

  /**
   * Which of these events are stored already (by event id, found through the time index):
   * recovering a journal segment whose writer died after its batch was committed.
   */
  async existingEventIds(events: readonly Pick<AuditEvent, 'eventId' | 'eventTimeMs'>[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < events.length; i += 500) {
      const chunk = events.slice(i, i + 500);
      const times = chunk.map((e) => e.eventTimeMs);
      const rows = await this.db('audit_events')
        .whereBetween('event_time_ms', [Math.min(...times), Math.max(...times)])
        .whereIn(
          'event_id',
          chunk.map((e) => e.eventId),
        )
        .select('event_id');
      for (const r of rows) found.add(String(r.event_id));
    }
    return found;
  }

  /** Newest first. */
  async query(q: AuditQuery): Promise<StoredAuditEvent[]> {
    const b = this.db('audit_events');
    await this.filter(b, q);
    if (q.beforeSeq !== undefined) b.where('seq', '<', q.beforeSeq);
    return (await b.orderBy('seq', 'desc').limit(q.limit)).map(fromRow);
  }

  async count(q: Omit<AuditQuery, 'beforeSeq' | 'limit'>): Promise<number> {
    const b = this.db('audit_events');
    await this.filter(b, q);
    const row = (await b.count({ n: '*' }).first()) as { n: unknown } | undefined;
    return Number(row?.n ?? 0);
  }

  private async filter(b: Knex.QueryBuilder, q: Omit<AuditQuery, 'beforeSeq' | 'limit'>): Promise<void> {
    if (q.accountUin) b.where('account_uin', q.accountUin);
    if (q.sinceMs !== undefined) b.where('event_time_ms', '>=', q.sinceMs);
    if (q.untilMs !== undefined) b.where('event_time_ms', '<', q.untilMs);
    if (q.eventName) b.where('event_name', q.eventName);
    if (q.userName) b.where('user_name', q.userName);
    // No index of their own (migration 0014): an id names its event's millisecond, so the time
    // index finds the event. Ids of another form (an older release's) are matched by scanning.
    if (q.requestId) {
      b.where('request_id', q.requestId);
      const t = uuidTimeMs(q.requestId);
      if (t !== undefined) {
        // Events written before migration 0014 carry their call's end time, not its request's.
        const legacyUpTo = Number((await getMeta(this.db, LEGACY_REQUEST_TIMES_META)) ?? 0);
        if (legacyUpTo > 0) b.where((w) => w.where('event_time_ms', t).orWhere('seq', '<=', legacyUpTo));
        else b.where('event_time_ms', t);
      }
    }
    if (q.eventId) {
      b.where('event_id', q.eventId);
      const t = uuidTimeMs(q.eventId);
      if (t !== undefined) b.where('event_time_ms', t);
    }
    if (q.resourceType) b.where('resource_type', q.resourceType);
    // One of the event's resources (a comma-separated list).
    const named = (w: Knex.QueryBuilder, id: string) => w.orWhere('resource_name', id).orWhere((x) => whereContains(x, this.db, ["(',' || resource_name || ',')"], `,${id},`));
    if (q.resourceName) b.where((w) => named(w, q.resourceName!));
    if (q.resourceNames) {
      const ids = q.resourceNames;
      if (ids.length === 0) b.whereRaw('1 = 0');
      else b.where((w) => ids.forEach((id) => named(w, id)));
    }
    if (q.noResource !== undefined) b.where('resource_name', q.noResource ? '=' : '<>', '*');
    if (q.eventNames) b.whereIn('event_name', [...q.eventNames]);
    if (q.notEventNames?.length) b.whereNotIn('event_name', [...q.notEventNames]);
    if (q.userUin) b.where('user_uin', q.userUin);
    if (q.secretId) b.where('secret_id', q.secretId);
    if (q.sourceIp) b.where('source_ip', q.sourceIp);
    if (q.errorCodes) b.whereIn('error_code', [...q.errorCodes]);
    if (q.notErrorCodes?.length) b.whereNotIn('error_code', [...q.notErrorCodes]);
  }

  /**
   * In chain order, for verification and export. With a time range: the chain's segment from the
   * first to the last event stamped in it. Events are stamped when their request arrived and
   * chained when written, so a few inside the segment may be stamped just outside the range (a
   * call that arrived earlier and finished later); they are kept, or the segment would not verify.
   */
  async all(range: { sinceMs?: number; untilMs?: number } = {}): Promise<StoredAuditEvent[]> {
    const b = this.db('audit_events');
    if (range.sinceMs !== undefined || range.untilMs !== undefined) {
      const inRange = this.db('audit_events');
      if (range.sinceMs !== undefined) inRange.where('event_time_ms', '>=', range.sinceMs);
      if (range.untilMs !== undefined) inRange.where('event_time_ms', '<', range.untilMs);
      const ends = (await inRange.min({ first: 'seq' }).max({ last: 'seq' }).first()) as { first: unknown; last: unknown } | undefined;
      if (ends?.first === null || ends?.first === undefined) return [];
      b.whereBetween('seq', [Number(ends.first), Number(ends.last)]);
    }
    return (await b.orderBy('seq', 'asc')).map(fromRow);
  }

  async head(): Promise<{ seq: number; hash: string } | undefined> {
    const r = await this.db('audit_events').orderBy('seq', 'desc').first('seq', 'hash');
    return r ? { seq: Number(r.seq), hash: String(r.hash) } : undefined;
  }

  /**
   * Retention: the chain's oldest events, up to the first one stamped at or after the cutoff
   * (exported, then removed). A chain can only lose a prefix, and times are not quite in chain
   * order (stamped on arrival, chained when written; several nodes' clocks): selecting by time
   * alone and removing up to the last one selected would remove, unexported, a later-stamped event
   * among them. An event stamped late holds back the ones after it until it is due itself.
   */
  async expiredPrefix(cutoffMs: number, pageSize = 1000): Promise<StoredAuditEvent[]> {
    const out: StoredAuditEvent[] = [];
    for (let after = -1; ; ) {
      const rows = await this.db('audit_events').where('seq', '>', after).orderBy('seq', 'asc').limit(pageSize);
      for (const r of rows) {
        if (Number(r.event_time_ms) >= cutoffMs) return out;
        out.push(fromRow(r));
      }
      if (rows.length < pageSize) return out;
      after = Number(rows[rows.length - 1].seq);
    }
  }

  /**
   * Where the chain starts once retention has removed its oldest events: the last removed event
   * (its seq and hash); undefined while nothing was removed.
   */
  async anchor(): Promise<{ seq: number; hash: string } | undefined> {
    const raw = await getMeta(this.db, ANCHOR_META);
    return raw ? (JSON.parse(raw) as { seq: number; hash: string }) : undefined;
  }

  /** Retention: removes the events up to `last` and makes it the anchor, in one transaction. */
  async removePrefix(last: { seq: number; hash: string }): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('service_meta')
        .insert({ name: ANCHOR_META, value: JSON.stringify({ seq: last.seq, hash: last.hash }), updated_at: Date.now() })
        .onConflict('name')
        .merge();
      await trx('audit_events').where('seq', '<=', last.seq).delete();
    });
  }

  async deleteUpToSeq(seq: number): Promise<number> {
    return this.db('audit_events').where('seq', '<=', seq).delete();
  }
}

const checkpoint = (r: Record<string, unknown>): Checkpoint => ({
  seq: Number(r.seq),
  headHash: String(r.head_hash),
  signedAtMs: Number(r.signed_at_ms),
  signature: String(r.signature),
  scheme: String(r.scheme),
});

export class AuditCheckpointRepo {
  constructor(private readonly db: Db) {}

  async insert(c: Checkpoint): Promise<void> {
    await this.db('audit_checkpoints').insert({ seq: c.seq, head_hash: c.headHash, signed_at_ms: c.signedAtMs, signature: c.signature, scheme: c.scheme });
  }

  async last(): Promise<Checkpoint | undefined> {
    const r = await this.db('audit_checkpoints').orderBy('id', 'desc').first();
    return r ? checkpoint(r) : undefined;
  }

  async all(): Promise<Checkpoint[]> {
    return (await this.db('audit_checkpoints').orderBy('id')).map(checkpoint);
  }

  async deleteUpTo(seq: number): Promise<void> {
    await this.db('audit_checkpoints').where('seq', '<=', seq).delete();
  }
}
