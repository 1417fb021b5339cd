import { StoreConflictError } from '../../src/model/errors.js';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, eventHash, GENESIS_HASH } from '../../src/audit/audit-log.js';
import { AuditTrail } from '../../src/audit/trail.js';
import { timeOrderedUuid, uuidTimeMs } from '../../src/ids.js';
import { AlarmRepo, type Alarm } from '../../src/store/alarm-repo.js';
import { AuditCheckpointRepo, AuditRepo } from '../../src/store/audit-repo.js';
import { describeDatabase, dialectOf, migrate, openDatabase, sqliteSideConnection, walCheckpointer, type Db } from '../../src/store/db.js';
import { IdentityRepo } from '../../src/store/identity-repo.js';
import type { KeyRecord } from '../../src/model/keys.js';
import { KeyRepo } from '../../src/store/key-repo.js';
import { LeaseRepo } from '../../src/store/lease-repo.js';
import { V1NonceRepo } from '../../src/store/nonce-repo.js';
import { AttemptRepo } from '../../src/store/attempt-repo.js';
import type { V1NonceEntry } from '../../src/model/replay.js';
import { migrations } from '../../src/store/migrations/index.js';
import { PolicyRepo } from '../../src/store/policy-repo.js';
import { getMeta, initMeta } from '../../src/store/service-meta.js';
import { cacheEpochReader } from '../../src/store/cache-epoch.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// The store's suite, run against both engines: SQLite (a file) and a real PostgreSQL server
// (its own cluster on 127.0.0.1, test/helpers/postgres.ts). Same migrations, same repos, same
// answers — types included (numbers, booleans, Buffers), and the coordination primitives that
// let several nodes share one database (chain row lock, leases, alarm claims, counters).

let server: TestPostgres | undefined;
const scratch: string[] = [];

beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(() => {
  server?.stop();
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

type Engine = 'sqlite' | 'postgres';

/** A new, empty database: a function that opens a connection (pool) to it. */
async function newDatabase(engine: Engine): Promise<() => Db> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-store-'));
    scratch.push(dir);
    const file = path.join(dir, 'kms.sqlite');
    return () => openDatabase({ databaseUrl: undefined, sqliteFile: file });
  }
  const url = await server!.createDatabase('store');
  return () => openDatabase({ databaseUrl: url, sqliteFile: '/nonexistent' });
}

/** A fresh, migrated database; `open` gives further connections (pools) to the same one. */
async function fresh(engine: Engine): Promise<{ db: Db; open: () => Db }> {
  const open = await newDatabase(engine);
  const db = open();
  await migrate(db);
  return { db, open };
}

const key = (over: Partial<KeyRecord> = {}): KeyRecord => ({
  keyId: randomUUID(),
  accountUin: '100000000001',
  region: 'ap-hongkong',
  alias: `alias-${randomUUID().slice(0, 8)}`,
  description: 'd',
  keyUsage: 'ENCRYPT_DECRYPT',
  keySpec: 'AES_256',
  origin: 'TENCENT_KMS',
  state: 'Enabled',
  creatorUin: '100000000001',
  createdAt: 1_700_000_000,
  deletionDate: 0,
  rotationEnabled: false,
  rotateDays: 0,
  nextRotateTime: 0,
  lastRotateTime: 0,
  validTo: 0,
  currentVersion: 1,
  tokenResident: true,
  hasMaterial: true,
  tags: [],
  ...over,
});

const auditEvent = (log: AuditLog, requestId: string) =>
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

