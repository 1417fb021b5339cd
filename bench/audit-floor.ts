// npm run bench:audit-floor — what making one event durable per call costs on this machine, on a
// bare HTTP server with nothing else to do: the floor under the audit trail's design, measured
// apart from the service (docs/benchmarks.md#audit-floor).
//
// Servers (child processes, one each, all running during the run), driven by autocannon with one
// fixed request, in paired rounds (the order alternating):
//   bare    parses the JSON body and answers;
//   sqlite  the same, and first what a lone call pays through node-sqlite3 today: a prepared
//           read of a one-row counter (the cache epoch), then one exec of BEGIN IMMEDIATE,
//           SAVEPOINT, the chain row's conditional UPDATE, an INSERT of a ~400-byte event into
//           a table with two secondary indexes, RELEASE, COMMIT (WAL, synchronous=NORMAL:
//           durable against a process kill, as the audit trail is);
//   append  the same event as one line appended to a file with write(2) (as durable against a
//           process kill: the page cache survives it);
//   fsync   append, then fdatasync(2) per call (durable against power loss too; no grouping).
// One JSON line per connection count: each server's rps and CPU per request (µs, from /proc) and
// its rps over the bare server's (`<server>_vs_bare`), medians of BENCH_ROUNDS (3) rounds of
// BENCH_SECONDS (3). BENCH_CONNECTIONS (1,8,64), BENCH_SERVERS (bare,sqlite,append,fsync).
//
// Internal mode: `--serve <server> <dir>` runs one server and prints its port.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import sqlite3 from 'sqlite3';
import { median } from './stats.js';

type ServerKind = 'bare' | 'sqlite' | 'append' | 'fsync';
const KINDS: ServerKind[] = ['bare', 'sqlite', 'append', 'fsync'];

const SCHEMA = `PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
CREATE TABLE cache_epoch(id INTEGER PRIMARY KEY, value INTEGER NOT NULL); INSERT INTO cache_epoch VALUES (1, 0);
CREATE TABLE chain(id INTEGER PRIMARY KEY, head TEXT NOT NULL); INSERT INTO chain VALUES (1, '');
CREATE TABLE events(seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, event_time_ms INTEGER NOT NULL,
  account_uin TEXT NOT NULL, action TEXT NOT NULL, resource_name TEXT NOT NULL, hash TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX events_time ON events(event_time_ms); CREATE INDEX events_account_time ON events(account_uin, event_time_ms);`;

/** One event as the servers store it, linked to the previous one (a hash chain, as the trail's). */
function nextEvent(prev: string): { id: string; hash: string; time: number; detail: string } {
  const id = randomUUID();
  return { id, hash: createHash('sha256').update(prev).update(id).digest('hex'), time: Date.now(), detail: 'x'.repeat(300) };
}

