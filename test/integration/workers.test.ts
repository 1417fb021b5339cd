import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDecipheriv } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, freePort, serve } from '../helpers/cli.js';
import { tc3Headers, v1Form } from '../helpers/tc-sign.js';
import { openDatabase } from '../../src/store/db.js';

// `serve --workers 2` (KMS_WORKERS): two worker processes behind one port, each with its own
// PKCS#11 sessions on the same SoftHSM2 token directory and its own SQLite connection. Which
// worker answered a call is read from the server's own log (pid + RequestId of each call).

const ROOT = { uin: '100000000001', secretId: 'AKIDtestROOT0000000000000000000000ab', secretKey: 'rootSECRETkey0000000000000000000' };
const REGION = 'ap-hongkong';

let dataDir: string;
let server: Awaited<ReturnType<typeof serve>>;
let port: number;
let workerPids: number[];

interface Answer {
  requestId: string;
  pid: number;
  response: Record<string, unknown> & { Error?: { Code: string; Message: string } };
}

/** One signed call on a fresh connection (the cluster hands new connections to workers in turn). */
function callOnce(action: string, params: Record<string, unknown>): Promise<Omit<Answer, 'pid'>> {
  const body = JSON.stringify(params);
  const headers = tc3Headers({ host: `127.0.0.1:${port}`, secretId: ROOT.secretId, secretKey: ROOT.secretKey, action, version: '2019-01-18', region: REGION, body });
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { ...headers, Connection: 'close' }, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        const json = JSON.parse(text) as { Response: Answer['response'] & { RequestId: string } };
        resolve({ requestId: json.Response.RequestId, response: json.Response });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function logLines(): Array<Record<string, unknown>> {
  return server
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The pid of the worker that logged the call (the log line follows the answer closely). */
async function servedBy(requestId: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const line = logLines().find((l) => l.requestId === requestId && l.msg === 'api call');
    if (line) return Number(line.pid);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no log line for request ${requestId}`);
}

async function call(action: string, params: Record<string, unknown>): Promise<Answer> {
  const a = await callOnce(action, params);
  return { ...a, pid: await servedBy(a.requestId) };
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'hsmkms-workers-'));
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KMS_DATA_DIR: dataDir,
    KMS_LOG_LEVEL: 'info',
    KMS_PKCS11_PIN: 'test-pin-1234',
    KMS_ROOT_UIN: ROOT.uin,
    KMS_ROOT_SECRET_ID: ROOT.secretId,
    KMS_ROOT_SECRET_KEY: ROOT.secretKey,
    KMS_WORKERS: '2',
    KMS_JOBS_INTERVAL_SECONDS: '1',
  };
  expect(cli(['token', 'init', '--json'], env).status).toBe(0);
  port = await freePort();
  server = await serve(env, port);
  for (let i = 0; i < 300 && !logLines().some((l) => l.msg === 'hsmkms workers listening'); i++) await new Promise((r) => setTimeout(r, 50));
  const ready = logLines().find((l) => l.msg === 'hsmkms workers listening');
  expect(ready, server.logs()).toBeDefined();
  workerPids = ready!.pids as number[];
}, 90_000);

afterAll(async () => {
  for (const l of logLines()) if (l.level !== undefined && Number(l.level) >= 50) console.error(JSON.stringify(l));
  const code = await server?.stop();
  expect(code).toBe(0);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('serve --workers 2', () => {
  it('starts two worker processes, and both answer API calls', async () => {
    expect(workerPids).toHaveLength(2);
    expect(new Set(workerPids).size).toBe(2);
    const seen = new Set<number>();
    for (let i = 0; i < 20 && seen.size < 2; i++) {
      const a = await call('GetServiceStatus', {});
      expect(a.response.Error).toBeUndefined();
      seen.add(a.pid);
    }
    expect([...seen].sort()).toEqual([...workerPids].sort());
  });

  it('creates keys concurrently through both workers (token objects from two processes at once), each usable through the other worker', async () => {
    const created = await Promise.all(Array.from({ length: 24 }, (_, i) => call('CreateKey', { Alias: `w-${i}` })));
    for (const c of created) expect(c.response.Error, JSON.stringify(c.response.Error)).toBeUndefined();
    expect(new Set(created.map((c) => c.pid)).size).toBe(2);
    for (const c of created.slice(0, 6)) {
      const keyId = c.response.KeyId as string;
      // Encrypt through the other worker than the one that created the key; decrypt anywhere.
      let enc: Answer | undefined;
      for (let i = 0; i < 20; i++) {
        const a = await call('Encrypt', { KeyId: keyId, Plaintext: Buffer.from(`secret ${keyId}`).toString('base64') });
        expect(a.response.Error, JSON.stringify(a.response.Error)).toBeUndefined();
        if (a.pid !== c.pid) {
          enc = a;
          break;
        }
      }
      expect(enc, 'no Encrypt reached the other worker').toBeDefined();
      const dec = await call('Decrypt', { CiphertextBlob: enc!.response.CiphertextBlob });
      expect(Buffer.from(dec.response.Plaintext as string, 'base64').toString()).toBe(`secret ${keyId}`);
    }
    // Every key has exactly one token object: nothing lost or duplicated by concurrent creation.
    const status = JSON.parse(
      cli(['token', 'status', '--json'], { PATH: process.env.PATH, HOME: process.env.HOME, KMS_DATA_DIR: dataDir, KMS_PKCS11_PIN: 'test-pin-1234', KMS_LOG_LEVEL: 'silent' })
        .stdout,
    );
    expect(status.reconciliation.rowsWithoutObjects).toEqual([]);
    expect(status.reconciliation.orphanObjectsDestroyed).toEqual([]);
  }, 120_000);

  it('GenerateDataKey through one worker decrypts through the other (independently checked with Node crypto)', async () => {
    const key = await call('CreateKey', { Alias: 'w-gdk' });
    const keyId = key.response.KeyId as string;
    const gdk = await call('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256' });
    let other: Answer | undefined;
    for (let i = 0; i < 20 && !other; i++) {
      const a = await call('Decrypt', { CiphertextBlob: gdk.response.CiphertextBlob });
      if (a.pid !== gdk.pid) other = a;
    }
    expect(other).toBeDefined();
    expect(other!.response.Plaintext).toBe(gdk.response.Plaintext);
    const dataKey = Buffer.from(gdk.response.Plaintext as string, 'base64');
    expect(dataKey).toHaveLength(32);
    // The data key works as an AES-256 key in an independent implementation.
    const d = createDecipheriv('aes-256-gcm', dataKey, Buffer.alloc(12));
    expect(() => d.update(Buffer.alloc(16))).not.toThrow();
  });

  it('a key disabled through one worker is refused through the other at the next call (caches on by default: the database epoch)', async () => {
    const key = await call('CreateKey', { Alias: 'w-disable' });
    const keyId = key.response.KeyId as string;
    // Warm both workers' caches with the Enabled key.
    for (let i = 0; i < 6; i++) await call('Encrypt', { KeyId: keyId, Plaintext: 'AAAA' });
    const disabled = await call('DisableKey', { KeyId: keyId });
    expect(disabled.response.Error).toBeUndefined();
    const pids = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const a = await call('Encrypt', { KeyId: keyId, Plaintext: 'AAAA' });
      expect(a.response.Error?.Code).toBe('ResourceUnavailable.CmkDisabled');
      pids.add(a.pid);
    }
    expect(pids.size).toBe(2);
  });

  it('a signature-v1 request is accepted once, whichever worker it reaches (the replay store is the database’s)', async () => {
    // Replayed on fresh connections, the cluster hands it to both workers in turn; each worker
    // kept its own nonce cache before, so it was accepted once per worker.
    const body = v1Form({
      host: `127.0.0.1:${port}`,
      secretId: ROOT.secretId,
      secretKey: ROOT.secretKey,
      params: { Action: 'GenerateRandom', Version: '2019-01-18', Region: REGION, NumberOfBytes: '8' },
    });
    const post = () =>
      new Promise<{ requestId: string; code: string | undefined }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Connection: 'close' }, agent: false },
          (res) => {
            let text = '';
            res.on('data', (d) => (text += d));
            res.on('end', () => {
              const r = (JSON.parse(text) as { Response: { RequestId: string; Error?: { Code: string } } }).Response;
              resolve({ requestId: r.RequestId, code: r.Error?.Code });
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await post());
    expect(answers.filter((a) => a.code === undefined)).toHaveLength(1);
    expect(answers.filter((a) => a.code === 'AuthFailure.SignatureFailure')).toHaveLength(7);
    const pids = new Set(await Promise.all(answers.map((a) => servedBy(a.requestId))));
    expect(pids.size).toBe(2);
  });

  it('the lifecycle-jobs lease is held by exactly one worker, the same one tick after tick', async () => {
    const db = openDatabase({ databaseUrl: undefined, sqliteFile: path.join(dataDir, 'hsmkms.sqlite') });
    try {
      const holders: string[] = [];
      for (let i = 0; i < 4; i++) {
        const rows = await db('leases').where('name', 'lifecycle-jobs').andWhere('expires_at_ms', '>=', Date.now()).select('holder');
        expect(rows).toHaveLength(1);
        holders.push(String(rows[0].holder));
        await new Promise((r) => setTimeout(r, 1_100)); // KMS_JOBS_INTERVAL_SECONDS=1: every worker ticks
      }
      expect(new Set(holders).size).toBe(1);
      const holderPid = Number(holders[0]!.split('/')[1]);
      expect(workerPids).toContain(holderPid);
    } finally {
      await db.destroy();
    }
  }, 30_000);
});
