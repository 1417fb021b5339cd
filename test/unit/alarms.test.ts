import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AlarmService, daysLeft, type ImminentKey } from '../../src/domain/alarms.js';
import { AlarmRepo, type Alarm } from '../../src/store/alarm-repo.js';
import { migrate, openDatabase, type Db } from '../../src/store/db.js';
import { up as createAlarmsTable } from '../../src/store/migrations/0007_alarms.js';

// Deletion alarms (seed KMS guide, key deletion): recorded in a real SQLite file, delivered to a
// real HTTP receiver on 127.0.0.1. Time is driven through the injected clock: no real backoff waits.

const ACCOUNT = '100000000001';
const OTHER = '100000000002';
const KEY = '23e80852-1e38-11e9-b129-5cb9019b4b01';
const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 10, 12, 0, 0);

interface Received {
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** A webhook receiver answering each request with the next status of `statuses` (the last repeats). */
async function receiver(statuses: number[]): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      res.statusCode = statuses[Math.min(received.length - 1, statuses.length - 1)]!;
      res.end(res.statusCode === 204 ? undefined : 'receiver says no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/kms`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Every property name in a JSON value, at any depth. */
function fieldNames(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) fieldNames(x, out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(k), fieldNames(x, out);
  return out;
}

const use = {
  accountUin: ACCOUNT,
  region: 'ap-guangzhou',
  keyId: KEY,
  action: 'Decrypt',
  requestId: 'req-1',
  sourceIp: '10.0.0.7',
  userUin: ACCOUNT,
  deletionDate: T0 / 1000 + 2 * 86_400,
};

let dir: string;
let db: Db;
let repo: AlarmRepo;
const services: AlarmService[] = [];
const receivers: Array<{ close: () => Promise<void> }> = [];

function service(opts: ConstructorParameters<typeof AlarmService>[1]): AlarmService {
  const s = new AlarmService(repo, opts);
  services.push(s);
  return s;
}

async function row(alarmId: string): Promise<Alarm> {
  const a = await repo.get(alarmId);
  expect(a).toBeDefined();
  return a!;
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-alarms-'));
  db = openDatabase({ sqliteFile: path.join(dir, 'kms.sqlite'), databaseUrl: undefined });
  await migrate(db);
  // Until 0007_alarms is listed in migrations/index.ts, migrate() does not create the table.
  if (!(await db.schema.hasTable('alarms'))) await createAlarmsTable(db);
  repo = new AlarmRepo(db);
});

afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  for (const r of receivers.splice(0)) await r.close();
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('alarm delivery to a local HTTP receiver', () => {
  it('retries with backoff: two 500s, then 204 → delivered after 3 attempts', async () => {
    const rx = await receiver([500, 500, 204]);
    receivers.push(rx);
    let now = T0;
    const errors: unknown[] = [];
    const alarms = service({ webhookUrl: rx.url, baseDelayMs: 1000, now: () => now, onError: (e) => errors.push(e) });

    const alarm = await alarms.pendingDeleteKeyUsed(use);
    expect(alarm).toBeDefined();
    await alarms.idle(); // the fire-and-forget first attempt
    expect(rx.received).toHaveLength(1);
    let a = await row(alarm!.alarmId);
    expect(a).toMatchObject({ kind: 'PendingDeleteKeyUsed', deliveryStatus: 'pending', attempts: 1, nextAttemptAtMs: T0 + 1000 });
    expect(a.lastError).toMatch(/HTTP 500/);

    // Backoff honoured: nothing is sent before the next attempt is due.
    now = T0 + 999;
    expect(await alarms.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 });
    expect(rx.received).toHaveLength(1);

    now = T0 + 1000;
    expect(await alarms.deliverDue()).toEqual({ delivered: 0, retried: 1, failed: 0 });
    a = await row(alarm!.alarmId);
    expect(a).toMatchObject({ deliveryStatus: 'pending', attempts: 2, nextAttemptAtMs: T0 + 1000 + 2000 });

    expect(await alarms.deliverDue(T0 + 2999)).toEqual({ delivered: 0, retried: 0, failed: 0 });
    expect(await alarms.deliverDue(T0 + 3000)).toEqual({ delivered: 1, retried: 0, failed: 0 });
    a = await row(alarm!.alarmId);
    expect(a).toMatchObject({ deliveryStatus: 'delivered', attempts: 3 });
    expect(rx.received).toHaveLength(3);
    expect(await alarms.deliverDue(T0 + DAY)).toEqual({ delivered: 0, retried: 0, failed: 0 });
    expect(rx.received).toHaveLength(3);
    expect(errors).toEqual([]);

    // The same alarm each time: its id, JSON, the key id and kind, and nothing named like a secret.
    for (const r of rx.received) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.body).toEqual({
        alarmId: alarm!.alarmId,
        kind: 'PendingDeleteKeyUsed',
        accountUin: ACCOUNT,
        region: 'ap-guangzhou',
        keyId: KEY,
        createdAt: new Date(T0).toISOString(),
        detail: expect.objectContaining({ action: 'Decrypt', requestId: 'req-1', sourceIp: '10.0.0.7', keyState: 'PendingDelete' }),
      });
      const names = fieldNames(r.body);
      expect(names.filter((n) => /plaintext|secret|password|pin|material|token/i.test(n))).toEqual([]);
    }
  });

  it('a receiver that always fails: failed after maxAttempts, last error recorded', async () => {
    const rx = await receiver([503]);
    receivers.push(rx);
    let now = T0;
    const errors: unknown[] = [];
    const alarms = service({ webhookUrl: rx.url, maxAttempts: 4, baseDelayMs: 1000, now: () => now, onError: (e) => errors.push(e) });
    const alarm = await alarms.pendingDeleteKeyUsed(use);
    await alarms.idle();

    const reports = [];
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      const a = await row(alarm!.alarmId);
      if (a.deliveryStatus !== 'pending') break;
      delays.push(a.nextAttemptAtMs - now);
      now = a.nextAttemptAtMs;
      reports.push(await alarms.deliverDue());
    }
    expect(delays).toEqual([1000, 2000, 4000]); // doubling
    expect(reports).toEqual([
      { delivered: 0, retried: 1, failed: 0 },
      { delivered: 0, retried: 1, failed: 0 },
      { delivered: 0, retried: 0, failed: 1 },
    ]);
    const a = await row(alarm!.alarmId);
    expect(a).toMatchObject({ deliveryStatus: 'failed', attempts: 4 });
    expect(a.lastError).toMatch(/^HTTP 503/);
    expect(rx.received).toHaveLength(4);
    expect(await alarms.deliverDue(now + DAY)).toEqual({ delivered: 0, retried: 0, failed: 0 });
    expect(rx.received).toHaveLength(4);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/undeliverable after 4 attempts/);
  });

  it('a receiver that is not listening: network errors retried and recorded', async () => {
    const rx = await receiver([204]);
    const url = rx.url;
    await rx.close(); // nothing listens on the port now
    let now = T0;
    const alarms = service({ webhookUrl: url, maxAttempts: 2, baseDelayMs: 10, now: () => now });
    const alarm = await alarms.pendingDeleteKeyUsed(use);
    await alarms.idle();
    let a = await row(alarm!.alarmId);
    expect(a).toMatchObject({ deliveryStatus: 'pending', attempts: 1 });
    expect(a.lastError).toBeTruthy();
    now += 10;
    expect(await alarms.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 1 });
    a = await row(alarm!.alarmId);
    expect(a).toMatchObject({ deliveryStatus: 'failed', attempts: 2 });
    expect(a.lastError).toMatch(/ECONNREFUSED|fetch failed/);
  });

  it('backoff doubles from baseDelayMs and is capped at 5 minutes', () => {
    const alarms = new AlarmService(repo, { webhookUrl: 'http://127.0.0.1:9/x' });
    expect([1, 2, 3, 4, 8, 9, 20].map((n) => alarms.backoffMs(n))).toEqual([1000, 2000, 4000, 8000, 128_000, 256_000, 300_000]);
    expect(() => new AlarmService(repo, { webhookUrl: 'file:///etc/passwd' })).toThrow(/http or https/);
    expect(() => new AlarmService(repo, { webhookUrl: 'not a url' })).toThrow(/not a URL/);
  });

  it('start/stop: the timer delivers what is due', async () => {
    const rx = await receiver([204]);
    receivers.push(rx);
    const alarms = service({ webhookUrl: rx.url, fetch: vi.fn(globalThis.fetch) });
    // Recorded while no delivery is triggered: insert directly, as a row left by a previous run.
    const a = { ...(await service({}).pendingDeleteKeyUsed(use))!, alarmId: '11111111-1111-4111-8111-111111111111', deliveryStatus: 'pending' as const };
    await repo.insert(a);
    alarms.start(20);
    for (let i = 0; i < 200 && (await row(a.alarmId)).deliveryStatus !== 'delivered'; i++) await new Promise((r) => setTimeout(r, 10));
    await alarms.stop();
    expect((await row(a.alarmId)).deliveryStatus).toBe('delivered');
    expect(rx.received.map((r) => r.body.alarmId)).toEqual([a.alarmId]);
  });
});

