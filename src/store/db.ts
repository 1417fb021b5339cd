import { StoreBusyError, StoreConflictError } from '../model/errors.js';
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { Config } from '../config.js';
import { migrations } from './migrations/index.js';

// The metadata store: knex on SQLite by default (a file under the data dir), PostgreSQL
// when KMS_DATABASE_URL says postgres:// (several API nodes share one database: see
// docs/deployment.md). SQL lives only under src/store, written for both dialects.

export type Db = Knex;
export { dialectOf, type Dialect } from './dialect.js';
import { dialectOf } from './dialect.js';

export class StoreConfigError extends Error {
  readonly code = 'StoreConfigError';
}

// PostgreSQL returns int8 (bigint columns, COUNT, SUM) as strings to keep 64-bit precision.
// Every int8 here is a time in (milli)seconds, a counter or a count: far below 2^53, so they
// come back as numbers, as they do from SQLite. Larger values fail loudly rather than round.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${v} exceeds the safe integer range`);
  return n;
});
// SUM over int8 is numeric: the same treatment.
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v: string) => Number(v));

const POSTGRES_URL = /^postgres(ql)?:\/\//;

interface SqliteConnection {
  exec: (sql: string, cb: (err: Error | null) => void) => void;
}

// Write transactions take SQLite's write lock at BEGIN (BEGIN IMMEDIATE), where busy_timeout
// applies: a deferred BEGIN that reads first and then writes while another process (the CLI, a
// second server, a backup) holds the lock fails at once with SQLITE_BUSY, busy wait or not. The
// pool has one connection, so this process loses no concurrency by it.
const require = createRequire(import.meta.url);
// knex ships these dialect classes as CommonJS without typings.
const Sqlite3Client = require('knex/lib/dialects/sqlite3/index.js') as new (config: Knex.Config) => object;
const SqliteTransaction = require('knex/lib/dialects/sqlite3/execution/sqlite-transaction.js') as new (
  ...args: unknown[]
) => { query(conn: unknown, sql: string): Promise<unknown> };
class ImmediateTransaction extends SqliteTransaction {
  begin(conn: unknown): Promise<unknown> {
    return this.query(conn, 'BEGIN IMMEDIATE;');
  }
}
const PgClient = require('knex/lib/dialects/postgres/index.js') as new (config: Knex.Config) => object;

/**
 * Driver errors callers react to, as the model's types (model/errors.ts): a unique violation is
 * a conflict; a lock held past the waits is busy (SQLite: locked past busy_timeout; PostgreSQL:
 * lock_not_available, and a deadlock or serialisation failure — retryingTransaction retries
 * those first, by the code the translated error keeps).
 */
function translated(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return err;
  if (code === 'SQLITE_CONSTRAINT' || code === '23505') return Object.assign(new StoreConflictError('the row conflicts with one that exists', code), { cause: err });
  return busyError(err) ?? err;
}

/** A driver error that is a lock held past the waits, as StoreBusyError; undefined for any other (also for raw node-sqlite3 calls outside knex). */
export function busyError(err: unknown): StoreBusyError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === '55P03' || code === '40P01' || code === '40001')
    return Object.assign(new StoreBusyError('the database is locked by another writer', code), { cause: err });
  return undefined;
}

/** Every query of a knex client goes through `query`: its failures are translated there, once. */
type QueryingClient = new (...args: unknown[]) => { query(connection: unknown, queryParam: unknown): Promise<unknown> };
function translating(Base: new (config: Knex.Config) => object): QueryingClient {
  return class extends (Base as unknown as QueryingClient) {
    override query(connection: unknown, queryParam: unknown): Promise<unknown> {
      return super.query(connection, queryParam).catch((err: unknown) => {
        throw translated(err);
      });
    }
  };
}

class ImmediateSqlite3Client extends translating(Sqlite3Client) {
  transaction(...args: unknown[]): unknown {
    return new ImmediateTransaction(this, ...args);
  }
}
const TranslatingPgClient = translating(PgClient);

