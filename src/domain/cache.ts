// Read caches of the data plane (docs/benchmarks.md, "What is cached"). Two kinds:
//  - facts that cannot change (a key version's token residency, the secret key sealed in a
//    given blob, a parsed policy document): kept until evicted by size;
//  - mutable state (credential and user status, attached policies, key records): kept for at
//    most `ttlMs`, and dropped when the cache epoch moves: at once when this process writes to
//    the tables they come from (the database's query events, app.ts), and when a request finds
//    the database's own epoch moved (EpochWatch: a counter that triggers move with every write
//    to those tables, by anyone — migration 0013). Every API and console request waits for a
//    read of that counter begun after it arrived, so a change committed anywhere (another
//    worker or node, the CLI) holds for the next request everywhere.

/**
 * A counter bumped whenever this process writes identity, policy or key rows. A read that
 * began before a bump does not fill a cache: it may have read the old row.
 */
export class CacheEpoch {
  private n = 0;
  private readonly listeners: Array<() => void> = [];

  get value(): number {
    return this.n;
  }

  bump(): void {
    this.n++;
    for (const l of this.listeners) l();
  }

  onBump(listener: () => void): void {
    this.listeners.push(listener);
  }
}

/**
 * Requests' view of the database's cache epoch. `fresh()` resolves after a read of the counter
 * that began after the call; when the value moved, the local epoch is bumped first (the caches
 * are cleared). Calls share reads: a call that finds a read in flight (begun before it) waits
 * for the next one, which starts as soon as that one ends — at most one read in flight, however
 * many requests, and no request served from state older than its own arrival.
 */
export class EpochWatch {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private checking: Promise<void> | undefined;
  private seen: number | undefined;

  constructor(
    private readonly read: () => Promise<number>,
    private readonly epoch: CacheEpoch,
    /** When it says so, nothing was committed since the last read began: its value stands, no read needed (SQLite, docs/benchmarks.md#epoch-shm). */
    private readonly unchanged?: () => boolean,
  ) {}

  fresh(): Promise<void> {
    // The quick check (SQLite): the calls of one turn of the event loop share one, made in the
    // turn's check phase — after each of them arrived — so under load it is one pread(2) per
    // turn, not per call (a system call costs ~10 µs on this machine: docs/benchmarks.md#epoch-shm).
    if (this.unchanged && this.seen !== undefined) {
      this.checking ??= new Promise<void>((resolve, reject) =>
        setImmediate(() => {
          this.checking = undefined;
          if (this.unchanged!()) resolve();
          else this.query().then(resolve, reject);
        }),
      );
      return this.checking;
    }
    return this.query();
  }

  /** A read of the counter that begins after this call (shared: at most one in flight). */
  private query(): Promise<void> {
    if (!this.running) return this.start();
    this.queued ??= this.running.then(
      () => this.next(),
      () => this.next(),
    );
    return this.queued;
  }

  private next(): Promise<void> {
    this.queued = undefined;
    return this.start();
  }

  private start(): Promise<void> {
    const p = this.read().then(
      (n) => {
        if (this.running === p) this.running = undefined;
        if (n !== this.seen) {
          this.seen = n;
          this.epoch.bump();
        }
      },
      (err: unknown) => {
        if (this.running === p) this.running = undefined;
        throw err;
      },
    );
    this.running = p;
    return p;
  }
}

interface Entry<V> {
  value: V;
  expiresAt: number;
}

export interface CacheOptions<V> {
  /** Entries live at most this long; Infinity for immutable facts. 0 disables the cache. */
  ttlMs: number;
  maxEntries: number;
  /** Mutable state: cleared when the epoch moves. */
  epoch?: CacheEpoch;
  /** Called for every value that leaves the cache (secret buffers are wiped here). */
  onEvict?: (value: V) => void;
}

/** A bounded map with expiry; insertion order approximates age, so the oldest goes first. */
export class TtlCache<K, V> {
  private readonly map = new Map<K, Entry<V>>();
  private readonly inflight = new Map<K, Promise<V>>();

  constructor(private readonly opts: CacheOptions<V>) {
    opts.epoch?.onBump(() => this.clear());
  }

  get enabled(): boolean {
    return this.opts.ttlMs > 0 && this.opts.maxEntries > 0;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K, now = Date.now()): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= now) {
      this.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: K, value: V, now = Date.now()): void {
    if (!this.enabled) {
      this.opts.onEvict?.(value);
      return;
    }
    this.delete(key);
    while (this.map.size >= this.opts.maxEntries) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
    this.map.set(key, { value, expiresAt: now + this.opts.ttlMs });
  }

  delete(key: K): void {
    const e = this.map.get(key);
    if (!e) return;
    this.map.delete(key);
    this.opts.onEvict?.(e.value);
  }

  clear(): void {
    // Loads in flight finish for their callers but are not kept (the epoch moved).
    this.inflight.clear();
    const values = [...this.map.values()];
    this.map.clear();
    if (this.opts.onEvict) for (const e of values) this.opts.onEvict(e.value);
  }

  /**
   * The cached value, else `load()`; concurrent misses of one key share one load (under load an
   * expiring entry would otherwise send every waiting request to the database at once). The
   * loaded value is kept only when the epoch did not move while it loaded (a concurrent write in
   * this process may have made it stale).
   */
  getOrLoad(key: K, load: () => Promise<V>, keep: (v: V) => boolean = () => true): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    if (!this.enabled) return load();
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const epoch = this.opts.epoch?.value;
    const p = load().then(
      (v) => {
        this.inflight.delete(key);
        if (keep(v) && epoch === this.opts.epoch?.value) this.set(key, v);
        return v;
      },
      (err: unknown) => {
        this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, p);
    return p;
  }
}
