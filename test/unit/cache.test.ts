import { describe, expect, it } from 'vitest';
import { CacheEpoch, EpochWatch, TtlCache } from '../../src/domain/cache.js';

// The data-plane caches (docs/benchmarks.md "What is cached"): expiry, local-write invalidation,
// one load for concurrent misses, and secret buffers wiped when they leave.

describe('TtlCache', () => {
  it('expires entries after the TTL', () => {
    const c = new TtlCache<string, number>({ ttlMs: 1000, maxEntries: 10 });
    c.set('a', 1, 0);
    expect(c.get('a', 999)).toBe(1);
    expect(c.get('a', 1000)).toBeUndefined();
  });

  it('drops everything when the epoch moves (a write by this process)', () => {
    const epoch = new CacheEpoch();
    const c = new TtlCache<string, number>({ ttlMs: 60_000, maxEntries: 10, epoch });
    c.set('a', 1);
    epoch.bump();
    expect(c.get('a')).toBeUndefined();
  });

  it('does not keep a value whose load was overtaken by a write', async () => {
    const epoch = new CacheEpoch();
    const c = new TtlCache<string, string>({ ttlMs: 60_000, maxEntries: 10, epoch });
    let release!: (v: string) => void;
    const loading = c.getOrLoad('k', () => new Promise((r) => (release = r)));
    epoch.bump(); // e.g. DisableKey committed while the read was in flight
    release('old row');
    expect(await loading).toBe('old row'); // the caller still gets its answer
    expect(c.get('k')).toBeUndefined(); // but the next caller reads again
  });

  it('shares one load among concurrent misses', async () => {
    const c = new TtlCache<string, number>({ ttlMs: 60_000, maxEntries: 10 });
    let loads = 0;
    const load = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 5));
      return 7;
    };
    expect(await Promise.all(Array.from({ length: 20 }, () => c.getOrLoad('k', load)))).toEqual(Array(20).fill(7));
    expect(loads).toBe(1);
  });

  it('keeps at most maxEntries, evicting the oldest, and hands every leaving value to onEvict (secret buffers are wiped there)', () => {
    const wiped: Buffer[] = [];
    const c = new TtlCache<string, Buffer>({ ttlMs: Infinity, maxEntries: 2, onEvict: (b) => wiped.push(b.fill(0)) });
    const a = Buffer.from('secret-a');
    const b = Buffer.from('secret-b');
    const d = Buffer.from('secret-d');
    c.set('a', a);
    c.set('b', b);
    c.set('d', d);
    expect(c.size).toBe(2);
    expect(c.get('a')).toBeUndefined();
    expect(wiped).toEqual([a]);
    expect(a.every((x) => x === 0)).toBe(true);
    c.clear();
    expect(b.every((x) => x === 0) && d.every((x) => x === 0)).toBe(true);
  });

  it('with ttlMs 0 keeps nothing and loads every time', async () => {
    const c = new TtlCache<string, number>({ ttlMs: 0, maxEntries: 10 });
    let loads = 0;
    await c.getOrLoad('k', async () => ++loads);
    await c.getOrLoad('k', async () => ++loads);
    expect(loads).toBe(2);
    expect(c.size).toBe(0);
  });
});

describe('EpochWatch (the database epoch, read once per wave of requests)', () => {
  /** A counter "in the database" and a read that takes until released. */
  function fakeDb() {
    let n = 7;
    const reads: Array<{ startedAt: number; release: () => void }> = [];
    return {
      set: (v: number) => void (n = v),
      reads,
      read: () =>
        new Promise<number>((resolve) => {
          const startedAt = n;
          reads.push({ startedAt, release: () => resolve(n) });
        }),
    };
  }

  it('a call never resolves on a read begun before it; calls during one read share the next', async () => {
    const db = fakeDb();
    const epoch = new CacheEpoch();
    const watch = new EpochWatch(db.read, epoch);
    const a = watch.fresh();
    expect(db.reads).toHaveLength(1);
    // b and c arrive while a's read is in flight: they wait for one new read, not a's.
    let bDone = false;
    const b = watch.fresh().then(() => void (bDone = true));
    const c = watch.fresh();
    expect(db.reads).toHaveLength(1);
    db.reads[0]!.release();
    await a;
    const afterA = epoch.value;
    await new Promise((r) => setImmediate(r));
    expect(bDone).toBe(false);
    expect(db.reads).toHaveLength(2);
    db.set(8); // a write committed: the second read sees it and moves the local epoch
    db.reads[1]!.release();
    await Promise.all([b, c]);
    expect(db.reads).toHaveLength(2);
    expect(epoch.value).toBe(afterA + 1);
  });

  it('a moved epoch clears the mutable caches before the waiting request goes on', async () => {
    const db = fakeDb();
    const epoch = new CacheEpoch();
    const watch = new EpochWatch(db.read, epoch);
    const cache = new TtlCache<string, string>({ ttlMs: 60_000, maxEntries: 10, epoch });
    let p = watch.fresh();
    db.reads.at(-1)!.release();
    await p;
    cache.set('k', 'Enabled');
    p = watch.fresh();
    db.reads.at(-1)!.release();
    await p;
    expect(cache.get('k')).toBe('Enabled'); // unchanged epoch: kept
    db.set(9);
    p = watch.fresh();
    db.reads.at(-1)!.release();
    await p;
    expect(cache.get('k')).toBeUndefined();
  });

  it('a failed read fails its callers only; the next call reads again', async () => {
    const epoch = new CacheEpoch();
    let fail = true;
    const watch = new EpochWatch(async () => {
      if (fail) throw new Error('database gone');
      return 1;
    }, epoch);
    await expect(watch.fresh()).rejects.toThrow('database gone');
    fail = false;
    await expect(watch.fresh()).resolves.toBeUndefined();
  });
});
