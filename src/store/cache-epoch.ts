import { sqliteSideConnection, type Db, type RawSqlite, type RawStatement } from './db.js';

// The database's cache epoch (migration 0013): moved by trigger with every write to a cached
// table. Read by EpochWatch (src/domain/cache.ts) by every request that finds no read begun after
// it arrived — for a lone caller, once per call — so its cost matters: on SQLite it is one
// prepared statement on a side connection, without knex (a knex query cost ~8 % of the main
// thread at 64 connections, measured with --cpu-prof; an unprepared statement is parsed again
// each time: about twice the CPU of the prepared one). The statement is run with all(), which
// steps it to its end and so ends its read transaction; get() stops at the row and leaves the
// statement holding its read snapshot, so later reads would see the old epoch.
// PostgreSQL goes through knex's pool.

const SQL = 'SELECT n FROM cache_epoch WHERE id = 1';

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
  let stmt: RawStatement | undefined;
  let on: RawSqlite | undefined;
  return {
    read: () =>
      new Promise((resolve, reject) => {
        const conn = side.get();
        // Prepared on the connection it runs on (a preparation error arrives in all()'s callback).
        if (on !== conn || !stmt) {
          stmt = conn.prepare(SQL);
          on = conn;
        }
        stmt.all((err, rows) => (err ? reject(err) : resolve(Number(rows[0]?.n ?? 0))));
      }),
    close: async () => {
      const s = stmt;
      stmt = undefined;
      on = undefined;
      if (s) await new Promise<void>((resolve) => s.finalize(() => resolve()));
      await side.close();
    },
  };
}
