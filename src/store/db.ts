import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { Config } from '../config.js';
import { migrations } from './migrations/index.js';

// The metadata store: knex on SQLite by default (a file under the data dir), PostgreSQL
// when KMS_DATABASE_URL says postgres://. SQL lives only under src/store.

export type Db = Knex;

export class StoreConfigError extends Error {
  readonly code = 'StoreConfigError';
}

// Write transactions take SQLite's write lock at BEGIN (BEGIN IMMEDIATE), where busy_timeout
// applies: a deferred BEGIN that reads first and then writes while another process (the CLI, a
// second server, a backup) holds the lock fails at once with SQLITE_BUSY, busy wait or not. The
// pool has one connection, so this process loses no concurrency by it.
const require = createRequire(import.meta.url);
// knex ships these dialect classes as CommonJS without typings.
const Sqlite3Client = require('knex/lib/dialects/sqlite3/index.js') as new (config: Knex.Config) => object;
const SqliteTransaction = require('knex/lib/dialects/sqlite3/execution/sqlite-transaction.js') as new (...args: unknown[]) => { query(conn: unknown, sql: string): Promise<unknown> };
class ImmediateTransaction extends SqliteTransaction {
  begin(conn: unknown): Promise<unknown> {
    return this.query(conn, 'BEGIN IMMEDIATE;');
  }
}
class ImmediateSqlite3Client extends Sqlite3Client {
  transaction(...args: unknown[]): unknown {
    return new ImmediateTransaction(this, ...args);
  }
}

/** The database stayed locked by another writer beyond busy_timeout (SQLite's bounded retries). */
export function isStoreBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

export function openDatabase(config: Pick<Config, 'databaseUrl' | 'sqliteFile'>): Db {
  const url = config.databaseUrl;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    throw new StoreConfigError('KMS_DATABASE_URL: PostgreSQL is not supported yet; unset it to use the SQLite file in the data dir');
  }
  if (url) throw new StoreConfigError('KMS_DATABASE_URL must be a postgres:// URL');
  mkdirSync(path.dirname(config.sqliteFile), { recursive: true, mode: 0o700 });
  return knexFactory({
    client: ImmediateSqlite3Client as unknown as typeof Knex.Client,
    connection: { filename: config.sqliteFile },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      // WAL lets the CLI read while the server writes; busy_timeout waits out the other writer.
      afterCreate: (conn: { exec: (sql: string, cb: (err: Error | null) => void) => void }, done: (err: Error | null, conn: unknown) => void) =>
        conn.exec('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;', (err) => done(err, conn)),
    },
  });
}

export async function migrate(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource: migrations })) as [number, string[]];
  return applied;
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
