import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog, eventHash, GENESIS_HASH } from '../../src/audit/audit-log.js';
import { ownerAlive, ownerOf, readSegment, thisProcess } from '../../src/audit/journal.js';
import { Metrics } from '../../src/metrics.js';
import type { AuditEvent } from '../../src/model/audit.js';
import { AuditRepo } from '../../src/store/audit-repo.js';
import { migrate, openDatabase, sqliteSideConnection, type Db } from '../../src/store/db.js';

// The audit journal (docs/reliability.md#audit-journal) over a real SQLite file: answered
// before SQL has the event, moved and chained there, read through settle, and a dead writer's
// segments recovered once each.

const scratch: string[] = [];
const dbs: Db[] = [];
afterEach(async () => {
  for (const db of dbs.splice(0)) await db.destroy();
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(): Promise<{ db: Db; dir: string; journal: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-journal-'));
  scratch.push(dir);
  const db = openDatabase({ databaseUrl: undefined, sqliteFile: path.join(dir, 'kms.sqlite') });
  dbs.push(db);
  await migrate(db);
  return { db, dir, journal: path.join(dir, 'audit-journal') };
}

const event = (log: AuditLog, requestId: string): AuditEvent =>
  log.newEvent({
    eventName: 'Encrypt',
    requestId,
    accountUin: '1',
    userUin: '1',
    userName: 'root',
    secretId: '',
    sourceIp: '127.0.0.1',
    region: 'ap-hongkong',
    resourceType: 'kms',
    resourceName: '*',
    result: 'Success',
    errorCode: '',
    apiVersion: '2019-01-18',
  });

async function expectChain(repo: AuditRepo): Promise<string[]> {
  const all = await repo.all();
  let prev = GENESIS_HASH;
  for (const e of all) {
    expect(e.prevHash).toBe(prev);
    expect(e.hash).toBe(eventHash(prev, e));
    prev = e.hash;
  }
  return all.map((e) => e.requestId);
}

/** A pid that is not running here (a child that has exited). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('audit journal', () => {
  it('answers once the event is in the journal; SQL has it after the move, chained; drain leaves no segment', async () => {
    const { db, journal } = await setup();
    const repo = new AuditRepo(db);
    const log = new AuditLog(repo, { failClosed: true, journalDir: journal, journalMoveMs: 60_000 });
    await Promise.all(Array.from({ length: 25 }, (_, i) => log.record(event(log, `j-${i}`))));
    // Acknowledged: in the journal, not yet in SQL (the move waits a minute here).
    expect(await db('audit_events').count({ n: '*' })).toEqual([{ n: 0 }]);
    const metrics = new Metrics();
    metrics.watchAuditJournal(() => log.unmovedCount);
    expect(await metrics.registry.metrics()).toMatch(/^hsmkms_audit_journal_unmoved_events 25$/m);
    const [segment] = readdirSync(journal);
    expect(readSegment(path.join(journal, segment!)).map((e) => e.requestId)).toEqual(Array.from({ length: 25 }, (_, i) => `j-${i}`));
    // A reader settles first: the events move now.
    await log.settle();
    expect(await expectChain(repo)).toEqual(Array.from({ length: 25 }, (_, i) => `j-${i}`));
    expect(await metrics.registry.metrics()).toMatch(/^hsmkms_audit_journal_unmoved_events 0$/m);
    await log.record(event(log, 'last'));
    await log.drain();
    expect((await expectChain(repo)).at(-1)).toBe('last');
    expect(readdirSync(journal)).toEqual([]);
    await repo.close();
  });

  it('moves by itself after journalMoveMs, in one batch for the events that waited', async () => {
    const { db, journal } = await setup();
    const repo = new AuditRepo(db);
    const log = new AuditLog(repo, { failClosed: true, journalDir: journal, journalMoveMs: 30 });
    for (let i = 0; i < 10; i++) await log.record(event(log, `t-${i}`));
    const deadline = Date.now() + 5_000;
    while (Number((await db('audit_events').count({ n: '*' }))[0]!.n) < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(await expectChain(repo)).toHaveLength(10);
    const chain = await db('audit_chain').where('id', 1).first();
    expect(chain.batches).toBeLessThan(10);
    await log.drain();
    await repo.close();
  });

  it("recovers a dead writer's segments: claimed, events already in SQL skipped, a torn last line ignored, the file removed", async () => {
    const { db, journal } = await setup();
    const repo = new AuditRepo(db);
    // What a writer killed between a batch's commit and its segment's removal leaves: three events
    // already moved, two not, and the start of a sixth whose write the kill cut.
    const writer = new AuditLog(repo, { failClosed: true });
    const events = Array.from({ length: 5 }, (_, i) => event(writer, `dead-${i}`));
    for (const e of events.slice(0, 3)) await writer.record(e);
    await writer.drain();
    mkdirSync(journal, { recursive: true });
    const me = thisProcess();
    const pid = deadPid();
    const name = `${pid}.${me.start}.${me.host}.0badc0de.1.jnl`;
    expect(ownerAlive(ownerOf(name)!, Date.now())).toBe(false);
    writeFileSync(path.join(journal, name), `${events.map((e) => JSON.stringify(e)).join('\n')}\n{"eventId":"torn`);
    // A live writer's segment (this process) is not touched.
    const live = `${me.pid}.${me.start}.${me.host}.1ive0000.1.jnl`;
    writeFileSync(path.join(journal, live), '');
    // The recovering process does not write a journal itself (KMS_AUDIT_JOURNAL=off, say, after
    // it was on): a journal left behind is recovered all the same.
    const reader = new AuditLog(repo, { failClosed: true, journalDir: journal, journalWrites: false });
    expect(reader.journaled).toBe(false);
    await reader.settle();
    expect(await expectChain(repo)).toEqual(['dead-0', 'dead-1', 'dead-2', 'dead-3', 'dead-4']);
    expect(readdirSync(journal)).toEqual([live]);
    // Settling again moves nothing twice.
    await reader.settle();
    expect(await expectChain(repo)).toHaveLength(5);
    await reader.drain();
    await repo.close();
  });

  it('a reused pid is not its writer: the start time must match too', () => {
    const me = thisProcess();
    expect(ownerAlive({ ...me }, Date.now())).toBe(true);
    expect(ownerAlive({ ...me, start: String(Number(me.start) + 1) }, Date.now())).toBe(false);
    // Another host's writer: alive until its segment has been idle for 10 minutes.
    expect(ownerAlive({ ...me, host: 'ffffffff' }, Date.now())).toBe(true);
    expect(ownerAlive({ ...me, host: 'ffffffff' }, Date.now() - 11 * 60_000)).toBe(false);
  });

  it('a database locked past the busy wait is not a broken trail: calls are still answered, and the events move once the lock goes', async () => {
    const { db, journal } = await setup();
    const repo = new AuditRepo(db);
    const log = new AuditLog(repo, { failClosed: true, journalDir: journal, journalMoveMs: 10 });
    // Another writer holds the write lock for 6.5 s (SQLite's busy wait is 5 s).
    const holder = sqliteSideConnection(db)!;
    await new Promise<void>((resolve, reject) => holder.get().exec('BEGIN IMMEDIATE', (err) => (err ? reject(err) : resolve())));
    const released = new Promise<void>((resolve) => setTimeout(() => holder.get().exec('ROLLBACK', () => resolve()), 6_500));
    await log.record(event(log, 'locked-1'));
    await new Promise((r) => setTimeout(r, 5_500)); // the first move has given up by now
    expect(log.available).toBe(true);
    await log.record(event(log, 'locked-2'));
    await released;
    await log.settle();
    expect(await expectChain(repo)).toEqual(['locked-1', 'locked-2']);
    expect(log.available).toBe(true);
    await log.drain();
    await holder.close();
    await repo.close();
  }, 20_000);

  it('fail-closed: SQL failing keeps the events and refuses; when it works again the backlog moves, then AuditTrailRecovered', async () => {
    const { db, journal } = await setup();
    const repo = new AuditRepo(db);
    const log = new AuditLog(repo, { failClosed: true, journalDir: journal, journalMoveMs: 10 });
    await db.raw(`create trigger audit_down before insert on audit_events begin select raise(fail, 'disk full'); end`);
    await log.record(event(log, 'during'));
    const down = Date.now() + 5_000;
    while (log.available && Date.now() < down) await new Promise((r) => setTimeout(r, 5));
    expect(log.available).toBe(false);
    await db.raw('drop trigger audit_down');
    const up = Date.now() + 5_000;
    while (!log.available && Date.now() < up) await new Promise((r) => setTimeout(r, 20));
    expect(log.available).toBe(true);
    const all = await repo.all();
    expect(all.map((e) => e.eventName)).toEqual(['Encrypt', 'AuditTrailRecovered']);
    await log.drain();
    expect(readdirSync(journal)).toEqual([]);
    await repo.close();
  });
});
