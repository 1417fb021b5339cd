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
//   fsync   append, then fdatasync(2) per call (durable against power loss too; no grouping);
//   token   bare, and one AES-256-GCM encryption of a 32-byte plaintext in SoftHSM2 (C_EncryptInit
//           and C_Encrypt through pkcs11js on a held session and key handle, a fresh IV each):
//           the token call of an Encrypt and nothing else;
//   signed  token, and first the TC3 signature checked (the signing key cached, as the service
//           caches it);
//   kms     the least an Encrypt must do: signed, and the event appended as in `append`.
// The generator sends one fixed request, TC3-signed once (the lean generator of bench/api.ts).
// One JSON line per connection count: each server's rps, p50 and p99 latency (ms, as the generator
// saw them), CPU per request (µs, from /proc), and its rps and p99 over the bare server's
// (`<server>_vs_bare`, `<server>_p99_vs_bare`), medians of BENCH_ROUNDS (3) rounds of
// BENCH_SECONDS (3). BENCH_CONNECTIONS (1,8,64), BENCH_SERVERS (bare,sqlite,append,fsync,token,signed,kms);
// BENCH_CPU_PROF=<dir> runs the servers under `node --cpu-prof`; FLOOR_WORKERS=N runs each server as N
// processes sharing its port (node:cluster, as `hsmkms serve --workers N`).
//
// Internal mode: `--serve <server> <dir>` runs one server and prints its port.
import { spawn, type ChildProcess } from 'node:child_process';
import cluster from 'node:cluster';
import { createHash, createHmac, randomFillSync, randomUUID, timingSafeEqual } from 'node:crypto';
import { fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pkcs11js from 'pkcs11js';
import sqlite3 from 'sqlite3';
import { provisionSoftHsm } from '../src/pkcs11/softhsm.js';
import { median, percentile } from './stats.js';
import { tc3Authorization } from './tc3.js';

type ServerKind = 'bare' | 'sqlite' | 'append' | 'fsync' | 'token' | 'signed' | 'kms';
const KINDS: ServerKind[] = ['bare', 'sqlite', 'append', 'fsync', 'token', 'signed', 'kms'];
const MODULE = process.env.KMS_PKCS11_MODULE || '/usr/lib/softhsm/libsofthsm2.so';
// The credentials the `signed` and `kms` servers accept (bench/api.ts's BENCH_FLOOR passes its own).
const SECRET_ID = process.env.FLOOR_SECRET_ID || 'AKIDfloor';
const SECRET_KEY = process.env.FLOOR_SECRET_KEY || 'floor-secret-key';
const FLOOR_PIN = 'floor-pin';
const BODY = '{"KeyId":"a","Plaintext":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}';

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

/** The next event, linked to `prev`, appended to the file as one line with one write(2); returns its hash. */
function appendEvent(fd: number, prev: string): string {
  const ev = nextEvent(prev);
  writeSync(fd, `{"id":"${ev.id}","t":${ev.time},"uin":"100000000001","action":"Encrypt","hash":"${ev.hash}","detail":"${ev.detail}"}\n`);
  return ev.hash;
}

async function serve(kind: ServerKind, dir: string): Promise<void> {
  let head = '';
  let handle: (headers: Record<string, string | string[] | undefined>, body: Buffer) => Promise<string | undefined> = async () => undefined;
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
      return undefined;
    };
  } else if (kind === 'append' || kind === 'fsync') {
    const fd = openSync(path.join(dir, `floor.${process.pid}.log`), 'a');
    handle = async () => {
      head = appendEvent(fd, head);
      if (kind === 'fsync') fdatasyncSync(fd);
      return undefined;
    };
  } else if (kind === 'token' || kind === 'signed' || kind === 'kms') {
    const encrypt = openToken(dir);
    const verify = tc3Verifier();
    const fd = openSync(path.join(dir, `floor.${process.pid}.log`), 'a');
    handle = async (headers, body) => {
      if (kind !== 'token' && !verify(headers, body)) throw new Error('signature');
      const params = JSON.parse(body.toString('utf8')) as { Plaintext: string };
      const blob = encrypt(Buffer.from(params.Plaintext, 'base64')).toString('base64');
      if (kind === 'kms') head = appendEvent(fd, head);
      return blob;
    };
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (kind === 'bare' || kind === 'sqlite' || kind === 'append' || kind === 'fsync') JSON.parse(body.toString('utf8'));
      handle(req.headers, body).then(
        (blob) => {
          res.setHeader('content-type', 'application/json');
          res.end(`{"Response":{"RequestId":"r","KeyId":"a","CiphertextBlob":"${blob ?? 'c'}"}}`);
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

/**
 * A SoftHSM2 token in `dir` with one AES-256 key (a session object, as the token adapter's
 * session copy of a CMK), and a function encrypting with it: AES-GCM, a fresh 96-bit IV, 128-bit tag.
 */
function openToken(dir: string): (plaintext: Buffer) => Buffer {
  const pin = FLOOR_PIN;
  const { conf } = provisionSoftHsm({ dataDir: dir, conf: path.join(dir, 'softhsm2.conf'), label: 'floor', pin, pinFile: path.join(dir, 'user.pin') });
  process.env.SOFTHSM2_CONF = conf;
  const p11 = new pkcs11js.PKCS11();
  p11.load(MODULE);
  p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === 'floor')!;
  const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  p11.C_Login(session, pkcs11js.CKU_USER, pin);
  const key = p11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
  ]);
  return (plaintext) => {
    const iv = randomFillSync(Buffer.alloc(12));
    p11.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, ivBits: 96, tagBits: 128 } as pkcs11js.IParams }, key);
    const out = p11.C_Encrypt(session, plaintext, Buffer.alloc(plaintext.length + 16));
    return Buffer.concat([iv, out]);
  };
}

