import { describe, expect, it } from 'vitest';
import { CacheEpoch, TtlCache } from '../../src/domain/cache.js';

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