describe.each<Engine>(['sqlite', 'postgres'])('store on %s', (engine) => {
  let db: Db;
  let open: () => Db;
  const extra: Db[] = [];
  beforeEach(async () => {
    ({ db, open } = await fresh(engine));
  }, 60_000);
  /** Repositories with connections of their own (SQLite side connections), closed after each test. */
  const onClose: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const r of onClose.splice(0)) await r.close();
    for (const d of extra.splice(0)) await d.destroy();
    await db.destroy();
  });

  it('opens the engine asked for; every migration applied once, a second run applies none', async () => {
    expect(dialectOf(db)).toBe(engine);
    expect(await migrate(db)).toEqual([]);
    const names = (await db('knex_migrations').orderBy('id').select('name')).map((r) => r.name);
    expect(names).toEqual(await migrations.getMigrations([]));
  });

  it('several nodes migrating one new database at once: all succeed, each migration applied once', async () => {
    const { db: fresh2, open: open2 } = await fresh(engine); // already migrated: roll back to empty first
    await fresh2.migrate.rollback({ migrationSource: migrations }, true);
    const nodes = [open2(), open2(), open2()];
    extra.push(fresh2, ...nodes);
    await Promise.all(nodes.map((n) => migrate(n)));
    const names = (await fresh2('knex_migrations').select('name')).map((r) => r.name);
    expect(names.sort()).toEqual((await migrations.getMigrations([])).sort());
  }, 60_000);

  it('keys: insert and read back with the same types; counters follow inserts, state changes and deletes', async () => {
    const repo = new KeyRepo(db);
    const a = key({ tags: [{ key: 'team', value: 'Pay' }], rotationEnabled: true, rotateDays: 30, nextRotateTime: 1_800_000_000, validTo: 2 ** 40 });
    await repo.insert(a, { keyId: a.keyId, version: 1, createdAt: a.createdAt, sealedMaterial: Buffer.from([0, 1, 2, 255]), publicKey: null });
    const got = await repo.get(a.accountUin, a.region, a.keyId);
    expect(got).toEqual(a);
    expect(typeof got!.createdAt).toBe('number');
    expect(typeof got!.rotationEnabled).toBe('boolean');
    const [v] = await repo.versions(a.keyId);
    expect(Buffer.isBuffer(v!.sealedMaterial)).toBe(true);
    expect([...v!.sealedMaterial!]).toEqual([0, 1, 2, 255]);
    expect(v!.version).toBe(1);

    const b = key({ keyUsage: 'ASYMMETRIC_SIGN_VERIFY_ECC', keySpec: 'EC_P256' });
    await repo.insert(b, { keyId: b.keyId, version: 1, createdAt: b.createdAt, sealedMaterial: null, publicKey: 'PEM' });
    expect(await repo.count(a.accountUin, a.region)).toBe(2);
    expect(await repo.update(a.keyId, 'Enabled', { state: 'Disabled' })).toBe(true);
    expect(await repo.update(a.keyId, 'Enabled', { state: 'Disabled' })).toBe(false); // stale expected state
    const disabled = await repo.list({ accountUin: a.accountUin, region: a.region, states: ['Disabled'], newestFirst: true, offset: 0, limit: 10 });
    expect(disabled.total).toBe(1);
    expect(disabled.keys.map((k) => k.keyId)).toEqual([a.keyId]);
    await repo.delete(a.keyId);
    expect(await repo.count(a.accountUin, a.region)).toBe(1);
    expect(await repo.get(a.accountUin, a.region, a.keyId)).toBeUndefined();
    expect(await repo.versions(a.keyId)).toEqual([]); // cascade
    expect((await repo.dueForRotation(2_000_000_000)).map((k) => k.keyId)).toEqual([]);
  });

  it('keys: search ignores case and treats % and _ literally; tag filters; paging order', async () => {
    const repo = new KeyRepo(db);
    const mk = async (alias: string, createdAt: number, tags: KeyRecord['tags'] = []) => {
      const k = key({ alias, createdAt, tags });
      await repo.insert(k, { keyId: k.keyId, version: 1, createdAt, sealedMaterial: null, publicKey: null });
      return k;
    };
    const pay = await mk('Payments-Main', 10, [{ key: 'env', value: 'prod' }]);
    await mk('payments_archive', 20, [{ key: 'env', value: 'test' }]);
    await mk('paymentsXarchive', 30);
    await mk('orders', 40, [{ key: 'env', value: 'prod' }]);
    const base = { accountUin: pay.accountUin, region: pay.region, newestFirst: true, offset: 0, limit: 10 };
    const aliases = async (f: Partial<Parameters<KeyRepo['list']>[0]>) => (await repo.list({ ...base, ...f })).keys.map((k) => k.alias);
    expect(await aliases({ search: 'PAYMENTS' })).toEqual(['paymentsXarchive', 'payments_archive', 'Payments-Main']);
    expect(await aliases({ search: 's_a' })).toEqual(['payments_archive']);
    expect(await aliases({ search: pay.keyId.toUpperCase().slice(0, 13) })).toEqual(['Payments-Main']);
    expect(await aliases({ tagFilters: [{ key: 'env', values: ['prod'] }] })).toEqual(['orders', 'Payments-Main']);
    expect((await repo.list({ ...base, tagFilters: [{ key: 'env', values: [] }] })).total).toBe(3);
    expect(await aliases({ newestFirst: false, offset: 1, limit: 2 })).toEqual(['payments_archive', 'paymentsXarchive']);
  });

  it('keys: concurrent opposite state changes from two connections neither deadlock nor skew the counters', async () => {
    const other = open();
    extra.push(other);
    const r1 = new KeyRepo(db);
    const r2 = new KeyRepo(other);
    const ks = Array.from({ length: 20 }, (_, i) => key({ state: i % 2 ? 'Disabled' : 'Enabled' }));
    for (const k of ks) await r1.insert(k, { keyId: k.keyId, version: 1, createdAt: k.createdAt, sealedMaterial: null, publicKey: null });
    // Each writer flips every key of one parity back and forth: row locks on both counter rows.
    const flip = async (repo: KeyRepo, parity: number) => {
      for (let round = 0; round < 6; round++) {
        await Promise.all(
          ks
            .filter((_, i) => i % 2 === parity)
            .map(async (k) => {
              const from = (round % 2 === 0) === (parity === 0) ? 'Enabled' : 'Disabled';
              const to = from === 'Enabled' ? 'Disabled' : 'Enabled';
              expect(await repo.transaction((trx) => repo.update(k.keyId, from, { state: to }, trx))).toBe(true);
            }),
        );
      }
    };
    await Promise.all([flip(r1, 0), flip(r2, 1)]);
    const counts = await db('key_counts').select('state', 'n');
    const byState = Object.fromEntries(counts.map((c) => [c.state, Number(c.n)]));
    const actual = await db('keys').select('state');
    expect(byState.Enabled ?? 0).toBe(actual.filter((r) => r.state === 'Enabled').length);
    expect(byState.Disabled ?? 0).toBe(actual.filter((r) => r.state === 'Disabled').length);
    expect((byState.Enabled ?? 0) + (byState.Disabled ?? 0)).toBe(20);
  }, 60_000);

  it('keys: concurrent creates through several connections keep exact counts; a duplicate alias is a unique violation', async () => {
    const pools = [db, open(), open()];
    extra.push(...pools.slice(1));
    await Promise.all(
      pools.flatMap((p) =>
        Array.from({ length: 15 }, async () => {
          const k = key();
          await new KeyRepo(p).insert(k, { keyId: k.keyId, version: 1, createdAt: k.createdAt, sealedMaterial: null, publicKey: null });
        }),
      ),
    );
    const repo = new KeyRepo(db);
    expect(await repo.count('100000000001', 'ap-hongkong')).toBe(45);
    const dup = key({ alias: 'same' });
    await repo.insert(dup, { keyId: dup.keyId, version: 1, createdAt: 1, sealedMaterial: null, publicKey: null });
    const again = key({ alias: 'same' });
    const err = await repo.insert(again, { keyId: again.keyId, version: 1, createdAt: 1, sealedMaterial: null, publicKey: null }).catch((e) => e);
    // The driver's unique violation reaches callers as the store's conflict error, whichever the database.
    expect(err).toBeInstanceOf(StoreConflictError);
    expect(['SQLITE_CONSTRAINT', '23505']).toContain(err.code);
    expect(await repo.count('100000000001', 'ap-hongkong')).toBe(46); // the failed insert rolled back its counter
  }, 60_000);

  it('keys: rotation reservations (version rows above current) and creation intents', async () => {
    const repo = new KeyRepo(db);
    const k = key();
    await repo.recordIntent(k.keyId, 1, 123);
    expect(await repo.intents()).toEqual(new Map([[`${k.keyId}/1`, 123]]));
    await repo.insert(k, { keyId: k.keyId, version: 1, createdAt: 1, sealedMaterial: null, publicKey: null });
    expect((await repo.intents()).size).toBe(0); // the key row's transaction removes the intent
    await repo.insertVersion({ keyId: k.keyId, version: 2, createdAt: 2, sealedMaterial: null, publicKey: null });
    expect(await repo.versionsAboveCurrent()).toEqual([{ keyId: k.keyId, version: 2, tokenResident: true }]);
    expect(await repo.advanceVersion(k.keyId, 1, { currentVersion: 2 })).toBe(true);
    expect(await repo.advanceVersion(k.keyId, 1, { currentVersion: 2 })).toBe(false);
    expect(await repo.versionsAboveCurrent()).toEqual([]);
    expect(await repo.existingVersions([{ keyId: k.keyId, version: 2 }])).toEqual(new Set([`${k.keyId}/1`, `${k.keyId}/2`]));
    await repo.bind(k.keyId, 'cos', 'b1');
    await repo.bind(k.keyId, 'cos', 'b1'); // idempotent (onConflict ignore)
    expect(await repo.bindingCount(k.keyId)).toBe(1);
  });

  it('audit: writers on separate connections append concurrently into one linear chain, nothing lost or duplicated', async () => {
    const pools = [db, open(), open()];
    extra.push(...pools.slice(1));
    const logs = pools.map((p) => new AuditLog(new AuditRepo(p), { failClosed: true }));
    // Rounds in lock step: within a round the three writers contend for the chain; the barrier
    // between rounds keeps one writer from finishing all its rounds before the others begin (SQLite's
    // busy handler lets the lock holder win again and again), so interleaving is certain.
    for (let round = 0; round < 10; round++) {
      await Promise.all(logs.map((log, w) => Promise.all(Array.from({ length: 20 }, (_, i) => log.record(auditEvent(log, `w${w}-${round}-${i}`))))));
    }
    await Promise.all(logs.map((log) => log.drain()));
    const events = await new AuditRepo(db).all();
    expect(events).toHaveLength(600);
    expect(new Set(events.map((e) => e.requestId)).size).toBe(600);
    let prev = GENESIS_HASH;
    for (const e of events) {
      expect(e.prevHash).toBe(prev);
      expect(e.hash).toBe(eventHash(prev, e));
      prev = e.hash;
    }
    const chain = await db('audit_chain').where('id', 1).first();
    expect(chain.head_hash).toBe(prev);
    expect(typeof chain.batches).toBe('number');
    const writers = events.map((e) => e.requestId.split('-')[0]);
    expect(writers.filter((w, i) => i > 0 && w !== writers[i - 1]).length).toBeGreaterThanOrEqual(2 * 10);
  }, 60_000);

  it('audit: any text (quotes, NUL, SQL, non-BMP, lone surrogates) stores and reads back as the chain hashed it', async () => {
    const repo = new AuditRepo(db);
    const log = new AuditLog(repo, { failClosed: true });
    const awkward = ["it's", "'); DROP TABLE audit_events; --", 'a\u0000b', '\u0000', '😀 密钥', 'x\ud800y', '', "''", "\\'\n\r\t", 'é'.repeat(300)];
    for (const [i, text] of awkward.entries()) {
      await log.record({ ...auditEvent(log, `odd-${i}`), userName: text, region: text, apiVersion: text, resourceName: text, errorCode: text });
    }
    await log.drain();
    const events = await repo.all();
    expect(events).toHaveLength(awkward.length);
    let prev = GENESIS_HASH;
    for (const [i, e] of events.entries()) {
      // What the database gives back is what the hash covered: NUL and lone surrogates become
      // U+FFFD (PostgreSQL text cannot hold a NUL), text is cut to its column's length.
      const clean = awkward[i]!.replace(/[\ud800-\udfff]/gu, '\ufffd').replaceAll('\u0000', '\ufffd');
      expect([e.userName, e.region, e.apiVersion, e.resourceName, e.errorCode]).toEqual([clean.slice(0, 64), clean.slice(0, 32), clean.slice(0, 16), clean, clean.slice(0, 96)]);
      expect(e.hash).toBe(eventHash(prev, e));
      prev = e.hash;
    }
    await repo.close();
  });

  it('cache epoch: every write to a cached table moves it, committed; audit and lease writes do not', async () => {
    const keys = new KeyRepo(db);
    const reader = cacheEpochReader(db);
    const e0 = await reader.read();
    const k = key();
    await keys.insert(k, { keyId: k.keyId, version: 1, createdAt: k.createdAt, sealedMaterial: null, publicKey: null });
    const e1 = await reader.read();
    expect(e1).toBeGreaterThan(e0);
    await db('keys').where('key_id', k.keyId).update({ description: 'changed by hand' });
    const e2 = await reader.read();
    expect(e2).toBeGreaterThan(e1);
    // Rolled back: not moved.
    await db
      .transaction(async (trx) => {
        await trx('keys').where('key_id', k.keyId).update({ description: 'never' });
        throw new Error('rollback');
      })
      .catch(() => undefined);
    expect(await reader.read()).toBe(e2);
    const log = new AuditLog(new AuditRepo(db), { failClosed: true });
    await log.record(auditEvent(log, 'epoch'));
    await new LeaseRepo(db).acquire('epoch-test', 'me', 1000);
    expect(await reader.read()).toBe(e2);
    await db('key_versions').where('key_id', k.keyId).delete();
    expect(await reader.read()).toBeGreaterThan(e2);
    await reader.close();
  });

  it('audit: query filters (resource within a list, case of key ids), checkpoints, deletion up to a seq', async () => {
    const repo = new AuditRepo(db);
    const log = new AuditLog(repo, { failClosed: true });
    const id = randomUUID();
    await log.record({ ...auditEvent(log, 'r1'), resourceName: `aaa,${id},bbb` });
    await log.record(auditEvent(log, 'r2'));
    expect((await repo.query({ resourceName: id, limit: 10 })).map((e) => e.requestId)).toEqual(['r1']);
    expect((await repo.query({ requestId: 'r2', limit: 10 }))[0]!.seq).toBeTypeOf('number');
    const head = await repo.head();
    const cps = new AuditCheckpointRepo(db);
    await cps.insert({ seq: head!.seq, headHash: head!.hash, signedAtMs: Date.now(), signature: 'c2ln', scheme: 'ecdsa-p256' });
    expect((await cps.last())!.seq).toBe(head!.seq);
    expect(await repo.deleteUpToSeq(head!.seq - 1)).toBe(1);
    expect((await repo.all()).map((e) => e.requestId)).toEqual(['r2']);
  });

  it('audit: sequence numbers past 2^31 (a year of audited calls at 100/s) store and read back as numbers', async () => {
    const repo = new AuditRepo(db);
    const log = new AuditLog(repo, { failClosed: true });
    await log.record(auditEvent(log, 'small'));
    const big = 2 ** 31 + 7;
    if (engine === 'postgres') await db.raw('select setval(?, ?)', ['audit_events_seq_seq', big]);
    else await db('audit_events').insert({ ...(await db('audit_events').first()), seq: big, event_id: randomUUID(), request_id: 'big-row' });
    await log.record(auditEvent(log, 'after'));
    const [after] = await repo.query({ requestId: 'after', limit: 1 });
    expect(after!.seq).toBeGreaterThan(2 ** 31);
    expect(typeof after!.seq).toBe('number');
    await new AuditCheckpointRepo(db).insert({ seq: after!.seq, headHash: after!.hash, signedAtMs: Date.now(), signature: 'c2ln', scheme: 'ecdsa-p256' });
    expect((await new AuditCheckpointRepo(db).last())!.seq).toBe(after!.seq);
  });

  it('audit: an event is stamped with its request id’s time; lookups by either id go through the time index, found exactly', async () => {
    const repo = new AuditRepo(db);
    const log = new AuditLog(repo, { failClosed: true });
    const arrived = Date.now() - 5_000;
    const requestId = timeOrderedUuid(arrived);
    await log.record(auditEvent(log, requestId));
    // Same millisecond, other calls: the id, not the time, picks the event.
    for (let i = 0; i < 3; i++) await log.record(auditEvent(log, timeOrderedUuid(arrived)));
    await log.record(auditEvent(log, 'not-a-uuid'));
    const [e] = await repo.query({ requestId, limit: 10 });
    expect(e).toMatchObject({ requestId, eventTimeMs: arrived });
    expect(uuidTimeMs(e!.eventId)).toBe(arrived);
    expect((await repo.query({ eventId: e!.eventId, limit: 10 })).map((x) => x.requestId)).toEqual([requestId]);
    expect((await repo.query({ requestId: 'not-a-uuid', limit: 10 })).map((x) => x.requestId)).toEqual(['not-a-uuid']);
    expect(await repo.query({ requestId: timeOrderedUuid(arrived), limit: 10 })).toEqual([]);
    if (engine === 'sqlite') {
      // Neither id has an index of its own (migration 0014); the lookup is a range of the time index.
      const indexes = (await db.raw("select name from sqlite_master where type = 'index' and tbl_name = 'audit_events'")).map((r: { name: string }) => r.name);
      expect(indexes.sort()).toEqual(['audit_events_account_uin_event_time_ms_index', 'audit_events_event_time_ms_index']);
      const query = db('audit_events').where('request_id', requestId).where('event_time_ms', arrived).toSQL().toNative();
      const plan = (await db.raw(`explain query plan ${query.sql}`, query.bindings)).map((r: { detail: string }) => r.detail).join('; ');
      expect(plan).toMatch(/USING INDEX audit_events_event_time_ms_index/);
    }
    await repo.close();
  });

  it('audit: one batch of 250 events (more than one INSERT of 100) lands whole, linked, and moves the chain head to its last event', async () => {
    const repo = new AuditRepo(db);
    const requestId = timeOrderedUuid();
    let prev = '';
    const written = await repo.appendChained((head) => {
      prev = head ?? GENESIS_HASH;
      let link = prev;
      return Array.from({ length: 250 }, (_, i) => {
        const e = {
          eventId: timeOrderedUuid(),
          eventTimeMs: uuidTimeMs(requestId)!,
          eventName: 'Encrypt',
          requestId,
          accountUin: '7',
          userUin: '7',
          userName: `caller ? ${i}`, // a placeholder character inside a value
          secretId: '',
          sourceIp: '',
          region: '',
          resourceType: 'kms',
          resourceName: '*',
          result: 'Success' as const,
          errorCode: '',
          apiVersion: '',
        };
        const hash = eventHash(link, e);
        const stored = { ...e, seq: 0, prevHash: link, hash };
        link = hash;
        return stored;
      });
    });
    const found = (await repo.query({ requestId, limit: 300 })).reverse();
    expect(found.map((e) => e.hash)).toEqual(written.map((e) => e.hash));
    expect(found[0]!.prevHash).toBe(prev);
    expect(found[249]!.userName).toBe('caller ? 249');
    expect((await db('audit_chain').where('id', 1).first()).head_hash).toBe(written[249]!.hash);
    await repo.close();
  });

  it('audit: events written before migration 0014 (stamped when their call ended) are still found by request id', async () => {
    // A database at 0013 with events from that release: version 7 request ids, stamped later.
    const legacy = (await newDatabase(engine))();
    extra.push(legacy);
    for (;;) {
      const [, applied] = (await legacy.migrate.up({ migrationSource: migrations })) as [number, string[]];
      if (applied.includes('0013_cache_epoch')) break;
    }
    const repo = new AuditRepo(legacy);
    const old = timeOrderedUuid(Date.now() - 60_000);
    await repo.appendChained((head) => {
      const e = {
        eventId: timeOrderedUuid(Date.now() - 59_000),
        eventTimeMs: Date.now() - 59_000,
        eventName: 'Encrypt',
        requestId: old,
        accountUin: '1',
        userUin: '1',
        userName: 'root',
        secretId: '',
        sourceIp: '',
        region: '',
        resourceType: 'kms',
        resourceName: '*',
        result: 'Success' as const,
        errorCode: '',
        apiVersion: '',
      };
      const prevHash = head ?? GENESIS_HASH;
      return [{ ...e, seq: 0, prevHash, hash: eventHash(prevHash, e) }];
    });
    await repo.close();
    expect(await migrate(legacy)).toEqual((await migrations.getMigrations([])).filter((m) => m > '0014'));
    expect(await getMeta(legacy, 'audit.request_time_from_seq')).toBe('1');
    const log = new AuditLog(new AuditRepo(legacy), { failClosed: true });
    const current = timeOrderedUuid();
    await log.record(auditEvent(log, current));
    const after = new AuditRepo(legacy);
    expect((await after.query({ requestId: old, limit: 10 })).map((e) => e.requestId)).toEqual([old]);
    expect((await after.query({ requestId: current, limit: 10 })).map((e) => e.requestId)).toEqual([current]);
    await after.close();
  });

  it('audit: retention takes the chain’s expired prefix — exactly what it exports is what it removes, with times out of chain order', async () => {
    const repo = new AuditRepo(db);
    const log = new AuditLog(repo, { failClosed: true });
    const day = 86_400_000;
    const now = Date.now();
    // Chain order vs time: a call that arrived 5 days ago is written after one from 2 days ago (a
    // slow call, or another node's clock); retention of 3 days must stop at the 2-day-old one.
    const ages = [10, 9, 2, 5, 1];
    for (const [i, age] of ages.entries()) await log.record(auditEvent(log, timeOrderedUuid(now - age * day - i)));
    expect((await repo.expiredPrefix(now - 3 * day)).map((e) => Math.round((now - e.eventTimeMs) / day))).toEqual([10, 9]);
    expect((await repo.expiredPrefix(now - 3 * day, 1)).length).toBe(2); // in pages of one
    const exportDir = mkdtempSync(path.join(tmpdir(), 'hsmkms-retention-'));
    scratch.push(exportDir);
    const trail = new AuditTrail(undefined as never, repo, new AuditCheckpointRepo(db));
    expect(await trail.purge(3, exportDir, now)).toBe(2);
    const exported = readdirSync(exportDir)
      .flatMap((f) => readFileSync(path.join(exportDir, f), 'utf8').trim().split('\n'))
      .map((l) => JSON.parse(l).seq);
    const left = await repo.all();
    expect(left.map((e) => Math.round((now - e.eventTimeMs) / day))).toEqual([2, 5, 1]);
    expect(exported.sort((a: number, b: number) => a - b)).toEqual([left[0]!.seq - 2, left[0]!.seq - 1]);
    expect((await trail.anchor()).hash).toBe(left[0]!.prevHash);
    // The 5-day-old event goes once the one before it is due.
    expect(await trail.purge(3, exportDir, now + day)).toBe(2);
    await repo.close();
  });

  it('audit: an export of a time range is the chain segment between its first and last event, so it verifies', async () => {
    const repo = new AuditRepo(db);
    const log = new AuditLog(repo, { failClosed: true });
    const t0 = Date.now() - 100_000;
    // Seconds after t0, in chain order; the third was stamped outside [20 s, 40 s).
    for (const s of [10, 20, 50, 30, 60]) await log.record(auditEvent(log, timeOrderedUuid(t0 + s * 1000)));
    const segment = await repo.all({ sinceMs: t0 + 20_000, untilMs: t0 + 40_000 });
    expect(segment.map((e) => (e.eventTimeMs - t0) / 1000)).toEqual([20, 50, 30]);
    for (let i = 1; i < segment.length; i++) expect(segment[i]!.prevHash).toBe(segment[i - 1]!.hash);
    expect(await repo.all({ sinceMs: t0 + 70_000 })).toEqual([]);
    expect((await repo.all({ untilMs: t0 + 15_000 })).map((e) => (e.eventTimeMs - t0) / 1000)).toEqual([10]);
    await repo.close();
  });

  it('leases: connections racing for a free lease — exactly one wins, every time', async () => {
    const pools = [db, open(), open(), open()];
    extra.push(...pools.slice(1));
    for (let round = 0; round < 10; round++) {
      const name = `race-${round}`;
      const won = await Promise.all(pools.map((p, i) => new LeaseRepo(p).acquire(name, `node-${i}`, 60_000)));
      expect(won.filter(Boolean)).toHaveLength(1);
      const holder = await new LeaseRepo(db).holderOf(name);
      expect(holder).toBe(`node-${won.indexOf(true)}`);
    }
    const leases = new LeaseRepo(db);
    const t0 = 1_000_000;
    expect(await leases.acquire('x', 'A', 30_000, t0)).toBe(true);
    expect(await leases.acquire('x', 'B', 30_000, t0 + 1)).toBe(false);
    expect(await leases.acquire('x', 'B', 30_000, t0 + 30_001)).toBe(true);
  }, 60_000);

  it('v1 nonces: several connections recording the same requests at once — exactly one first each; nothing unexpired is dropped', async () => {
    const pools = [db, open(), open(), open()];
    extra.push(...pools.slice(1));
    const repos = pools.map((p) => new V1NonceRepo(p, 1_000));
    onClose.push(...repos);
    const now = 1_700_000_000_000;
    const entry = (i: number, secretId = 'AKIDa'): V1NonceEntry => ({ secretId, digest: `${String(i).padStart(8, '0')}${'d'.repeat(24)}`, expiresAtMs: now + 301_000 });
    const entries = Array.from({ length: 40 }, (_, i) => entry(i));
    // Every connection records every entry (in its own order), concurrently.
    const verdicts = await Promise.all(repos.map((r, k) => r.recordBatch(k % 2 ? [...entries].reverse() : entries, now)));
    for (let i = 0; i < entries.length; i++) {
      const seen = verdicts.map((v, k) => v[k % 2 ? entries.length - 1 - i : i]);
      expect(
        seen.filter((v) => v === 'first'),
        `entry ${i}`,
      ).toHaveLength(1);
      expect(
        seen.filter((v) => v === 'replayed'),
        `entry ${i}`,
      ).toHaveLength(pools.length - 1);
    }
    // A repeat inside one batch is a replay too; through the window's last second, still known.
    expect(await repos[0]!.recordBatch([entry(100), entry(100)], now)).toEqual(['first', 'replayed']);
    expect(await repos[1]!.recordBatch([entry(100)], now + 300_999)).toEqual(['replayed']);
    // Purging leaves every unexpired entry (and one expired less than the margin ago).
    await repos[2]!.purge(now + 301_000 + 59_000);
    expect(await repos[3]!.recordBatch([entry(3)], now)).toEqual(['replayed']);
    // Whole minutes go: three minutes past expiry every entry is gone.
    expect(await repos[3]!.purge(now + 301_000 + 180_000)).toBe(41);
  }, 60_000);

  it('v1 nonces: each SecretId has a bound in each process; past it its requests are refused (full), other SecretIds are not, and nothing is evicted', async () => {
    const repo = new V1NonceRepo(db, 5);
    onClose.push(repo);
    const now = 1_700_000_000_000;
    const e = (secretId: string, i: number, expiresAtMs = now + 300_000): V1NonceEntry => ({ secretId, digest: `${secretId}-${i}`.padEnd(32, '0'), expiresAtMs });
    expect(
      await repo.recordBatch(
        [1, 2, 3, 4, 5, 6, 7].map((i) => e('AKIDflood', i)),
        now,
      ),
    ).toEqual(['first', 'first', 'first', 'first', 'first', 'full', 'full']);
    expect(await repo.recordBatch([e('AKIDflood', 8)], now)).toEqual(['full']);
    expect(await repo.recordBatch([e('AKIDvictim', 1)], now)).toEqual(['first']);
    // Full or not, a request already recorded is a replay.
    expect(await repo.recordBatch([e('AKIDvictim', 1), e('AKIDflood', 1)], now)).toEqual(['replayed', 'replayed']);
    // Once its entries have expired, the SecretId may go on.
    expect(await repo.recordBatch([e('AKIDflood', 9, now + 700_000)], now + 360_000)).toEqual(['first']);
  }, 60_000);

  it('sign-in attempts: counted one by one across connections, per window; a success takes back its own attempt only', async () => {
    const pools = [db, open(), open(), open()];
    extra.push(...pools.slice(1));
    const repos = pools.map((p) => new AttemptRepo(p));
    const t = 1_700_000_000_000;
    const W = 300_000;
    // 40 concurrent attempts through four connections: each gets its own count, 1 to 40.
    const counts = await Promise.all(Array.from({ length: 40 }, (_, i) => repos[i % 4]!.count(['address:a', `user:${i % 2}`], W, t + i)));
    expect(counts.map((c) => c[0]).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(
      counts
        .filter((_c, i) => i % 2 === 0)
        .map((c) => c[1])
        .sort((a, b) => a! - b!),
    ).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await repos[1]!.uncount(['address:a'], W, t + 100);
    expect(await repos[2]!.count(['address:a', 'user:0'], W, t + 200)).toEqual([40, 21]);
    // The window runs from the first attempt: past its end the count starts again.
    expect(await repos[3]!.count(['address:a'], W, t + W)).toEqual([1]);
  }, 60_000);

  it('alarms: a day key raises one alarm; concurrent claims of a due alarm — exactly one wins', async () => {
    const repo = new AlarmRepo(db);
    const alarm = (over: Partial<Alarm> = {}): Alarm => ({
      alarmId: randomUUID(),
      kind: 'KeyDeletionImminent',
      accountUin: '1',
      region: 'ap-hongkong',
      keyId: 'k',
      detail: { daysLeft: 2, ok: true },
      createdAtMs: 1000,
      dayKey: 'k:2',
      deliveryStatus: 'pending',
      attempts: 0,
      nextAttemptAtMs: 5000,
      lastError: null,
      ...over,
    });
    const first = alarm();
    expect(await repo.insert(first)).toBe(true);
    expect(await repo.insert(alarm())).toBe(false);
    expect(await repo.insert(alarm({ dayKey: null, kind: 'PendingDeleteKeyUsed' }))).toBe(true);
    expect(await repo.insert(alarm({ dayKey: null, kind: 'PendingDeleteKeyUsed' }))).toBe(true); // NULLs never collide
    expect(await repo.get(first.alarmId)).toEqual(first);
    const pools = [db, open(), open()];
    extra.push(...pools.slice(1));
    const [due] = await repo.due(10_000, 1);
    const wins = await Promise.all(pools.map((p) => new AlarmRepo(p).claim(due!, 60_000)));
    expect(wins.filter(Boolean)).toHaveLength(1);
    await repo.markAttemptFailed(due!.alarmId, 'HTTP 500', 70_000, false);
    const after = await repo.get(due!.alarmId);
    expect(after).toMatchObject({ attempts: 1, nextAttemptAtMs: 70_000, lastError: 'HTTP 500', deliveryStatus: 'pending' });
  }, 60_000);

  it('identities, policies and service meta', async () => {
    const ids = new IdentityRepo(db);
    await ids.insertAccount({ uin: '200000000001', appId: '1250000000', createdAt: 1 });
    await ids.insertUser({ uin: '200000000001', accountUin: '200000000001', name: 'root', isRoot: true, createdAt: 1 });
    await ids.insertUser({ uin: '200000000002', accountUin: '200000000001', name: 'dev', isRoot: false, createdAt: 2 });
    await ids.insertCredential({ secretId: 'AKIDx', userUin: '200000000002', sealedSecretKey: Buffer.from('sealed'), status: 'Enabled', createdAt: 3 });
    const ci = await ids.findCredentialIdentity('AKIDx');
    expect(ci).toMatchObject({ accountUin: '200000000001', userName: 'dev', isRoot: false, userStatus: 'Enabled', createdAt: 3 });
    expect(Buffer.from(ci!.sealedSecretKey).toString()).toBe('sealed');
    expect(await ids.setUserStatus('200000000001', 'root', 'Disabled')).toBe(false); // root cannot be disabled
    expect(await ids.setUserStatus('200000000001', 'dev', 'Disabled')).toBe(true);
    expect(await ids.countCredentials('200000000002')).toBe(1);
    const policies = new PolicyRepo(db);
    await policies.insert({ policyId: 'p1', accountUin: '200000000001', name: 'ro', document: '{}', createdAt: 1 });
    await policies.attach('200000000002', 'p1');
    await policies.attach('200000000002', 'p1');
    await policies.attach('200000000002', 'preset:QcloudKMSReadOnlyAccess');
    expect(await policies.forUser('200000000002')).toEqual([
      { ref: 'p1', name: 'ro', document: '{}' },
      { ref: 'preset:QcloudKMSReadOnlyAccess', name: null, document: null },
    ]);
    expect(await initMeta(db, 'instance', 'first')).toBe('first');
    expect(await initMeta(db, 'instance', 'second')).toBe('first');
    expect(await getMeta(db, 'instance')).toBe('first');
  });
});

