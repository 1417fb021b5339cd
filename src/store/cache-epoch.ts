import type { Db } from './db.js';

/** The database's cache epoch (migration 0013): moved by trigger with every write to a cached table. */
export async function readCacheEpoch(db: Db): Promise<number> {
  const row = (await db('cache_epoch').where('id', 1).first('n')) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}
