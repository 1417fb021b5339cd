// Counters of attempts shared by every worker and node (the console's sign-in throttle): types
// shared by the console and the store.

export interface AttemptCounter {
  /**
   * Counts one attempt against each scope — in a window that starts with the scope's first
   * attempt and lasts `windowMs` — and answers each scope's count, this attempt included.
   */
  count(scopes: readonly string[], windowMs: number, nowMs: number): Promise<number[]>;
  /** Takes one attempt back from each scope (one that turned out not to be a failure). */
  uncount(scopes: readonly string[], windowMs: number, nowMs: number): Promise<void>;
}