/**
 * TC3-HMAC-SHA256 as the service checks a request (docs/contract/protocol.md#tc3), with the
 * day's signing key cached: the body's hash, the canonical request's hash, one HMAC, a
 * constant-time comparison, and the timestamp's window.
 */
function tc3Verifier(): (headers: Record<string, string | string[] | undefined>, body: Buffer) => boolean {
  const keys = new Map<string, Buffer>();
  const sha256hex = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
  return (headers, body) => {
    const auth = String(headers.authorization ?? '');
    const m = /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d{2}-\d{2})\/([^/]+)\/tc3_request, SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m || m[1] !== SECRET_ID) return false;
    const [, , date, service, signedHeaders, signature] = m as unknown as string[];
    const timestamp = Number(headers['x-tc-timestamp']);
    if (!(Math.abs(Date.now() / 1000 - timestamp) <= 300)) return false;
    const canonicalHeaders = signedHeaders!
      .split(';')
      .map(
        (h) =>
          `${h}:${String(headers[h] ?? '')
            .trim()
            .toLowerCase()}\n`,
      )
      .join('');
    const canonical = ['POST', '/', '', canonicalHeaders, signedHeaders, sha256hex(body)].join('\n');
    const toSign = ['TC3-HMAC-SHA256', String(timestamp), `${date}/${service}/tc3_request`, sha256hex(canonical)].join('\n');
    let key = keys.get(`${date}/${service}`);
    if (!key) {
      const hmac = (k: Buffer | string, msg: string) => createHmac('sha256', k).update(msg).digest();
      key = hmac(hmac(hmac(`TC3${SECRET_KEY}`, date!), service!), 'tc3_request');
      keys.set(`${date}/${service}`, key);
    }
    return timingSafeEqual(createHmac('sha256', key).update(toSign).digest(), Buffer.from(signature!, 'hex'));
  };
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
  const prof = process.env.BENCH_CPU_PROF;
  const args = [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), fileURLToPath(import.meta.url), '--serve', kind, dir];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code})`)));
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  return { kind, child, port, dir };
}

interface Measured {
  rps: number;
  cpuUs: number;
  p50: number;
  p99: number;
  errors: number;
}

async function drive(s: Running, connections: number, seconds: number): Promise<Measured> {
  const host = `127.0.0.1:${s.port}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    'content-type': 'application/json',
    'x-tc-action': 'Encrypt',
    'x-tc-version': '2019-01-18',
    'x-tc-timestamp': String(timestamp),
    authorization: tc3Authorization({ host, secretId: SECRET_ID, secretKey: SECRET_KEY, body: BODY, timestamp }),
  };
  const opts = { url: `http://${host}`, connections, method: 'POST' as const, headers, body: BODY };
  await autocannon({ ...opts, duration: 1 });
  const c0 = cpuMs(s.child.pid!);
  const latencies: number[] = [];
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    const run = autocannon({ ...opts, duration: seconds }, (err, result) => (err ? reject(err) : resolve(result)));
    run.on('response', (_client, status, _bytes, ms) => {
      if (status === 200) latencies.push(ms);
    });
  });
  return {
    rps: r.requests.average,
    cpuUs: ((cpuMs(s.child.pid!) - c0) * 1000) / Math.max(1, r.requests.total),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors: r.errors + r.non2xx,
  };
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
      const seen = new Map<ServerKind, Measured[]>();
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
        line[`${kind}_p50_ms`] = median(ms.map((m) => m.p50));
        line[`${kind}_p99_ms`] = median(ms.map((m) => m.p99));
        if (kind !== 'bare') {
          line[`${kind}_vs_bare`] = Number((median(ms.map((m) => m.rps)) / bareRps).toFixed(2));
          line[`${kind}_p99_vs_bare`] = Number((median(ms.map((m) => m.p99)) / median(seen.get('bare')!.map((m) => m.p99))).toFixed(2));
        }
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

/**
 * FLOOR_WORKERS=N (bench/api.ts passes its BENCH_WORKERS): N processes sharing the port through
 * node:cluster, as `hsmkms serve --workers N` does; the port is printed once all listen. For the
 * token, signed and kms servers (each worker appends to a file of its own).
 */
async function serveWorkers(kind: ServerKind, dir: string, workers: number): Promise<void> {
  if (kind === 'token' || kind === 'signed' || kind === 'kms') {
    // The token first, so that the workers find it rather than race to create it.
    provisionSoftHsm({ dataDir: dir, conf: path.join(dir, 'softhsm2.conf'), label: 'floor', pin: FLOOR_PIN, pinFile: path.join(dir, 'user.pin') });
  }
  cluster.setupPrimary({ silent: true });
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    if (++listening === workers) process.stdout.write(`${address.port}\n`);
  });
  const forked = Array.from({ length: workers }, () => cluster.fork());
  process.removeAllListeners('SIGTERM');
  process.on('SIGTERM', () => {
    let left = forked.length;
    for (const w of forked) {
      w.once('exit', () => {
        if (--left === 0) process.exit(0);
      });
      w.process.kill('SIGTERM');
    }
  });
}

if (process.argv[2] === '--serve') {
  // A normal exit, so that --cpu-prof writes its profile.
  process.on('SIGTERM', () => process.exit(0));
  const kind = process.argv[3] as ServerKind;
  const workers = Number(process.env.FLOOR_WORKERS || 1);
  if (workers > 1 && cluster.isPrimary) await serveWorkers(kind, process.argv[4]!, workers);
  else await serve(kind, process.argv[4]!);
} else {
  await main();
}
