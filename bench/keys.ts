// npm run bench:keys — the metadata paths of ListKeyDetail, DescribeKey(s) and the key resolution
// of Encrypt (KeyRepo.get) with BENCH_KEYS (default 100,000) keys in one account and region, against
// the same lookups with 1,000 keys, side by side in one run, on two fresh SQLite databases.
// Both databases also hold ~1,000 keys of other accounts and regions. Rows are inserted straight
// through KeyRepo.insert (metadata only: no token objects are needed for these paths).
//
// Output, one JSON line each:
//   {"case":"insert","keys",...}                       insert rate while building each database
//   {"case":"plan:<case>/<query>","sql","plan":[...]} EXPLAIN QUERY PLAN of every statement a case issues
//   {"case","keys","ops_s","p50_ms","p99_ms",...}     one per case and database size
//   {"case","ops_s_1k","ops_s_100k","ratio"}           ratio = ops_s at BENCH_KEYS / ops_s at 1,000;
//                                                     about 1 means the case scales flat.
// BENCH_SECONDS (default 1) is the time per measurement; each case alternates the two databases
// three times and reports the median rate (latencies pooled), so a noisy neighbour hits both.
// BENCH_CASES is a regexp of cases to run, BENCH_BATCH the keys per insert transaction.
// No ANALYZE is run: the service never runs it, so the planner works without statistics here too.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import type { KeyState } from '../src/domain/key-state.js';
import { migrate, openDatabase, type Db } from '../src/store/db.js';
import type { KeyListFilter, KeyRecord } from '../src/model/keys.js';
import { KeyRepo } from '../src/store/key-repo.js';
import { median } from './stats.js';

const N = Number(process.env.BENCH_KEYS || 100_000);
const SMALL = 1_000;
const OTHERS = 1_000;
const SECONDS = Number(process.env.BENCH_SECONDS || 1);
const BATCH = Number(process.env.BENCH_BATCH || 5_000);
const ROUNDS = 3;
const ONLY = process.env.BENCH_CASES ? new RegExp(process.env.BENCH_CASES) : undefined;

const ACCOUNT = '100000000001';
const REGION = 'ap-guangzhou';
const OTHER_REGION = 'ap-shanghai';
const TEAMS = ['payments', 'orders', 'identity', 'search', 'ledger'];
const DAY = 86_400;

interface Dataset {
  n: number;
  db: Db;
  repo: KeyRepo;
  /** Key ids of the measured account, in insertion order. */
  ids: string[];
}

const pad = (i: number) => String(i).padStart(6, '0');
const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;
const ms = (ns: bigint) => Number(ns) / 1e6;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const round3 = (x: number) => Number(x.toFixed(3));

function record(i: number, accountUin: string, region: string, alias: string, createdAt: number): KeyRecord {
  // ~93% Enabled, 5% Disabled, 2% PendingDelete; a tag on every 10th key.
  const state: KeyState = i % 20 === 3 ? 'Disabled' : i % 50 === 11 ? 'PendingDelete' : 'Enabled';
  return {
    keyId: randomUUID(),
    accountUin,
    region,
    alias,
    description: i % 3 === 0 ? `bench key ${i}` : '',
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'AES_256',
    origin: 'TENCENT_KMS',
    state,
    creatorUin: accountUin,
    createdAt,
    deletionDate: state === 'PendingDelete' ? createdAt + 30 * DAY : 0,
    rotationEnabled: i % 7 === 0,
    rotateDays: i % 7 === 0 ? 365 : 0,
    nextRotateTime: i % 7 === 0 ? createdAt + 365 * DAY : 0,
    lastRotateTime: 0,
    validTo: 0,
    currentVersion: 1,
    tokenResident: true,
    hasMaterial: true,
    tags: i % 10 === 0 ? [{ key: 'team', value: TEAMS[(i / 10) % TEAMS.length]! }] : [],
  };
}

