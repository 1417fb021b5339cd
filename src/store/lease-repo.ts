import type { Db } from './db.js';

// Named, expiring leases in the shared database: whoever holds an unexpired lease runs the task
// it names; a holder that dies lets it lapse and another process takes it over.
export class LeaseRepo {
  constructor(private readonly db: Db) {}

  /**
   * Take or renew `name` for `holder` until nowMs + ttlMs. true when `holder` holds it now: it
   * was free, expired, or already ours. One conditional UPDATE (or INSERT) decides atomically.
   */
  async acquire(name: string, holder: string, ttlMs: number, nowMs = Date.now()): Promise<boolean> {
    const expires = nowMs + ttlMs;
    const updated = await this.db('leases')
      .where('name', name)
      .andWhere((q) => q.where('holder', holder).orWhere('expires_at_ms', '<', nowMs))
      .update({ holder, expires_at_ms: expires });
    if (updated > 0) return true;
    // No row yet (or held by another): insert if absent; the row decides who won a race.
    await this.db('leases').insert({ name, holder, expires_at_ms: expires }).onConflict('name').ignore();
    const row = await this.db('leases').where('name', name).first('holder');
    return row?.holder === holder;
  }

  /** Give the lease up (clean shutdown), so another process need not wait for it to expire. */
  async release(name: string, holder: string): Promise<void> {
    await this.db('leases').where({ name, holder }).delete();
  }

  async holderOf(name: string, nowMs = Date.now()): Promise<string | undefined> {
    const row = await this.db('leases').where('name', name).andWhere('expires_at_ms', '>=', nowMs).first('holder');
    return row ? String(row.holder) : undefined;
  }
}