describe('SQLite WAL checkpoints off the audit path', () => {
  it('a side connection opened with checkpoints: false never checkpoints at commit; walCheckpointer does, on its own connection', async () => {
    const { db } = await fresh('sqlite');
    const file = (db.client as { config: { connection: { filename: string } } }).config.connection.filename;
    const side = sqliteSideConnection(db, { checkpoints: false })!;
    const run = (sql: string) => new Promise<void>((resolve, reject) => side.get().exec(sql, (err) => (err ? reject(err) : resolve())));
    try {
      await db.raw('CREATE TABLE scratch (b BLOB)');
      const before = statSync(file).size;
      // ~1,500 WAL pages in one commit: past SQLite's default autocheckpoint (1,000 pages).
      await run('INSERT INTO scratch VALUES (randomblob(6000000))');
      expect(statSync(`${file}-wal`).size).toBeGreaterThan(6_000_000);
      expect(statSync(file).size).toBeLessThan(before + 1_000_000);
      const checkpointer = walCheckpointer(db, 20)!;
      try {
        for (let i = 0; i < 250 && statSync(file).size < 6_000_000; i++) await new Promise((r) => setTimeout(r, 20));
        expect(statSync(file).size).toBeGreaterThan(6_000_000);
      } finally {
        await checkpointer.close();
      }
    } finally {
      await side.close();
      await db.destroy();
    }
  }, 30_000);
});

