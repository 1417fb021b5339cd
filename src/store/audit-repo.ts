import { likeOperator, type Db } from './db.js';

export interface AuditEvent {
  eventId: string;
  eventTimeMs: number;
  eventName: string;
  requestId: string;
  accountUin: string;
  userUin: string;
  userName: string;
  secretId: string;
  sourceIp: string;
  region: string;
  resourceType: string;
  resourceName: string;
  result: 'Success' | 'Fail';
  errorCode: string;
  apiVersion: string;
}

export interface StoredAuditEvent extends AuditEvent {
  seq: number;
  prevHash: string;
  hash: string;
}

export interface AuditQuery {
  accountUin?: string;
  sinceMs?: number;
  untilMs?: number;
  eventName?: string;
  userName?: string;
  requestId?: string;
  eventId?: string;
  /** A key id among the event's resources. */
  resourceName?: string;
  resourceType?: string;
  /** Pagination cursor: events with a smaller seq (the query is newest first). */
  beforeSeq?: number;
  limit: number;
}

const toRow = (e: StoredAuditEvent) => ({
  event_id: e.eventId,
  event_time_ms: e.eventTimeMs,
  event_name: e.eventName,
  request_id: e.requestId,
  account_uin: e.accountUin,
  user_uin: e.userUin,
  user_name: e.userName,
  secret_id: e.secretId,
  source_ip: e.sourceIp,
  region: e.region,
  resource_type: e.resourceType,
  resource_name: e.resourceName,
  result: e.result,
  error_code: e.errorCode,
  api_version: e.apiVersion,
  prev_hash: e.prevHash,
  hash: e.hash,
});

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

export class AuditRepo {
  constructor(private readonly db: Db) {}

  /**
   * One transaction for the whole batch: the group commit. It opens by updating the
   * audit_chain row, which takes the database's write lock (SQLite) or the row's lock
   * (PostgreSQL) before the chain head is read, so batches from several processes are
   * serialised and each links to the head the previous one left: one linear chain. The head
   * is kept in that row, so the chain continues after retention has removed every event.
   */
  async appendChained(link: (prevHash: string | undefined) => StoredAuditEvent[]): Promise<StoredAuditEvent[]> {
    return this.db.transaction(async (trx) => {
      // Lock and read in one statement (RETURNING: PostgreSQL, SQLite ≥ 3.35): one round trip
      // less per batch on PostgreSQL, where every batch of every node passes here.
      const [head] = (await trx('audit_chain').where('id', 1).increment('batches', 1).returning(['head_hash'])) as Array<{ head_hash: string | null }>;
      const events = link(head?.head_hash ?? undefined);
      for (let i = 0; i < events.length; i += 100) await trx('audit_events').insert(events.slice(i, i + 100).map(toRow));
      if (events.length) await trx('audit_chain').where('id', 1).update({ head_hash: events[events.length - 1]!.hash });
      return events;
    });
  }

  /** Newest first. */
  async query(q: AuditQuery): Promise<StoredAuditEvent[]> {
    const b = this.db('audit_events');
    if (q.accountUin) b.where('account_uin', q.accountUin);
    if (q.sinceMs !== undefined) b.where('event_time_ms', '>=', q.sinceMs);
    if (q.untilMs !== undefined) b.where('event_time_ms', '<', q.untilMs);
    if (q.eventName) b.where('event_name', q.eventName);
    if (q.userName) b.where('user_name', q.userName);
    if (q.requestId) b.where('request_id', q.requestId);
    if (q.eventId) b.where('event_id', q.eventId);
    if (q.resourceType) b.where('resource_type', q.resourceType);
    if (q.resourceName) b.where((w) => w.where('resource_name', q.resourceName!).orWhereRaw(`(',' || resource_name || ',') ${likeOperator(this.db)} ?`, [`%,${q.resourceName},%`]));
    if (q.beforeSeq !== undefined) b.where('seq', '<', q.beforeSeq);
    return (await b.orderBy('seq', 'desc').limit(q.limit)).map(fromRow);
  }

  /** In chain order, for verification and export. */
  async all(range: { sinceMs?: number; untilMs?: number } = {}): Promise<StoredAuditEvent[]> {
    const b = this.db('audit_events');
    if (range.sinceMs !== undefined) b.where('event_time_ms', '>=', range.sinceMs);
    if (range.untilMs !== undefined) b.where('event_time_ms', '<', range.untilMs);
    return (await b.orderBy('seq', 'asc')).map(fromRow);
  }

  async head(): Promise<{ seq: number; hash: string } | undefined> {
    const r = await this.db('audit_events').orderBy('seq', 'desc').first('seq', 'hash');
    return r ? { seq: Number(r.seq), hash: String(r.hash) } : undefined;
  }

  /** Retention: events older than the cutoff, oldest first (exported before they are removed). */
  async olderThan(cutoffMs: number): Promise<StoredAuditEvent[]> {
    return (await this.db('audit_events').where('event_time_ms', '<', cutoffMs).orderBy('seq', 'asc')).map(fromRow);
  }

  async deleteUpToSeq(seq: number): Promise<number> {
    return this.db('audit_events').where('seq', '<=', seq).delete();
  }
}

export interface Checkpoint {
  seq: number;
  headHash: string;
  signedAtMs: number;
  /** base64 DER ECDSA P-256 signature over checkpointMessage() */
  signature: string;
}

export class AuditCheckpointRepo {
  constructor(private readonly db: Db) {}

  async insert(c: Checkpoint): Promise<void> {
    await this.db('audit_checkpoints').insert({ seq: c.seq, head_hash: c.headHash, signed_at_ms: c.signedAtMs, signature: c.signature });
  }

  async last(): Promise<Checkpoint | undefined> {
    const r = await this.db('audit_checkpoints').orderBy('id', 'desc').first();
    return r ? { seq: Number(r.seq), headHash: String(r.head_hash), signedAtMs: Number(r.signed_at_ms), signature: String(r.signature) } : undefined;
  }

  async all(): Promise<Checkpoint[]> {
    return (await this.db('audit_checkpoints').orderBy('id')).map((r) => ({ seq: Number(r.seq), headHash: String(r.head_hash), signedAtMs: Number(r.signed_at_ms), signature: String(r.signature) }));
  }

  async deleteUpTo(seq: number): Promise<void> {
    await this.db('audit_checkpoints').where('seq', '<=', seq).delete();
  }
}
