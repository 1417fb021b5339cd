import { createRequire } from 'node:module';
import { dialectOf, type Db } from './db.js';

// The database's cache epoch (migration 0013): moved by trigger with every write to a cached
// table. Read by EpochWatch (src/domain/cache.ts) about once per wave of requests, so its cost
// matters: on SQLite it is one statement on a connection of its own, without knex (a knex query
// cost ~8 % of the main thread at 64 connections, measured with --cpu-prof); PostgreSQL goes
// through knex's pool. Not a kept prepared statement: node-sqlite3's Statement#get leaves the
// statement unreset, which holds its read snapshot — later reads would see the old epoch.

interface RawSqlite {
  get(sql: string, cb: (err: Error | null, row?: { n: number }) => void): void;
  exec(sql: string, cb: (err: Error | null) => void): void;
  close(cb: (err: Error | null) => void): void;
}
const require = createRequire(import.meta.url);

export interface CacheEpochReader {
  read(): Promise<number>;
  close(): Promise<void>;
}

export function cacheEpochReader(db: Db): CacheEpochReader {
  const filename = (db.client as { config: { connection?: { filename?: string } } }).config.connection?.filename;
  if (dialectOf(db) !== 'sqlite' || !filename || filename === ':memory:') {
    return {
      read: async () => {
        const row = (await db('cache_epoch').where('id', 1).first('n')) as { n: number | string } | undefined;
        return Number(row?.n ?? 0);
      },
      close: async () => undefined,
    };
  }
  let conn: RawSqlite | undefined;
  return {
    read: () => {
      if (!conn) {
        const sqlite3 = require('sqlite3') as { Database: new (file: string) => RawSqlite };
        conn = new sqlite3.Database(filename);
        conn.exec('PRAGMA busy_timeout = 5000;', () => undefined);
      }
      const c = conn;
      return new Promise((resolve, reject) => c.get('SELECT n FROM cache_epoch WHERE id = 1', (err, row) => (err ? reject(err) : resolve(Number(row?.n ?? 0)))));
    },
    close: () => {
      const c = conn;
      conn = undefined;
      return c ? new Promise((resolve) => c.close(() => resolve())) : Promise.resolve();
    },
  };
}