describe('recording', () => {
  it('does not block the caller on delivery', async () => {
    let release!: () => void;
    const fetchFn = vi.fn(() => new Promise<Response>((resolve) => (release = () => resolve(new Response(null, { status: 204 })))));
    const alarms = service({ webhookUrl: 'http://127.0.0.1:9/hook', fetch: fetchFn as unknown as typeof fetch, now: () => T0 });
    const alarm = await alarms.pendingDeleteKeyUsed(use); // settles although the POST hangs
    expect((await row(alarm!.alarmId)).deliveryStatus).toBe('pending');
    await vi.waitFor(() => expect(fetchFn).toHaveBeenCalledTimes(1));
    release();
    await alarms.idle();
    expect((await row(alarm!.alarmId)).deliveryStatus).toBe('delivered');
  });

  it('no webhook configured: recorded as disabled, nothing sent', async () => {
    const fetchFn = vi.fn(globalThis.fetch);
    const alarms = service({ fetch: fetchFn, now: () => T0 });
    expect(alarms.webhookConfigured).toBe(false);
    const alarm = await alarms.pendingDeleteKeyUsed(use);
    const raised = await alarms.deletionImminent([{ keyId: KEY, accountUin: ACCOUNT, region: 'ap-guangzhou', alias: 'k', deletionDate: T0 / 1000 + 86_400 }], T0);
    await alarms.idle();
    expect(raised).toHaveLength(1);
    expect(await alarms.deliverDue(T0 + DAY)).toEqual({ delivered: 0, retried: 0, failed: 0 });
    expect(fetchFn).not.toHaveBeenCalled();
    for (const id of [alarm!.alarmId, raised[0]!.alarmId]) expect(await row(id)).toMatchObject({ deliveryStatus: 'disabled', attempts: 0 });
  });

  it('a recording failure goes to onError, never to the caller', async () => {
    const errors: Array<{ op: string; keyId?: string }> = [];
    const broken = { insert: async () => Promise.reject(new Error('disk full')) } as unknown as AlarmRepo;
    const alarms = new AlarmService(broken, { onError: (_e, ctx) => errors.push(ctx) });
    await expect(alarms.pendingDeleteKeyUsed(use)).resolves.toBeUndefined();
    expect(errors).toEqual([expect.objectContaining({ op: 'record', keyId: KEY })]);
  });

  it('list: newest first, per account or all', async () => {
    let now = T0;
    const alarms = service({ now: () => now });
    await alarms.pendingDeleteKeyUsed(use);
    now += 1000;
    await alarms.pendingDeleteKeyUsed({ ...use, accountUin: OTHER, action: 'Encrypt' });
    now += 1000;
    await alarms.pendingDeleteKeyUsed({ ...use, action: 'GenerateDataKey' });
    expect((await alarms.list(ACCOUNT)).map((a) => a.detail.action)).toEqual(['GenerateDataKey', 'Decrypt']);
    expect((await alarms.list(undefined)).map((a) => a.accountUin)).toEqual([ACCOUNT, OTHER, ACCOUNT]);
    expect(await alarms.list(undefined, 1)).toHaveLength(1);
  });
});