describe('describeDatabase (the start-up log line)', () => {
  it('names the database without its password', () => {
    expect(describeDatabase({ databaseUrl: 'postgres://kms:s3cret-pw@db.internal:5432/hsmkms?sslmode=require', sqliteFile: '' })).toBe('postgres://kms@db.internal:5432/hsmkms');
    expect(describeDatabase({ databaseUrl: undefined, sqliteFile: '/var/lib/hsmkms/hsmkms.sqlite' })).toBe('sqlite:/var/lib/hsmkms/hsmkms.sqlite');
  });

  it('refuses a URL that is not PostgreSQL', () => {
    expect(() => openDatabase({ databaseUrl: 'mysql://x@y/z', sqliteFile: '' })).toThrow(/postgres:\/\//);
  });
});

describe('cache epoch on SQLite (docs/benchmarks.md#epoch-shm)', () => {
  it('unchanged() without a query, false after any commit by any process, until the next read', async () => {
    const { db } = await fresh('sqlite');
    const reader = cacheEpochReader(db);
    expect(reader.unchanged!()).toBe(false); // no read yet
    const e0 = await reader.read();
    expect(reader.unchanged!()).toBe(true);
    // A commit on another connection of this process, to a table the epoch does not cover: the
    // WAL-index header moved, so the reader cannot vouch for its value until it reads again.
    await new LeaseRepo(db).acquire('shm-test', 'me', 1000);
    expect(reader.unchanged!()).toBe(false);
    expect(await reader.read()).toBe(e0);
    expect(reader.unchanged!()).toBe(true);
    // Rolled back: nothing committed, the header did not move.
    await db
      .transaction(async (trx) => {
        await trx('service_meta').insert({ name: 'never', value: 'x', updated_at: 0 });
        throw new Error('rollback');
      })
      .catch(() => undefined);
    expect(reader.unchanged!()).toBe(true);
    // A checkpoint copies pages into the database; it commits nothing.
    await db.raw('PRAGMA wal_checkpoint(PASSIVE)');
    expect(reader.unchanged!()).toBe(true);
    // Another process (an operator's hand-written SQL through its own SQLite connection).
    const k = key();
    const file = (db.client as { config: { connection: { filename: string } } }).config.connection.filename;
    const sqlite3Path = createRequire(import.meta.url).resolve('sqlite3');
    const writer = spawnSync(
      process.execPath,
      [
        '-e',
        `const s = require(${JSON.stringify(sqlite3Path)}); const d = new s.Database(process.argv[1]); d.run("INSERT INTO service_meta (name, value, updated_at) VALUES ('written-by-another-process', 'x', 0)", (e) => { if (e) { console.error(e.message); process.exit(1); } d.close(); });`,
        file,
      ],
      { encoding: 'utf8' },
    );
    expect(writer.status, writer.stderr).toBe(0);
    expect(reader.unchanged!()).toBe(false);
    await new KeyRepo(db).insert(k, { keyId: k.keyId, version: 1, createdAt: k.createdAt, sealedMaterial: null, publicKey: null });
    expect(reader.unchanged!()).toBe(false);
    expect(await reader.read()).toBeGreaterThan(e0);
    expect(reader.unchanged!()).toBe(true);
    await reader.close();
    await db.destroy();
  });
});
