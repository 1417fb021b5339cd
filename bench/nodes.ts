// npm run bench:nodes — scale-out figures: the data plane through 1 node on SQLite,
// 1 node on PostgreSQL and 2 nodes on PostgreSQL (separate `hsmkms serve` processes sharing the
// database and one SoftHSM2 token), driven by autocannon (programmatic, every request TC3-signed
// as it is sent) as the root account, audit trail on. For 2 nodes, the connections are split
// between the nodes (as a load balancer would) and the rates added. One JSON line per case:
//   {"case","nodes","db","action","connections","rps","p50_ms","p99_ms","errors"}
// `errors` counts non-200 answers and error envelopes (they must be 0 for the figure to count).
//
// Actions: Encrypt (32 B, round-robin over 10 AES keys), GenerateDataKey (AES_256),
// CreateKey+ (CreateKey: a write of a key row, its counter and a token object per request).
// PostgreSQL: a throwaway cluster (bench/pg-cluster.ts: Debian's postgresql package) unless
// BENCH_PG_URL names a database to use. Environment: BENCH_SECONDS (5), BENCH_CONNECTIONS
// (16,64), BENCH_CASES (regexp over "<db>-<nodes>/<action>").
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { tc3Authorization } from './tc3.js';
import { freePort, startPostgres, type TestPostgres } from './pg-cluster.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BIN = path.join(REPO, 'bin', 'hsmkms.js');
const REGION = 'ap-hongkong';
const ROOT = { uin: '100000000001', secretId: 'AKIDbenchNODES00000000000000000000ab', secretKey: 'benchNODESsecret0000000000000000' };
const SECONDS = Number(process.env.BENCH_SECONDS || 5);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS || '16,64').split(',').map(Number);
const ONLY = process.env.BENCH_CASES ? new RegExp(process.env.BENCH_CASES) : undefined;

/** TC3-HMAC-SHA256 headers for one POST / (docs/contract/protocol.md#tc3), signing content-type and host. */
function signTc3(host: string, action: string, body: string): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  return {
    'content-type': 'application/json',
    authorization: tc3Authorization({ host, secretId: ROOT.secretId, secretKey: ROOT.secretKey, body, timestamp: ts }),
    'x-tc-action': action,
    'x-tc-version': '2019-01-18',
    'x-tc-region': REGION,
    'x-tc-timestamp': String(ts),
  };
}

async function call(port: number, action: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
  const body = JSON.stringify(params);
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: signTc3('127.0.0.1', action, body), body });
  const r = (await res.json()) as { Response: Record<string, unknown> & { Error?: { Code: string } } };
  if (r.Response.Error) throw new Error(`${action}: ${r.Response.Error.Code}`);
  return r.Response;
}

interface Deployment {
  name: string;
  ports: number[];
  keys: string[];
  stop(): Promise<void>;
}

async function deploy(name: string, databaseUrl: string | undefined, nodes: number): Promise<Deployment> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'hsmkms-bench-nodes-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KMS_DATA_DIR: dataDir,
    ...(databaseUrl ? { KMS_DATABASE_URL: databaseUrl } : {}),
    KMS_ROOT_UIN: ROOT.uin,
    KMS_ROOT_SECRET_ID: ROOT.secretId,
    KMS_ROOT_SECRET_KEY: ROOT.secretKey,
    KMS_LOG_LEVEL: 'warn',
  };
  for (const args of [
    ['token', 'init'],
    ['db', 'migrate'],
  ]) {
    const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`hsmkms ${args.join(' ')}: ${r.stderr}`);
  }
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  for (let i = 0; i < nodes; i++) {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'serve'], { env: { ...env, KMS_PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(child);
    for (let t = 0; ; t++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
      } catch {
        /* starting */
      }
      if (t > 600 || child.exitCode !== null) throw new Error(`node ${i} of ${name} did not start`);
      await new Promise((r) => setTimeout(r, 100));
    }
    ports.push(port);
  }
  const keys: string[] = [];
  for (let i = 0; i < 10; i++) keys.push(String((await call(ports[i % ports.length]!, 'CreateKey', { Alias: `bench-${i}` })).KeyId));
  return {
    name,
    ports,
    keys,
    stop: async () => {
      await Promise.all(children.map((c) => new Promise<void>((resolve) => (c.exitCode !== null ? resolve() : (c.once('exit', () => resolve()), c.kill('SIGTERM'))))));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const ACTIONS: Record<string, (keys: string[], i: number) => Record<string, unknown>> = {
  Encrypt: (keys, i) => ({ KeyId: keys[i % keys.length], Plaintext: randomBytes(32).toString('base64') }),
  GenerateDataKey: (keys, i) => ({ KeyId: keys[i % keys.length], KeySpec: 'AES_256' }),
  CreateKey: (_keys, i) => ({ Alias: `b${process.pid}-${Date.now()}-${i}-${randomBytes(3).toString('hex')}` }),
};

async function load(port: number, action: string, keys: string[], connections: number): Promise<autocannon.Result & { appErrors: number }> {
  let n = 0;
  let appErrors = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: SECONDS,
    requests: [
      {
        method: 'POST',
        path: '/',
        setupRequest: (req) => {
          const body = JSON.stringify(ACTIONS[action]!(keys, n++));
          return { ...req, body, headers: signTc3('127.0.0.1', action, body) };
        },
        onResponse: (status, body) => {
          if (status !== 200 || body.includes('"Error"')) appErrors++;
        },
      },
    ],
  });
  return Object.assign(result, { appErrors });
}

async function measure(d: Deployment, db: string, action: string, connections: number): Promise<void> {
  const name = `${db}-${d.ports.length}/${action}`;
  if (ONLY && !ONLY.test(name)) return;
  // Connections split over the nodes, as a load balancer spreads them.
  const share = d.ports.map((_, i) => Math.floor(connections / d.ports.length) + (i < connections % d.ports.length ? 1 : 0));
  const results = await Promise.all(d.ports.map((p, i) => load(p, action, d.keys, share[i]!)));
  const rps = results.reduce((s, r) => s + r.requests.average, 0);
  const errors = results.reduce((s, r) => s + r.appErrors + r.non2xx + r.errors + r.timeouts, 0);
  // Percentiles of the busiest node (autocannon does not merge histograms).
  const worst = results.reduce((a, b) => (b.latency.p99 > a.latency.p99 ? b : a));
  console.log(JSON.stringify({ case: name, nodes: d.ports.length, db, action, connections, rps: Math.round(rps), p50_ms: worst.latency.p50, p99_ms: worst.latency.p99, errors }));
}

async function main(): Promise<void> {
  let pg: TestPostgres | undefined;
  const pgUrl = async (tag: string) => {
    if (process.env.BENCH_PG_URL) return process.env.BENCH_PG_URL;
    pg ??= await startPostgres();
    return pg.createDatabase(`bench_${tag}`);
  };
  try {
    for (const [db, nodes] of [
      ['sqlite', 1],
      ['postgres', 1],
      ['postgres', 2],
    ] as const) {
      if (ONLY && !Object.keys(ACTIONS).some((a) => ONLY.test(`${db}-${nodes}/${a}`))) continue;
      const d = await deploy(`${db}-${nodes}`, db === 'postgres' ? await pgUrl(`${nodes}n`) : undefined, nodes);
      try {
        for (const action of Object.keys(ACTIONS)) for (const c of CONNECTIONS) await measure(d, db, action, c);
      } finally {
        await d.stop();
      }
    }
  } finally {
    pg?.stop();
  }
}

await main();