export function openDatabase(config: Pick<Config, 'databaseUrl' | 'sqliteFile'> & { databasePoolMax?: number }): Db {
  const url = config.databaseUrl;
  if (url && POSTGRES_URL.test(url)) {
    return knexFactory({
      client: TranslatingPgClient as unknown as typeof Knex.Client,
      connection: { connectionString: url, application_name: 'hsmkms' },
      // Several connections per node: the audit batch holds the chain row's lock while
      // requests go on reading and writing keys beside it.
      pool: { min: 0, max: config.databasePoolMax ?? 10 },
      acquireConnectionTimeout: 10_000,
    });
  }
  if (url) throw new StoreConfigError('KMS_DATABASE_URL must be a postgres:// or postgresql:// URL (unset it to use the SQLite file in the data dir)');
  mkdirSync(path.dirname(config.sqliteFile), { recursive: true, mode: 0o700 });
  ownerOnly(config.sqliteFile);
  return knexFactory({
    client: ImmediateSqlite3Client as unknown as typeof Knex.Client,
    connection: { filename: config.sqliteFile },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      // WAL lets the CLI read while the server writes; busy_timeout waits out the other writer.
      afterCreate: (conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) =>
        conn.exec('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;', (err) => done(err, conn)),
    },
  });
}

/**
 * The SQLite file (sealed keys, credentials, policies, the audit trail) readable by its owner only:
 * created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the database file's
 * mode), and an existing one — with its -wal and -shm — narrowed to 0600 if it was wider.
 */
function ownerOnly(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if ((statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600);
    } catch {
      /* absent, or not ours to change: SQLite reports what matters when it opens the file */
    }
  }
}

/** A raw node-sqlite3 connection: the few calls the side connections below make. */
export interface RawSqlite {
  exec(sql: string, cb: (err: Error | null) => void): void;
  get(sql: string, cb: (err: Error | null, row?: Record<string, unknown>) => void): void;
  prepare(sql: string): RawStatement;
  all(sql: string, params: unknown[], cb: (err: Error | null, rows?: Array<Record<string, unknown>>) => void): void;
  close(cb: (err: Error | null) => void): void;
}

/** node-sqlite3's prepared statement, the calls the store uses. */
export interface RawStatement {
  all(cb: (err: Error | null, rows: Record<string, unknown>[]) => void): void;
  finalize(cb?: () => void): void;
}

/** A connection of its own to the same SQLite file, opened on first use; closing is idempotent. */
export interface SideConnection {
  get(): RawSqlite;
  close(): Promise<void>;
  /** The database file. */
  readonly filename: string;
}

/**
 * For a hot path that must not queue behind knex's single SQLite connection nor pay knex per
 * statement (the audit writer, the cache-epoch read: docs/benchmarks.md). Undefined on
 * PostgreSQL and for an in-memory database (which a second connection would not share).
 * Same waits as knex's connection; the journal mode (WAL) is the file's, set by knex's.
 */
export function sqliteSideConnection(db: Db, opts: { checkpoints?: boolean } = {}): SideConnection | undefined {
  const filename = (db.client as { config: { connection?: { filename?: string } } }).config.connection?.filename;
  if (dialectOf(db) !== 'sqlite' || !filename || filename === ':memory:') return undefined;
  let conn: RawSqlite | undefined;
  return {
    filename,
    get: () => {
      if (!conn) {
        const sqlite3 = require('sqlite3') as { Database: new (file: string) => RawSqlite };
        conn = new sqlite3.Database(filename);
        // Queued by node-sqlite3 ahead of any statement sent after it. `checkpoints: false`: this
        // connection's commits never run the WAL checkpoint themselves (walCheckpointer does).
        conn.exec(`PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;${opts.checkpoints === false ? ' PRAGMA wal_autocheckpoint = 0;' : ''}`, () => undefined);
      }
      return conn;
    },
    close: () => {
      const c = conn;
      conn = undefined;
      return c ? new Promise((resolve) => c.close(() => resolve())) : Promise.resolve();
    },
  };
}