describe('deletionImminent: every day of the last 3 days', () => {
  const key = (keyId: string, inMs: number, extra: Partial<ImminentKey> = {}): ImminentKey => ({
    keyId,
    accountUin: ACCOUNT,
    region: 'ap-guangzhou',
    alias: `alias-${keyId}`,
    deletionDate: Math.floor((T0 + inMs) / 1000),
    ...extra,
  });

  it('one alarm per key and day left, idempotent across runs', async () => {
    const alarms = service({ now: () => T0 });
    const keys = [
      key('k-2.5d', 2.5 * DAY), // 3 days left
      key('k-1.2d', 1.2 * DAY), // 2 days left
      key('k-0.5d', 0.5 * DAY), // 1 day left
      key('k-3d', 3 * DAY), // exactly 3 days: 3 left
      key('k-5d', 5 * DAY), // too early
      key('k-past', -60_000), // already due: the deletion job's business
      key('k-none', 0, { deletionDate: 0 }),
      key('k-cancelled', DAY, { state: 'Disabled' }),
    ];
    const first = await alarms.deletionImminent(keys, T0);
    expect(first.map((a) => a.dayKey).sort()).toEqual(['k-0.5d:1', 'k-1.2d:2', 'k-2.5d:3', 'k-3d:3']);
    expect(first.every((a) => a.kind === 'KeyDeletionImminent')).toBe(true);
    expect(first.find((a) => a.keyId === 'k-1.2d')!.detail).toEqual({ alias: 'alias-k-1.2d', daysLeft: 2, deletionDate: new Date(keys[1]!.deletionDate * 1000).toISOString() });

    // The job runs again the same day (every minute): nothing new.
    expect(await alarms.deletionImminent(keys, T0)).toEqual([]);
    expect(await alarms.deletionImminent(keys, T0 + 60_000)).toEqual([]);
    expect(await alarms.list(ACCOUNT)).toHaveLength(4);

    // A day later: each key still pending has one day less, one new alarm each.
    const next = await alarms.deletionImminent(keys, T0 + DAY);
    expect(next.map((a) => a.dayKey).sort()).toEqual(['k-1.2d:1', 'k-2.5d:2', 'k-3d:2']); // k-5d: 4 days left, k-0.5d: past
    expect(await alarms.deletionImminent(keys, T0 + DAY + 3_600_000)).toEqual([]);
    const all = await alarms.list(ACCOUNT);
    expect(all).toHaveLength(7);
    expect(new Set(all.map((a) => a.dayKey)).size).toBe(7);
    // Over the whole countdown each key raises exactly three alarms (days 3, 2, 1).
    for (let d = 2; d <= 6; d++) await alarms.deletionImminent(keys, T0 + d * DAY);
    const perKey = new Map<string, string[]>();
    for (const a of await alarms.list(ACCOUNT, 1000)) perKey.set(a.keyId, [...(perKey.get(a.keyId) ?? []), a.dayKey!]);
    expect(Object.fromEntries([...perKey].map(([k, v]) => [k, v.sort()]))).toEqual({
      'k-0.5d': ['k-0.5d:1'],
      'k-1.2d': ['k-1.2d:1', 'k-1.2d:2'],
      'k-2.5d': ['k-2.5d:1', 'k-2.5d:2', 'k-2.5d:3'],
      'k-3d': ['k-3d:1', 'k-3d:2', 'k-3d:3'],
      'k-5d': ['k-5d:1', 'k-5d:2', 'k-5d:3'],
    });
  });

  it('a key 5 days out raises none; days left counts up', async () => {
    const alarms = service({ now: () => T0 });
    expect(await alarms.deletionImminent([key('far', 5 * DAY), key('far2', 3 * DAY + 1000)], T0)).toEqual([]);
    expect(await alarms.list(undefined)).toEqual([]);
    expect(daysLeft((T0 + 1) / 1000, T0)).toBe(1);
    expect(daysLeft((T0 + DAY) / 1000, T0)).toBe(1);
    expect(daysLeft((T0 + DAY + 1000) / 1000, T0)).toBe(2);
    expect(daysLeft(T0 / 1000, T0)).toBe(0);
  });

  it('imminent alarms are delivered to the webhook', async () => {
    const rx = await receiver([204]);
    receivers.push(rx);
    const alarms = service({ webhookUrl: rx.url, now: () => T0 });
    const raised = await alarms.deletionImminent([key('soon', 1.5 * DAY)], T0);
    await alarms.idle();
    expect(rx.received).toHaveLength(1);
    expect(rx.received[0]!.body).toMatchObject({ alarmId: raised[0]!.alarmId, kind: 'KeyDeletionImminent', keyId: 'soon', detail: { daysLeft: 2 } });
    expect((await row(raised[0]!.alarmId)).deliveryStatus).toBe('delivered');
  });
});