async function serve(kind: ServerKind, dir: string): Promise<void> {
  let head = '';
  let handle: () => Promise<void> = async () => {};
  if (kind === 'sqlite') {
    const open = () =>
      new Promise<sqlite3.Database>((resolve, reject) => {
        const db = new sqlite3.Database(path.join(dir, 'floor.db'), (e) => (e ? reject(e) : resolve(db)));
      });
    const writer = await open();
    await new Promise<void>((resolve, reject) => writer.exec(SCHEMA, (e) => (e ? reject(e) : resolve())));
    const reader = await open();
    const epoch = reader.prepare('SELECT value FROM cache_epoch WHERE id = 1');
    handle = async () => {
      await new Promise<void>((resolve, reject) => epoch.all((e) => (e ? reject(e) : resolve())));
      const ev = nextEvent(head);
      const sql = `BEGIN IMMEDIATE; SAVEPOINT link; UPDATE chain SET head = '${ev.hash}' WHERE id = 1 AND head = '${head}';
        INSERT INTO events(event_id, event_time_ms, account_uin, action, resource_name, hash, detail)
        VALUES ('${ev.id}', ${ev.time}, '100000000001', 'Encrypt', 'kms:ap-hongkong:uin/100000000001:key/a', '${ev.hash}', '${ev.detail}');
        RELEASE link; COMMIT;`;
      await new Promise<void>((resolve, reject) => writer.exec(sql, (e) => (e ? reject(e) : resolve())));
      head = ev.hash;
    };
  } else if (kind === 'append' || kind === 'fsync') {
    const fd = openSync(path.join(dir, 'floor.log'), 'a');
    handle = async () => {
      const ev = nextEvent(head);
      writeSync(fd, `{"id":"${ev.id}","t":${ev.time},"uin":"100000000001","action":"Encrypt","hash":"${ev.hash}","detail":"${ev.detail}"}\n`);
      if (kind === 'fsync') fdatasyncSync(fd);
      head = ev.hash;
    };
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      handle().then(
        () => {
          res.setHeader('content-type', 'application/json');
          res.end('{"Response":{"RequestId":"r","KeyId":"a","CiphertextBlob":"c"}}');
        },
        () => {
          res.statusCode = 500;
          res.end();
        },
      );
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
}

/** CPU time (ms) of a process, user + system, from /proc. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Running {
  kind: ServerKind;
  child: ChildProcess;
  port: number;
  dir: string;
}

async function start(kind: ServerKind): Promise<Running> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-floor-'));
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', kind, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code})`)));
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  return { kind, child, port, dir };
}

async function drive(s: Running, connections: number, seconds: number): Promise<{ rps: number; cpuUs: number; errors: number }> {
  const opts = { url: `http://127.0.0.1:${s.port}`, connections, method: 'POST' as const, body: '{"KeyId":"a","Plaintext":"aGVsbG8="}' };
  await autocannon({ ...opts, duration: 1 });
  const c0 = cpuMs(s.child.pid!);
  const r = await autocannon({ ...opts, duration: seconds });
  return { rps: r.requests.average, cpuUs: ((cpuMs(s.child.pid!) - c0) * 1000) / Math.max(1, r.requests.total), errors: r.errors + r.non2xx };
}

async function main(): Promise<void> {
  const seconds = Number(process.env.BENCH_SECONDS || 3);
  const rounds = Number(process.env.BENCH_ROUNDS || 3);
  const connectionCounts = (process.env.BENCH_CONNECTIONS || '1,8,64').split(',').map(Number);
  const kinds = (process.env.BENCH_SERVERS || KINDS.join(',')).split(',') as ServerKind[];
  for (const k of kinds) if (!KINDS.includes(k)) throw new Error(`unknown server ${k} (one of ${KINDS.join(', ')})`);
  if (!kinds.includes('bare')) kinds.unshift('bare');
  const servers: Running[] = [];
  try {
    for (const k of kinds) servers.push(await start(k));
    for (const connections of connectionCounts) {
      const seen = new Map<ServerKind, Array<{ rps: number; cpuUs: number; errors: number }>>();
      for (let round = 0; round < rounds; round++) {
        for (const s of round % 2 ? [...servers].reverse() : servers) {
          const m = await drive(s, connections, seconds);
          seen.set(s.kind, [...(seen.get(s.kind) ?? []), m]);
        }
      }
      const line: Record<string, number> = { connections, rounds };
      const bareRps = median(seen.get('bare')!.map((m) => m.rps));
      for (const [kind, ms] of seen) {
        line[`${kind}_rps`] = Math.round(median(ms.map((m) => m.rps)));
        line[`${kind}_cpu_us_per_req`] = Math.round(median(ms.map((m) => m.cpuUs)));
        if (kind !== 'bare') line[`${kind}_vs_bare`] = Number((median(ms.map((m) => m.rps)) / bareRps).toFixed(2));
        line[`${kind}_errors`] = ms.reduce((n, m) => n + m.errors, 0);
      }
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  } finally {
    for (const s of servers) {
      s.child.kill();
      rmSync(s.dir, { recursive: true, force: true });
    }
  }
}

if (process.argv[2] === '--serve') {
  await serve(process.argv[3] as ServerKind, process.argv[4]!);
} else {
  await main();
}