/**
 * Checkpoints the SQLite WAL every `intervalMs` on a connection of its own (PASSIVE: never waits
 * for, nor blocks, readers and writers), for a writer that opted out of checkpointing at commit
 * (`checkpoints: false` above). SQLite's default is that the commit which crosses 1,000 WAL pages
 * copies them into the database and syncs it, so every few hundred audit batches one stalled
 * every call waiting on it (docs/benchmarks.md). Undefined where sqliteSideConnection is.
 */
export function walCheckpointer(db: Db, intervalMs = 1_000): { close(): Promise<void> } | undefined {
  const side = sqliteSideConnection(db);
  if (!side) return undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    side.get().exec('PRAGMA wal_checkpoint(PASSIVE)', () => {
      // SQLITE_BUSY (another process is checkpointing) or a failure: the next tick tries again;
      // meanwhile the WAL only grows, and knex's connection still checkpoints at its commits.
      running = false;
    });
  }, intervalMs);
  timer.unref();
  return {
    close: async () => {
      clearInterval(timer);
      await side.close();
    },
  };
}

/** Where the database is, for the start-up log: the file, or the PostgreSQL URL without credentials. */
export function describeDatabase(config: Pick<Config, 'databaseUrl' | 'sqliteFile'>): string {
  if (!config.databaseUrl) return `sqlite:${config.sqliteFile}`;
  try {
    const u = new URL(config.databaseUrl);
    return `postgres://${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

export async function migrate(db: Db): Promise<string[]> {
  // Several nodes may start at once: knex's migration lock table lets one migrate while the
  // others wait for it (and then find nothing left to apply).
  for (let attempt = 0; ; attempt++) {
    try {
      const [, applied] = (await db.migrate.latest({ migrationSource: migrations })) as [number, string[]];
      return applied;
    } catch (err) {
      // Another node holds the migration lock, or created knex's own tables at the same instant.
      const raced = err instanceof Error && /already locked|already exists|duplicate key/i.test(err.message);
      if (!raced || attempt >= 60) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * PostgreSQL aborts one of two transactions that wait for each other (deadlock, 40P01) or,
 * rarely, one that cannot be serialised (40001): both are safe to run again from the start.
 * SQLite has a single writer and never reports either.
 */
export function isRetryableConflict(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === '40P01' || code === '40001';
}

/** A transaction run again (at most 3 times) when PostgreSQL aborted it for a deadlock. */
export async function retryingTransaction<T>(db: Db, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(fn);
    } catch (err) {
      if (!isRetryableConflict(err) || attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 20 * attempt)));
    }
  }
}

/** A search term for LIKE … ESCAPE '\\': its own %, _ and \\ match literally. */
const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Rows where `term` occurs in any of `expressions` (SQL column expressions: the caller's
 * constants, never input), its characters all literal, ignoring case (ASCII case on SQLite, as
 * its LIKE does). SQLite: instr(lower(…), lower(?)), not LIKE, which refuses a pattern over
 * 50,000 bytes ("LIKE or GLOB pattern too complex") — a long search term was an InternalError
 * (found by the fuzz suite). PostgreSQL: ILIKE with %, _ and \ escaped.
 */
export function whereContains(q: Knex.QueryBuilder, conn: Db | Knex.Transaction, expressions: string[], term: string): void {
  const postgres = dialectOf(conn) === 'postgres';
  const like = `%${escapeLike(term)}%`;
  q.andWhere((w) => {
    for (const e of expressions) {
      if (postgres) w.orWhereRaw(`${e} ilike ? escape '\\'`, [like]);
      else w.orWhereRaw(`instr(lower(${e}), lower(?)) > 0`, [term]);
    }
  });
}

/** /readyz: the database answers. */
export async function databaseReachable(db: Db): Promise<boolean> {
  try {
    await db.raw('select 1');
    return true;
  } catch {
    return false;
  }
}