async function build(dir: string, n: number): Promise<Dataset> {
  const db = openDatabase({ sqliteFile: path.join(dir, `keys-${n}.sqlite`), databaseUrl: undefined });
  await migrate(db);
  const repo = new KeyRepo(db);
  const now = Math.floor(Date.now() / 1000);
  const span = 2 * 365 * DAY; // created over the last two years, in random order
  const rows: KeyRecord[] = [];
  for (let i = 0; i < n; i++) {
    // 1% of aliases carry a word the search case looks for.
    const alias = i % 100 === 7 ? `orders-db-${pad(i)}` : `key-${pad(i)}`;
    rows.push(record(i, ACCOUNT, REGION, alias, now - Math.floor(Math.random() * span)));
  }
  // Other tenants: the same account in another region, and 15 other accounts in both regions.
  for (let j = 0; j < OTHERS; j++) {
    const account = j < OTHERS / 4 ? ACCOUNT : String(100000000002 + (j % 15));
    const region = j < OTHERS / 4 || j % 2 === 0 ? OTHER_REGION : REGION;
    rows.push(record(j, account, region, `other-${pad(j)}`, now - Math.floor(Math.random() * span)));
  }
  const lat: number[] = [];
  const start = process.hrtime.bigint();
  for (let b = 0; b < rows.length; b += BATCH) {
    await repo.transaction(async (trx) => {
      for (const k of rows.slice(b, b + BATCH)) {
        const t0 = process.hrtime.bigint();
        await repo.insert(k, { keyId: k.keyId, version: 1, createdAt: k.createdAt, sealedMaterial: null, publicKey: null }, trx);
        lat.push(ms(process.hrtime.bigint() - t0));
      }
    });
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  lat.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      case: 'insert',
      keys: n,
      ops_s: Math.round(rows.length / seconds),
      p50_ms: round3(percentile(lat, 0.5)),
      p99_ms: round3(percentile(lat, 0.99)),
      rows: rows.length,
      batch: BATCH,
      seconds: round3(seconds),
    }),
  );
  return { n, db, repo, ids: rows.slice(0, n).map((k) => k.keyId) };
}

type Op = () => Promise<unknown>;

/** Runs `op` back to back for SECONDS (at least 5 times): the rate and each call's latency. */
async function sample(op: Op): Promise<{ opsS: number; lat: number[] }> {
  const warm = Date.now() + 100;
  for (let i = 0; i < 3 || Date.now() < warm; i++) await op();
  const lat: number[] = [];
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(SECONDS * 1e9));
  for (;;) {
    const t0 = process.hrtime.bigint();
    await op();
    const t1 = process.hrtime.bigint();
    lat.push(ms(t1 - t0));
    if (t1 >= end && lat.length >= 5) return { opsS: lat.length / (Number(t1 - start) / 1e9), lat };
  }
}

