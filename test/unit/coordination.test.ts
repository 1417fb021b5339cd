import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, eventHash, GENESIS_HASH } from '../../src/audit/audit-log.js';
import { AuditRepo } from '../../src/store/audit-repo.js';
import { migrate, openDatabase, type Db } from '../../src/store/db.js';
import { LeaseRepo } from '../../src/store/lease-repo.js';
import { REPO as ROOT } from '../helpers/cli.js';

// Several processes sharing one database (worker processes of a node, or several nodes):
// leases give each background task one runner; the audit chain stays one linear chain.

const run = promisify(execFile);
let dir: string;
let db: Db;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-coord-'));
  db = openDatabase({ databaseUrl: undefined, sqliteFile: path.join(dir, 'kms.sqlite') });
  await migrate(db);
});
afterEach(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('leases', () => {
  it('one holder at a time; renewals by the holder; takeover only after expiry; release hands over', async () => {
    const leases = new LeaseRepo(db);
    const t0 = 1_000_000;
    expect(await leases.acquire('lifecycle-jobs', 'A', 30_000, t0)).toBe(true);
    expect(await leases.acquire('lifecycle-jobs', 'B', 30_000, t0 + 1)).toBe(false);
    expect(await leases.acquire('lifecycle-jobs', 'A', 30_000, t0 + 20_000)).toBe(true); // renewed to t0+50s
    expect(await leases.acquire('lifecycle-jobs', 'B', 30_000, t0 + 40_000)).toBe(false);
    expect(await leases.holderOf('lifecycle-jobs', t0 + 40_000)).toBe('A');
    expect(await leases.acquire('lifecycle-jobs', 'B', 30_000, t0 + 50_001)).toBe(true); // A stopped renewing
    expect(await leases.acquire('lifecycle-jobs', 'A', 30_000, t0 + 50_002)).toBe(false);
    expect(await leases.acquire('audit-maintenance', 'A', 30_000, t0 + 50_002)).toBe(true); // tasks are independent
    await leases.release('lifecycle-jobs', 'A'); // not A's: no effect
    expect(await leases.holderOf('lifecycle-jobs', t0 + 50_003)).toBe('B');
    await leases.release('lifecycle-jobs', 'B');
    expect(await leases.acquire('lifecycle-jobs', 'A', 30_000, t0 + 50_004)).toBe(true);
  });

  it('processes racing for a free lease: exactly one wins', async () => {
    const script = `
      const { openDatabase } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/src/store/db.js')).href)});
      const { LeaseRepo } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/src/store/lease-repo.js')).href)});
      const db = openDatabase({ sqliteFile: process.argv[1] });
      const leases = new LeaseRepo(db);
      const start = Number(process.argv[3]);
      while (Date.now() < start) await new Promise((r) => setTimeout(r, 1));
      const won = await leases.acquire('race', process.argv[2], 60_000);
      await db.destroy();
      process.stdout.write(won ? 'won' : 'lost');
    `;
    const start = String(Date.now() + 1_500);
    const outs = await Promise.all(
      ['p1', 'p2', 'p3', 'p4'].map((h) => run(process.execPath, ['--input-type=module', '-e', script, path.join(dir, 'kms.sqlite'), h, start]).then((r) => r.stdout)),
    );
    expect(outs.filter((o) => o === 'won')).toHaveLength(1);
    expect(outs.filter((o) => o === 'lost')).toHaveLength(3);
  });
});

describe('audit chain with several writer processes', () => {
  it('three processes appending concurrently leave one linear chain with every event', async () => {
    const script = `
      const { openDatabase } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/src/store/db.js')).href)});
      const { AuditRepo } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/src/store/audit-repo.js')).href)});
      const { AuditLog } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/src/audit/audit-log.js')).href)});
      const db = openDatabase({ sqliteFile: process.argv[1] });
      const log = new AuditLog(new AuditRepo(db), { failClosed: true });
      const name = process.argv[2];
      const start = Number(process.argv[3]);
      while (Date.now() < start) await new Promise((r) => setTimeout(r, 1));
      const write = async (from, to) => {
        const all = [];
        for (let i = from; i < to; i++) {
          all.push(log.record(log.newEvent({ eventName: 'Encrypt', requestId: name + '-' + i, accountUin: '1', userUin: '1', userName: 'root', secretId: '', sourceIp: '127.0.0.1', region: 'ap-hongkong', resourceType: 'kms', resourceName: '*', result: 'Success', errorCode: '', apiVersion: '2019-01-18' })));
          if (i % 10 === 0) await new Promise((r) => setTimeout(r, 2));
        }
        await Promise.all(all);
      };
      await write(0, 150);
      // The second half only once every writer has committed some: the chain must interleave.
      for (;;) {
        const rows = await db('audit_events').select('request_id');
        if (new Set(rows.map((r) => r.request_id.split('-')[0])).size === 3) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await write(150, 300);
      await log.drain();
      await db.destroy();
    `;
    const start = String(Date.now() + 1_500);
    await Promise.all(['w1', 'w2', 'w3'].map((w) => run(process.execPath, ['--input-type=module', '-e', script, path.join(dir, 'kms.sqlite'), w, start])));
    const events = await new AuditRepo(db).all();
    expect(events).toHaveLength(900);
    expect(new Set(events.map((e) => e.requestId)).size).toBe(900);
    let prev = GENESIS_HASH;
    for (const e of events) {
      expect(e.prevHash).toBe(prev);
      expect(e.hash).toBe(eventHash(prev, e));
      prev = e.hash;
    }
    // the writers' batches interleave (forced above): the chain links across processes
    const writerOf = events.map((e) => e.requestId.split('-')[0]);
    const switches = writerOf.filter((w, i) => i > 0 && w !== writerOf[i - 1]).length;
    expect(switches).toBeGreaterThan(2);
  });
});

describe('audit chain head', () => {
  it('survives retention removing every event, in a new writer (a restarted process)', async () => {
    const repo = new AuditRepo(db);
    const event = (log: AuditLog, requestId: string) =>
      log.newEvent({
        eventName: 'Encrypt',
        requestId,
        accountUin: '1',
        userUin: '1',
        userName: 'root',
        secretId: '',
        sourceIp: '',
        region: 'ap-hongkong',
        resourceType: 'kms',
        resourceName: '*',
        result: 'Success',
        errorCode: '',
        apiVersion: '2019-01-18',
      });
    const first = new AuditLog(repo, { failClosed: true });
    await first.record(event(first, 'a'));
    const [a] = await repo.all();
    await repo.deleteUpToSeq(a!.seq);
    expect(await repo.all()).toHaveLength(0);
    const second = new AuditLog(repo, { failClosed: true });
    await second.record(event(second, 'b'));
    const [b] = await repo.all();
    expect(b!.prevHash).toBe(a!.hash);
    expect(b!.prevHash).not.toBe(GENESIS_HASH);
  });
});

describe('migrations', () => {
  it('every migration module in src/store/migrations is registered and applied', async () => {
    const { readdirSync } = await import('node:fs');
    const files = readdirSync(path.join(ROOT, 'src/store/migrations'))
      .filter((f) => /^\d{4}_.*\.ts$/.test(f))
      .map((f) => f.replace(/\.ts$/, ''));
    const applied = (await db('knex_migrations').select('name')).map((r) => String(r.name));
    expect(applied.sort()).toEqual(files.sort());
  });
});
