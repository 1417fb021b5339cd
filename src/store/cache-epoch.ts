import { sqliteSideConnection, type Db } from './db.js';

// The database's cache epoch (migration 0013): moved by trigger with every write to a cached
// table. Read by EpochWatch (src/domain/cache.ts) about once per wave of requests, so its cost
// matters: on SQLite it is one statement on a side connection, without knex (a knex query cost
// ~8 % of the main thread at 64 connections, measured with --cpu-prof); PostgreSQL goes
// through knex's pool. Not a kept prepared statement: node-sqlite3's Statement#get leaves the
// statement unreset, which holds its read snapshot — later reads would see the old epoch.

export interface CacheEpochReader {
  read(): Promise<number>;
  close(): Promise<void>;
}

export function cacheEpochReader(db: Db): CacheEpochReader {
  const side = sqliteSideConnection(db);
  if (!side) {
    return {
      read: async () => {
        const row = (await db('cache_epoch').where('id', 1).first('n')) as { n: number | string } | undefined;
        return Number(row?.n ?? 0);
      },
      close: async () => undefined,
    };
  }
  return {
    read: () => new Promise((resolve, reject) => side.get().get('SELECT n FROM cache_epoch WHERE id = 1', (err, row) => (err ? reject(err) : resolve(Number(row?.n ?? 0))))),
    close: () => side.close(),
  };
}
