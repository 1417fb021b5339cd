import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { timeOrderedUuid, uuidTimeMs } from '../../src/ids.js';

describe('timeOrderedUuid (request and audit event ids)', () => {
  it('is an RFC 9562 version 7 UUID carrying the time in milliseconds', () => {
    const now = Date.UTC(2026, 10, 23, 15, 0, 0, 123);
    const id = timeOrderedUuid(now);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(now);
  });

  it('sorts by time across milliseconds and is unique within one', () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => timeOrderedUuid(1_700_000_000_000 + Math.floor(i / 1000)));
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1000; i < ids.length; i += 1000) expect(ids[i - 1]! < ids[i]!).toBe(true);
  });
});

describe('uuidTimeMs (an id’s time, for audit lookups)', () => {
  it('reads the milliseconds back from a version 7 UUID', () => {
    for (const now of [0, 1, Date.UTC(2026, 10, 23, 15, 0, 0, 123), 2 ** 48 - 1]) expect(uuidTimeMs(timeOrderedUuid(now))).toBe(now);
  });

  it('is undefined for anything else: version 4, another variant, upper case, a wrong shape', () => {
    const v7 = timeOrderedUuid(Date.UTC(2026, 0, 1));
    for (const id of [randomUUID(), `${v7.slice(0, 19)}c${v7.slice(20)}`, v7.toUpperCase(), v7.slice(1), `${v7} `, '', 'r1', v7.replaceAll('-', '')]) {
      expect(uuidTimeMs(id)).toBeUndefined();
    }
  });
});