/** Every statement one run of `op` issues, with its EXPLAIN QUERY PLAN as an indented tree. */
async function plans(name: string, d: Dataset, op: Op): Promise<void> {
  const seen: Array<{ sql: string; bindings: unknown[] }> = [];
  const listener = (q: { sql: string; bindings?: unknown[] }) => seen.push({ sql: q.sql, bindings: q.bindings ?? [] });
  d.db.on('query', listener);
  try {
    await op();
  } finally {
    d.db.removeListener('query', listener);
  }
  for (const q of seen) {
    const rows = (await d.db.raw(`explain query plan ${q.sql}`, q.bindings as Knex.RawBinding[])) as Array<{ id: number; parent: number; detail: string }>;
    const depth = new Map<number, number>([[0, 0]]);
    const plan = rows.map((r) => {
      const level = (depth.get(r.parent) ?? 0) + 1;
      depth.set(r.id, level);
      return `${'  '.repeat(level - 1)}${r.detail}`;
    });
    const what = /^select count\(/i.test(q.sql) ? 'count' : /from `key_tags`/.test(q.sql) && !/exists/i.test(q.sql) ? 'tags' : 'rows';
    console.log(
      JSON.stringify({
        case: `plan:${name}/${what}`,
        keys: d.n,
        sql: q.sql,
        plan,
        full_table_scan: plan.some((p) => /^\s*SCAN keys(?! USING)/.test(p)),
        temp_btree: plan.some((p) => /USE TEMP B-TREE/.test(p)),
      }),
    );
  }
}

async function compare(name: string, small: Dataset, big: Dataset, mk: (d: Dataset) => Op, extra: (d: Dataset) => Record<string, unknown> = () => ({})): Promise<void> {
  if (ONLY && !ONLY.test(name)) return;
  await plans(name, big, mk(big));
  const res = new Map<Dataset, { rates: number[]; lat: number[] }>([
    [small, { rates: [], lat: [] }],
    [big, { rates: [], lat: [] }],
  ]);
  for (let i = 0; i < ROUNDS; i++) {
    for (const d of [small, big]) {
      const s = await sample(mk(d));
      const r = res.get(d)!;
      r.rates.push(s.opsS);
      r.lat.push(...s.lat);
    }
  }
  const rate = new Map<Dataset, number>();
  for (const d of [small, big]) {
    const r = res.get(d)!;
    const lat = r.lat.sort((a, b) => a - b);
    rate.set(d, median(r.rates));
    console.log(
      JSON.stringify({ case: name, keys: d.n, ops_s: Math.round(median(r.rates)), p50_ms: round3(percentile(lat, 0.5)), p99_ms: round3(percentile(lat, 0.99)), ...extra(d) }),
    );
  }
  const a = rate.get(small)!;
  const b = rate.get(big)!;
  console.log(JSON.stringify({ case: name, ops_s_1k: Math.round(a), ops_s_100k: Math.round(b), ratio: round3(b / a) }));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-bench-keys-'));
  const open: Db[] = [];
  try {
    const small = await build(dir, SMALL);
    open.push(small.db);
    const big = await build(dir, N);
    open.push(big.db);

    const base = (_d: Dataset, f: Partial<KeyListFilter>): KeyListFilter => ({ accountUin: ACCOUNT, region: REGION, newestFirst: true, offset: 0, limit: 10, ...f });
    const list = (f: Partial<KeyListFilter>) => (d: Dataset) => () => d.repo.list(base(d, f));
    // The filter and how many keys it matches in each database, so a reader sees its selectivity.
    const described = async (f: Partial<KeyListFilter>, shown: Record<string, unknown>) => {
      const m = new Map<Dataset, number>();
      for (const d of [small, big]) m.set(d, (await d.repo.list(base(d, { ...f, limit: 1 }))).total);
      return (d: Dataset) => ({ ...shown, total: m.get(d) });
    };

    // The key resolution of Encrypt / DescribeKey: one key by id, scoped to the account and region.
    await compare('get-by-id', small, big, (d) => () => d.repo.get(ACCOUNT, REGION, pick(d.ids)));
    // DescribeKeys: 20 ids in one call.
    await compare(
      'get-many-20',
      small,
      big,
      (d) => () =>
        d.repo.getMany(
          ACCOUNT,
          REGION,
          Array.from({ length: 20 }, () => pick(d.ids)),
        ),
    );
    // ListKeyDetail / ListKeys without filters, newest first.
    await compare('list-first-page-10', small, big, list({ limit: 10 }), await described({}, { limit: 10 }));
    // ListKeyDetail's default: KeyUsage absent means ENCRYPT_DECRYPT only (docs/contract/keys.md#list-key-detail-filters).
    await compare(
      'list-default-usage-10',
      small,
      big,
      list({ keyUsages: ['ENCRYPT_DECRYPT'] }),
      await described({ keyUsages: ['ENCRYPT_DECRYPT'] }, { keyUsages: ['ENCRYPT_DECRYPT'] }),
    );
    await compare('list-first-page-200', small, big, list({ limit: 200 }), await described({}, { limit: 200 }));
    // A deep page at 90% of the account's keys: offset 90,000 at 100,000 keys, 900 at 1,000.
    await compare(
      'list-deep-page-90pct-10',
      small,
      big,
      (d) => list({ offset: Math.floor(d.n * 0.9), limit: 10 })(d),
      (d) => ({ offset: Math.floor(d.n * 0.9), limit: 10 }),
    );
    // KeyState filter: Disabled keys (5%), and a state no key is in (PendingImport: the worst case).
    await compare('list-state-disabled-10', small, big, list({ states: ['Disabled'] }), await described({ states: ['Disabled'] }, { states: ['Disabled'] }));
    await compare('list-state-nomatch-10', small, big, list({ states: ['PendingImport'] }), await described({ states: ['PendingImport'] }, { states: ['PendingImport'] }));
    // TagFilters: team=payments (every 10th key has a team tag, one in five of them payments: 2%).
    const tag = { tagFilters: [{ key: 'team', values: ['payments'] }] };
    await compare('list-tag-10', small, big, list(tag), await described(tag, { tag: 'team=payments' }));
    // SearchKeyAlias: LIKE '%x%' on alias or key id. 'orders' is in 1% of aliases; 'zzz' in none.
    await compare('list-search-10', small, big, list({ search: 'orders' }), await described({ search: 'orders' }, { search: 'orders' }));
    await compare('list-search-nomatch-10', small, big, list({ search: 'zzz' }), await described({ search: 'zzz' }, { search: 'zzz' }));
    // The count behind CreateKey's CMK limit check (and the shape of every list's TotalCount).
    await compare('count', small, big, (d) => () => d.repo.count(ACCOUNT, REGION));
  } finally {
    for (const db of open) await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench:keys failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
