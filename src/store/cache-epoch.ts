import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
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
  /**
   * Synchronous, without a query: true only when nothing has been committed to the database, by
   * anyone, since the last successful read() began — so that read's value is still the epoch.
   * Absent where it cannot be known that cheaply (PostgreSQL).
   */
  unchanged?(): boolean;
  close(): Promise<void>;
}

/**
 * SQLite's WAL-index header: the first 96 bytes of the database's `-shm` file, two copies of a
 * 48-byte header that every commit rewrites (the last valid frame, the frame checksum, the WAL's
 * salts, which a WAL restart changes) before the commit returns, in shared memory that every
 * connection on the machine maps (the WAL file format, docs/benchmarks.md#epoch-shm). One pread(2): a few
 * microseconds, against a query's trip through the thread pool. Undefined when it cannot be read
 * whole and consistent (no WAL yet, a commit writing it right now): the caller reads SQL instead.
 */
class WalIndexHeader {
  private fd: number | undefined;
  private ino: number | undefined;
  private readonly buf = Buffer.alloc(96);

  constructor(private readonly file: string) {}

  /**
   * Makes sure the descriptor is the file's present inode. Called by every query read (the slow
   * path): a -shm file is removed only when the last connection to the database closes, and the
   * reader's own connection stays open between its reads, so the inode a read saw stays the
   * file's for the quick checks after it — they need no stat(2) of their own.
   */
  attach(): void {
    try {
      const ino = statSync(this.file).ino;
      if (this.fd !== undefined && ino === this.ino) return;
      this.close();
      this.fd = openSync(this.file, 'r');
      this.ino = fstatSync(this.fd).ino;
    } catch {
      this.close();
    }
  }

  read(): Buffer | undefined {
    if (this.fd === undefined) return undefined;
    try {
      if (readSync(this.fd, this.buf, 0, 96, 0) !== 96) return undefined;
      const first = this.buf.subarray(0, 48);
      // isInit (byte 12) set, and both copies equal (a writer updates copy 2, then copy 1).
      if (first[12] !== 1 || !first.equals(this.buf.subarray(48, 96))) return undefined;
      return Buffer.from(first);
    } catch {
      return undefined;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.ino = undefined;
  }
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
  const shm = new WalIndexHeader(`${side.filename}-shm`);
  /** The WAL-index header read just before the last successful read() began. */
  let verified: Buffer | undefined;
  return {
    read: () =>
      new Promise((resolve, reject) => {
        const conn = side.get();
        // Before the query: its value is at least as new as the state this header names.
        shm.attach();
        const before = shm.read();
        // Prepared on the connection it runs on (a preparation error arrives in all()'s callback).
        if (on !== conn || !stmt) {
          stmt = conn.prepare(SQL);
          on = conn;
        }
        stmt.all((err, rows) => {
          if (err) {
            verified = undefined;
            return reject(err);
          }
          verified = before;
          resolve(Number(rows[0]?.n ?? 0));
        });
      }),
    unchanged: () => {
      if (!verified) return false;
      const now = shm.read();
      return now?.equals(verified) === true;
    },
    close: async () => {
      verified = undefined;
      shm.close();
      const s = stmt;
      stmt = undefined;
      on = undefined;
      if (s) await new Promise<void>((resolve) => s.finalize(() => resolve()));
      await side.close();
    },
  };
}
