import { mkdirSync } from 'node:fs';
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

interface SqliteConnection {
  exec: (sql: string, cb: (err: Error | null) => void) => void;
  run: (sql: string, ...rest: unknown[]) => unknown;
  all: (sql: string, ...rest: unknown[]) => unknown;
}

/**
 * Transactions start with BEGIN IMMEDIATE, taking the write lock up front. knex sends a plain
 * (deferred) BEGIN, and a deferred transaction that reads and then writes while another process
 * has written fails at once with SQLITE_BUSY (it cannot upgrade its snapshot; busy_timeout does
 * not apply): seen with two `serve` workers creating keys concurrently. An immediate transaction
 * waits out the other writer under busy_timeout instead.
 */
function beginImmediate(conn: SqliteConnection): void {
  for (const method of ['run', 'all'] as const) {
    const original = conn[method].bind(conn);
    conn[method] = (sql: string, ...rest: unknown[]) => original(sql === 'BEGIN;' ? 'BEGIN IMMEDIATE;' : sql, ...rest);
  }
}

export function openDatabase(config: Pick<Config, 'databaseUrl' | 'sqliteFile'>): Db {
  const url = config.databaseUrl;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    throw new StoreConfigError('KMS_DATABASE_URL: PostgreSQL is not supported yet; unset it to use the SQLite file in the data dir');
  }
  if (url) throw new StoreConfigError('KMS_DATABASE_URL must be a postgres:// URL');
  mkdirSync(path.dirname(config.sqliteFile), { recursive: true, mode: 0o700 });
  return knexFactory({
    client: 'sqlite3',
    connection: { filename: config.sqliteFile },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      // WAL lets the CLI read while the server writes; busy_timeout waits out the other writer.
      afterCreate: (conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) => {
        beginImmediate(conn);
        conn.exec('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;', (err) => done(err, conn));
      },
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
