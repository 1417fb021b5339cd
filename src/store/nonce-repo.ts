import type { NonceVerdict, V1NonceEntry, V1NonceStore } from '../model/replay.js';
import { sqliteSideConnection, type Db, type SideConnection } from './db.js';

// The signature-v1 replay store in the database (migration 0016), so that every worker and every
// node sharing the database refuses a request another one already accepted. Requests arriving
// together are recorded by one statement (group commit, as the audit trail does): an INSERT whose
// conflicts are the replays, atomic on its own, so two processes recording the same request at
// once find exactly one `first`. On SQLite it runs on a connection of its own, without knex, so it
// neither queues behind knex's single connection nor pays knex per batch (docs/benchmarks.md#v1-replay-cost). An unexpired entry is never dropped. Each process admits at most
// `perSecretId` unexpired entries per SecretId, and refuses that SecretId's further v1 requests
// until some expire: the table stays bounded by processes × credentials × that bound, and one
// credential cannot crowd out another's (docs/deployment.md#v1-replay).

const MINUTE_MS = 60_000;

/**
 * Rows are removed this long after they expire: a node whose clock runs behind another's accepts
 * a request a little longer than the one that recorded it, and the row must still be there.
 */
const PURGE_MARGIN_MS = 60_000;
const PURGE_EVERY_MS = 10_000;

interface Pending {
  entry: V1NonceEntry;
  resolve: (verdict: NonceVerdict) => void;
  reject: (err: unknown) => void;
}

export class V1NonceRepo implements V1NonceStore {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private lastPurgeMs = 0;
  /** Entries this process recorded, per SecretId and minute of expiry (what its bound counts). */
  private readonly admitted = new Map<string, Map<number, number>>();
  private readonly sqlite: SideConnection | undefined;

  constructor(
    private readonly db: Db,
    /** The most unexpired entries this process records for one SecretId. */
    private readonly perSecretId: number,
  ) {
    // Its commits leave WAL checkpoints to the audit trail's checkpointer (store/db.ts walCheckpointer).
    this.sqlite = sqliteSideConnection(db, { checkpoints: false });
  }

  async close(): Promise<void> {
    await this.sqlite?.close();
  }

  record(entry: V1NonceEntry): Promise<NonceVerdict> {
    return new Promise((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length) {
        // Let the requests whose signatures were checked in this turn join the batch.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const batch = this.queue;
        this.queue = [];
        try {
          const verdicts = await this.recordBatch(
            batch.map((p) => p.entry),
            Date.now(),
          );
          batch.forEach((p, i) => p.resolve(verdicts[i]!));
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** Records a batch: which entries are new (`first`), already known (`replayed`), or over their SecretId's bound (`full`). */
  async recordBatch(entries: readonly V1NonceEntry[], nowMs: number): Promise<NonceVerdict[]> {
    const out: NonceVerdict[] = new Array(entries.length);
    const firstOf = new Map<string, number>();
    entries.forEach((e, i) => {
      if (firstOf.has(e.digest)) out[i] = 'replayed';
      else firstOf.set(e.digest, i);
    });
    const nowMinute = Math.floor(nowMs / MINUTE_MS);
    const used = new Map<string, number>();
    const admitted: number[] = [];
    const over: number[] = [];
    for (const i of firstOf.values()) {
      const secretId = entries[i]!.secretId;
      const n = used.get(secretId) ?? this.unexpired(secretId, nowMinute);
      if (n >= this.perSecretId) over.push(i);
      else {
        used.set(secretId, n + 1);
        admitted.push(i);
      }
    }
    // Past its bound a SecretId records nothing more; a request it already made is still a replay.
    if (over.length) {
      const known = new Set<string>();
      for (let j = 0; j < over.length; j += 500) {
        const rows = await this.db('v1_nonces')
          .whereIn(
            ['expiry_minute', 'digest'],
            over.slice(j, j + 500).map((i) => [minuteOf(entries[i]!), entries[i]!.digest]),
          )
          .select('digest');
        for (const r of rows) known.add(String(r.digest));
      }
      for (const i of over) out[i] = known.has(entries[i]!.digest) ? 'replayed' : 'full';
    }
    // In key order: two PostgreSQL statements never wait for each other's rows in opposite orders.
    admitted.sort((a, b) => (entries[a]!.digest < entries[b]!.digest ? -1 : 1));
    for (let j = 0; j < admitted.length; j += 500) {
      const chunk = admitted.slice(j, j + 500);
      const inserted = await this.insertNew(chunk.map((i) => entries[i]!));
      for (const i of chunk) {
        const e = entries[i]!;
        if (!inserted.has(e.digest)) {
          out[i] = 'replayed';
          continue;
        }
        out[i] = 'first';
        const minutes = this.admitted.get(e.secretId) ?? this.admitted.set(e.secretId, new Map()).get(e.secretId)!;
        const minute = minuteOf(e);
        minutes.set(minute, (minutes.get(minute) ?? 0) + 1);
      }
    }
    if (nowMs - this.lastPurgeMs >= PURGE_EVERY_MS) {
      this.lastPurgeMs = nowMs;
      this.forget(nowMinute);
      // Off the path of the requests in this batch: they have their answers.
      void this.purge(nowMs).catch(() => undefined);
    }
    return out;
  }

  /** Inserts the entries that are not there yet; answers their digests (the others are replays). */
  private async insertNew(entries: readonly V1NonceEntry[]): Promise<Set<string>> {
    const side = this.sqlite;
    if (side) {
      const sql = `INSERT INTO v1_nonces (expiry_minute, digest) VALUES ${entries.map(() => '(?, ?)').join(', ')} ON CONFLICT DO NOTHING RETURNING digest`;
      const params = entries.flatMap((e) => [minuteOf(e), e.digest]);
      const rows = await new Promise<Array<Record<string, unknown>>>((resolve, reject) => side.get().all(sql, params, (err, r) => (err ? reject(err) : resolve(r ?? []))));
      return new Set(rows.map((r) => String(r.digest)));
    }
    const rows = entries.map((e) => ({ expiry_minute: minuteOf(e), digest: e.digest }));
    const r = (await this.db('v1_nonces').insert(rows).onConflict(['expiry_minute', 'digest']).ignore().returning('digest')) as Array<{ digest: string } | string>;
    return new Set(r.map((row) => (typeof row === 'string' ? row : row.digest)));
  }

  /** This process's entries of a SecretId that have not expired (counted per minute of expiry: a slight overcount). */
  private unexpired(secretId: string, nowMinute: number): number {
    let n = 0;
    // An unexpired entry's minute ends after now: it is past the minute now is in.
    for (const [minute, count] of this.admitted.get(secretId) ?? []) if (minute > nowMinute) n += count;
    return n;
  }

  private forget(nowMinute: number): void {
    for (const [secretId, minutes] of this.admitted) {
      for (const minute of minutes.keys()) if (minute <= nowMinute) minutes.delete(minute);
      if (minutes.size === 0) this.admitted.delete(secretId);
    }
  }

  /** Removes the entries of every minute that ended longer ago than the margin. */
  async purge(nowMs: number): Promise<number> {
    return this.db('v1_nonces')
      .where('expiry_minute', '<', Math.floor((nowMs - PURGE_MARGIN_MS) / MINUTE_MS))
      .delete();
  }
}

/** The minute an entry expires in: part of its key (the same request always has the same one). */
const minuteOf = (e: V1NonceEntry) => Math.ceil(e.expiresAtMs / MINUTE_MS);
