import { describe, expect, it } from 'vitest';
import { timeOrderedUuid } from '../../src/ids.js';

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
