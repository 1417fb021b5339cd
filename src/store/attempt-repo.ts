import type { AttemptCounter } from '../model/attempts.js';
import { retryingTransaction, type Db } from './db.js';

// Attempt counters in the database (migration 0017), so that every worker and node sharing it
// counts the same attempts. Each count is one statement that inserts the scope's row or moves it
// on — a window past its end starts again at 1 — and answers the new count: concurrent attempts
// are counted one by one, none can read a count another has not yet added to.

const PURGE_EVERY_MS = 60_000;

export class AttemptRepo implements AttemptCounter {
  private lastPurgeMs = 0;

  constructor(private readonly db: Db) {}

  async count(scopes: readonly string[], windowMs: number, nowMs: number): Promise<number[]> {
    const expired = nowMs - windowMs;
    const counts = await retryingTransaction(this.db, async (trx) => {
      const out: number[] = [];
      // In a fixed order: two transactions never wait for each other's rows in opposite orders.
      const order = [...scopes.keys()].sort((a, b) => (scopes[a]! < scopes[b]! ? -1 : 1));
      for (const i of order) {
        const result = await trx.raw(
          `insert into sign_in_attempts (scope, since_ms, attempts) values (?, ?, 1)
           on conflict (scope) do update set
             attempts = case when sign_in_attempts.since_ms <= ? then 1 else sign_in_attempts.attempts + 1 end,
             since_ms = case when sign_in_attempts.since_ms <= ? then ? else sign_in_attempts.since_ms end
           returning attempts`,
          [scopes[i]!, nowMs, expired, expired, nowMs],
        );
        const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<{ attempts: number | string }>;
        out[i] = Number(rows[0]?.attempts ?? 0);
      }
      return out;
    });
    if (nowMs - this.lastPurgeMs >= PURGE_EVERY_MS) {
      this.lastPurgeMs = nowMs;
      void this.db('sign_in_attempts')
        .where('since_ms', '<=', expired)
        .delete()
        .catch(() => undefined);
    }
    return counts;
  }

  async uncount(scopes: readonly string[], windowMs: number, nowMs: number): Promise<void> {
    await this.db('sign_in_attempts')
      .whereIn('scope', [...scopes])
      .andWhere('since_ms', '>', nowMs - windowMs)
      .andWhere('attempts', '>', 0)
      .decrement('attempts', 1);
  }
}
