import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/store/db.js';
import { cli, REPO } from '../helpers/cli.js';
import { freePort, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { b64, clearProxy, cnKmsClient, errorCode, intlKmsClient, unb64, type KmsCaller } from '../helpers/sdk-clients.js';

// Several API nodes — separate `hsmkms serve` processes on their own ports — sharing one
// PostgreSQL database (a real server, test/helpers/postgres.ts) and one SoftHSM2 token (one
// data dir). The official SDKs are the clients. Mutable state (keys, credentials) is read from
// the database per request, so what one node changes, every node sees at once; background jobs
// run on the lease holder only; the audit trail is one chain for the deployment.

const ROOT = { uin: '100000000001', secretId: 'AKIDscaleROOT000000000000000000000ab', secretKey: 'scaleSECRETkey000000000000000000' };
const HK = 'ap-hongkong';

interface Node {
  name: string;
  port: number;
  endpoint: string;
  child: ChildProcess;
  out: () => string;
  /** SDK callers: TC3 (CN SDK) and signature v1 (intl SDK). */
  tc3: KmsCaller;
  v1: KmsCaller;
}

let pgServer: TestPostgres;
let dataDir: string;
let env: NodeJS.ProcessEnv;
let db: Db;
const nodes: Node[] = [];

async function startNode(name: string, extra: NodeJS.ProcessEnv = {}): Promise<Node> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(REPO, 'bin', 'hsmkms.js'), 'serve'], {
    env: { ...env, ...extra, KMS_PORT: String(port), KMS_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`node ${name} exited ${child.exitCode}: ${out}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`node ${name} did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const endpoint = `127.0.0.1:${port}`;
  const creds = { endpoint, secretId: ROOT.secretId, secretKey: ROOT.secretKey, region: HK };
  const node: Node = { name, port, endpoint, child, out: () => out, tc3: cnKmsClient(creds), v1: intlKmsClient({ ...creds, signMethod: 'HmacSHA256' }) };
  nodes.push(node);
  return node;
}

function stopNode(n: Node, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (n.child.exitCode !== null || n.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    n.child.once('exit', () => resolve());
    n.child.kill(signal);
  });
}

/** Every `lifecycle jobs` report a node logged. */
function jobReports(n: Node): Array<{ deleted: string[]; reconciled: { orphanObjectsDestroyed: string[] }; errors: unknown[] }> {
  return n
    .out()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; jobs?: never })
    .filter((l) => l.msg === 'lifecycle jobs')
    .map((l) => l.jobs!);
}

const alias = () => `scale-${randomUUID().slice(0, 12)}`;

beforeAll(async () => {
  clearProxy();
  pgServer = await startPostgres();
  dataDir = mkdtempSync(path.join(tmpdir(), 'hsmkms-scale-'));
  const url = await pgServer.createDatabase('scale');
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KMS_DATA_DIR: dataDir,
    KMS_DATABASE_URL: url,
    KMS_ROOT_UIN: ROOT.uin,
    KMS_ROOT_SECRET_ID: ROOT.secretId,
    KMS_ROOT_SECRET_KEY: ROOT.secretKey,
    KMS_LOG_LEVEL: 'info',
    KMS_JOBS_INTERVAL_SECONDS: '1',
    KMS_AUDIT_CHECKPOINT_SECONDS: '2',
  };
  // As docs/deployment.md says: the token (its KEK and audit signing key) and the schema are set up once,
  // before the nodes start.
  for (const args of [
    ['token', 'init', '--json'],
    ['db', 'migrate', '--json'],
  ]) {
    const r = cli(args, env);
    if (r.status !== 0) throw new Error(`hsmkms ${args.join(' ')}: ${r.stderr}`);
  }
  db = openDatabase({ databaseUrl: url, sqliteFile: '/nonexistent' });
  // The three nodes start at once: bootstrap of the root account races and must settle.
  await Promise.all(['A', 'B', 'C'].map((n) => startNode(n)));
}, 180_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => stopNode(n)));
  await db?.destroy();
  pgServer?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('three nodes on one PostgreSQL database and one token', () => {
  it('a key created through A is usable through B and C at once, with both signature versions', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const created = await a.tc3('CreateKey', { Alias: alias() });
    const keyId = String(created.KeyId);
    const enc = await b.tc3('Encrypt', { KeyId: keyId, Plaintext: b64('across nodes') });
    const dec = await c.v1('Decrypt', { CiphertextBlob: enc.CiphertextBlob });
    expect(unb64(dec.Plaintext).toString()).toBe('across nodes');
    const dk = await c.tc3('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256' });
    expect(unb64((await a.v1('Decrypt', { CiphertextBlob: dk.CiphertextBlob })).Plaintext)).toEqual(unb64(dk.Plaintext));
    const listed = await b.tc3('ListKeyDetail', { SearchKeyAlias: String(created.Alias).toUpperCase() });
    expect((listed.KeyMetadatas as Array<{ KeyId: string }>).map((k) => k.KeyId)).toEqual([keyId]);
  });

  it('disable, enable, rotation and scheduled deletion through A take effect on B and C immediately', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const keyId = String((await a.tc3('CreateKey', { Alias: alias() })).KeyId);
    // Warm whatever B and C might cache for this key (identity, key, token handles).
    const before = await b.tc3('Encrypt', { KeyId: keyId, Plaintext: b64('v1') });
    await c.tc3('Decrypt', { CiphertextBlob: before.CiphertextBlob });

    await a.tc3('DisableKey', { KeyId: keyId });
    expect(await errorCode(b.tc3('Encrypt', { KeyId: keyId, Plaintext: b64('x') }))).toBe('ResourceUnavailable.CmkDisabled');
    expect(await errorCode(c.v1('Decrypt', { CiphertextBlob: before.CiphertextBlob }))).toBe('ResourceUnavailable.CmkDisabled');
    expect(((await c.tc3('DescribeKey', { KeyId: keyId })).KeyMetadata as { KeyState: string }).KeyState).toBe('Disabled');

    await b.tc3('EnableKey', { KeyId: keyId });
    expect(await errorCode(c.tc3('Encrypt', { KeyId: keyId, Plaintext: b64('x') }))).toBe('OK');

    await a.tc3('EnableKeyRotation', { KeyId: keyId });
    expect((await c.tc3('GetKeyRotationStatus', { KeyId: keyId })).KeyRotationEnabled).toBe(true);
    await a.tc3('RotateKey', { KeyId: keyId });
    expect((await b.tc3('DescribeKey', { KeyId: keyId })).KeyMetadata).toMatchObject({ KeyRotationEnabled: true });
    expect(await errorCode(c.tc3('RotateKey', { KeyId: keyId }))).toBe('RequestLimitExceeded.RotateRateLimited'); // once per 24 h, on every node
    const after = await b.tc3('Encrypt', { KeyId: keyId, Plaintext: b64('v2') });
    expect(after.CiphertextBlob).not.toBe(before.CiphertextBlob);
    for (const n of [a, b, c]) {
      expect(unb64((await n.tc3('Decrypt', { CiphertextBlob: after.CiphertextBlob })).Plaintext).toString()).toBe('v2');
      expect(unb64((await n.tc3('Decrypt', { CiphertextBlob: before.CiphertextBlob })).Plaintext).toString()).toBe('v1');
    }

    await a.tc3('DisableKey', { KeyId: keyId });
    await a.tc3('ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: 7 });
    // Encrypt's and Decrypt's lists have no code for a key pending deletion: their CmkDisabled (docs/contract/actions.md#common-answers).
    expect(await errorCode(b.tc3('Encrypt', { KeyId: keyId, Plaintext: b64('x') }))).toBe('ResourceUnavailable.CmkDisabled');
    expect(await errorCode(c.tc3('Decrypt', { CiphertextBlob: after.CiphertextBlob }))).toBe('ResourceUnavailable.CmkDisabled');
    await c.tc3('CancelKeyDeletion', { KeyId: keyId });
    expect(((await a.tc3('DescribeKey', { KeyId: keyId })).KeyMetadata as { KeyState: string }).KeyState).toBe('Disabled');
  });

  it('a credential disabled or deleted by the operator is refused by every node at once', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const made = cli(['credential', 'create', '--user', 'root', '--json'], env);
    expect(made.status).toBe(0);
    const cred = JSON.parse(made.stdout) as { secretId: string; secretKey: string };
    const callers = [a, b, c].map((n) => cnKmsClient({ endpoint: n.endpoint, secretId: cred.secretId, secretKey: cred.secretKey, region: HK }));
    for (const call of callers) expect(await errorCode(call('GenerateRandom', { NumberOfBytes: 16 }))).toBe('OK');
    expect(cli(['credential', 'disable', '--secret-id', cred.secretId, '--json'], env).status).toBe(0);
    for (const call of callers) expect(await errorCode(call('GenerateRandom', { NumberOfBytes: 16 }))).toMatch(/^AuthFailure/);
    expect(cli(['credential', 'enable', '--secret-id', cred.secretId, '--json'], env).status).toBe(0);
    for (const call of callers) expect(await errorCode(call('GenerateRandom', { NumberOfBytes: 16 }))).toBe('OK');
    expect(cli(['credential', 'delete', '--secret-id', cred.secretId, '--json'], env).status).toBe(0);
    for (const call of callers) expect(await errorCode(call('GenerateRandom', { NumberOfBytes: 16 }))).toMatch(/^AuthFailure/);
  });

  it('a sub-account’s policy detach and its disabling through the CLI are enforced by every node at once', async () => {
    const ok = (args: string[]) => {
      const r = cli([...args, '--json'], env);
      if (r.status !== 0) throw new Error(`hsmkms ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Record<string, string>;
    };
    ok(['user', 'create', '--name', 'app']);
    const cred = ok(['credential', 'create', '--user', 'app']);
    const callers = nodes.map((n) => cnKmsClient({ endpoint: n.endpoint, secretId: cred.secretId!, secretKey: cred.secretKey!, region: HK }));
    const denied = /^(AuthFailure|UnauthorizedOperation)/;
    for (const call of callers) expect(await errorCode(call('ListKeys', {}))).toMatch(denied); // no policy yet
    ok(['policy', 'attach', '--name', 'QcloudKMSReadOnlyAccess', '--user', 'app']);
    for (const call of callers) expect(await errorCode(call('ListKeys', {}))).toBe('OK');
    ok(['policy', 'detach', '--name', 'QcloudKMSReadOnlyAccess', '--user', 'app']);
    for (const call of callers) expect(await errorCode(call('ListKeys', {}))).toMatch(denied);
    ok(['policy', 'attach', '--name', 'QcloudKMSReadOnlyAccess', '--user', 'app']);
    for (const call of callers) expect(await errorCode(call('ListKeys', {}))).toBe('OK');
    ok(['user', 'disable', '--name', 'app']);
    for (const call of callers) expect(await errorCode(call('ListKeys', {}))).toMatch(denied);
  });

  it('audit: concurrent calls on every node — each acknowledged request recorded exactly once, one chain, audit verify OK', async () => {
    const keyId = String((await nodes[0]!.tc3('CreateKey', { Alias: alias() })).KeyId);
    const acked: string[] = [];
    await Promise.all(
      nodes.flatMap((n) =>
        Array.from({ length: 6 }, async (_, worker) => {
          for (let i = 0; i < 15; i++) {
            const call = (i + worker) % 2 ? n.tc3 : n.v1;
            const r = await call(i % 3 ? 'Encrypt' : 'GenerateRandom', i % 3 ? { KeyId: keyId, Plaintext: b64(`${n.name}-${worker}-${i}`) } : { NumberOfBytes: 32 });
            acked.push(String(r.RequestId));
          }
        }),
      ),
    );
    expect(acked).toHaveLength(3 * 6 * 15);
    const rows = await db('audit_events').whereIn('request_id', acked).select('request_id', 'result');
    expect(rows).toHaveLength(acked.length);
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(acked.length);
    expect(rows.every((r) => r.result === 'Success')).toBe(true);
    const dup = await db('audit_events').select('request_id').groupBy('request_id').havingRaw('count(*) > 1');
    expect(dup).toEqual([]);
    const verify = cli(['audit', 'verify', '--json'], env);
    expect(verify.status).toBe(0);
    const v = JSON.parse(verify.stdout);
    expect(v).toMatchObject({ ok: true });
    expect(v.events).toBe(Number((await db('audit_events').count({ n: '*' }))[0]!.n));
  }, 120_000);

  it('deletion drill: keys due for deletion are deleted exactly once, by the lease holder only, token objects included', async () => {
    const ids: string[] = [];
    for (const [i, n] of [...nodes, ...nodes].entries()) {
      const usage = i % 3 === 2 ? { KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_ECC' } : {};
      const keyId = String((await n.tc3('CreateKey', { Alias: alias(), ...usage })).KeyId);
      await n.tc3('DisableKey', { KeyId: keyId });
      await n.tc3('ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: 7 });
      ids.push(keyId);
    }
    const marks = nodes.map((n) => jobReports(n).length);
    // The drill's clock jump: the deletion dates are moved into the past.
    await db('keys')
      .whereIn('key_id', ids)
      .update({ deletion_date: Math.floor(Date.now() / 1000) - 1 });
    const deadline = Date.now() + 30_000;
    while ((await db('keys').whereIn('key_id', ids).count({ n: '*' }))[0]!.n !== 0) {
      if (Date.now() > deadline) throw new Error('keys not deleted within 30 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 2_500)); // let every node tick again: nothing more happens
    const deletions = nodes.flatMap((n, i) =>
      jobReports(n)
        .slice(marks[i])
        .flatMap((r) => r.deleted.filter((id) => ids.includes(id)).map((id) => ({ node: n.name, id }))),
    );
    expect(deletions.map((d) => d.id).sort()).toEqual([...ids].sort()); // each exactly once
    const holder = await db('leases').where('name', 'lifecycle-jobs').first('holder');
    expect(holder).toBeDefined();
    expect(new Set(deletions.map((d) => d.node)).size).toBe(1); // one runner
    for (const n of nodes) {
      expect(await errorCode(n.tc3('DescribeKey', { KeyId: ids[0] }))).toBe('ResourceUnavailable.CmkNotFound');
      for (const r of jobReports(n)) expect(r.errors).toEqual([]);
    }
    // The token holds no object of a deleted key (a dry-run reconciliation lists the objects).
    const objects = await listTokenKeyIds();
    for (const id of ids) expect(objects.has(id)).toBe(false);
  }, 90_000);

  it('keys created concurrently on every node while reconciliation runs every second: none loses its token object', async () => {
    const ids: string[] = [];
    await Promise.all(
      nodes.map(async (n) => {
        for (let i = 0; i < 8; i++) {
          const usage = i % 2 ? { KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_ECC' } : {};
          ids.push(String((await n.tc3('CreateKey', { Alias: alias(), ...usage })).KeyId));
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 2_500)); // a reconciliation ran meanwhile on the lease holder
    for (const [i, id] of ids.entries()) {
      const n = nodes[i % nodes.length]!;
      const meta = (await n.tc3('DescribeKey', { KeyId: id })).KeyMetadata as { KeyUsage: string };
      if (meta.KeyUsage === 'ENCRYPT_DECRYPT') expect(await errorCode(n.tc3('Encrypt', { KeyId: id, Plaintext: b64('x') }))).toBe('OK');
      else expect(await errorCode(n.tc3('GetPublicKey', { KeyId: id }))).toBe('OK');
    }
    const objects = await listTokenKeyIds();
    for (const id of ids) expect(objects.has(id)).toBe(true);
    const destroyed = nodes.flatMap((n) => jobReports(n).flatMap((r) => r.reconciled.orphanObjectsDestroyed));
    expect(destroyed.filter((o) => ids.some((id) => o.startsWith(id)))).toEqual([]);
  }, 120_000);

  it('SIGKILL of a node under load: everything it acknowledged is recorded and in effect; the others keep serving; its lease passes on', async () => {
    // The victim is the node holding the lifecycle-jobs lease (holder = host/pid/random).
    const lease = await db('leases').where('name', 'lifecycle-jobs').first('holder');
    const victim = nodes.find((n) => String(lease?.holder).split('/')[1] === String(n.child.pid))!;
    expect(victim).toBeDefined();
    const [a, b] = nodes.filter((n) => n !== victim) as [Node, Node];
    const survivorsErrors: unknown[] = [];
    const ackedByVictim: Array<{ action: string; requestId: string; keyId?: string; blob?: string; plaintext?: string }> = [];
    const keyId = String((await a.tc3('CreateKey', { Alias: alias() })).KeyId);
    let stop = false;
    let killed = false;
    const load = (n: Node, isVictim: boolean) =>
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          try {
            if (i % 4 === 0) {
              const r = await n.tc3('CreateKey', { Alias: alias() });
              if (isVictim) ackedByVictim.push({ action: 'CreateKey', requestId: String(r.RequestId), keyId: String(r.KeyId) });
            } else {
              const plaintext = `${n.name}-${w}-${i}`;
              const r = await n.tc3('Encrypt', { KeyId: keyId, Plaintext: b64(plaintext) });
              if (isVictim) ackedByVictim.push({ action: 'Encrypt', requestId: String(r.RequestId), blob: String(r.CiphertextBlob), plaintext });
            }
          } catch (err) {
            if (!isVictim) survivorsErrors.push(err);
            else if (!killed)
              throw err; // a failure before the kill is a bug
            else return;
          }
        }
      });
    const running = [...load(a, false), ...load(b, false), ...load(victim, true)];
    await new Promise((r) => setTimeout(r, 2_000));
    killed = true;
    victim.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 2_000)); // the others go on serving after the kill
    stop = true;
    await Promise.all(running);
    expect(survivorsErrors).toEqual([]);
    expect(ackedByVictim.length).toBeGreaterThan(5);
    // Every acknowledged call of the victim: its audit event, and its effect visible on A.
    const rows = await db('audit_events')
      .whereIn(
        'request_id',
        ackedByVictim.map((x) => x.requestId),
      )
      .select('request_id');
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(ackedByVictim.length);
    for (const x of ackedByVictim) {
      if (x.action === 'CreateKey') expect(await errorCode(a.tc3('Encrypt', { KeyId: x.keyId, Plaintext: b64('after') }))).toBe('OK');
      else expect(unb64((await a.tc3('Decrypt', { CiphertextBlob: x.blob })).Plaintext).toString()).toBe(x.plaintext);
    }
    // The dead holder's lease lapses (TTL: 30 s at a 1 s interval) and a survivor takes it over.
    const deadline = Date.now() + 45_000;
    for (;;) {
      const now = await db('leases').where('name', 'lifecycle-jobs').first('holder', 'expires_at_ms');
      const pid = String(now?.holder).split('/')[1];
      if (pid === String(a.child.pid) || pid === String(b.child.pid)) break;
      if (Date.now() > deadline) throw new Error(`lease not taken over: ${JSON.stringify(now)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const verify = cli(['audit', 'verify', '--json'], env);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  }, 150_000);
});

/** Key ids with objects in the token, listed by OpenSC's pkcs11-tool (not our PKCS#11 code). */
async function listTokenKeyIds(): Promise<Set<string>> {
  const pin = readFileSync(path.join(dataDir, 'user.pin'), 'utf8').trim();
  const r = spawnSync('pkcs11-tool', ['--module', '/usr/lib/softhsm/libsofthsm2.so', '--token-label', 'hsmkms', '--login', '--pin', pin, '--list-objects'], {
    env: { ...process.env, SOFTHSM2_CONF: path.join(dataDir, 'softhsm2.conf') },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`pkcs11-tool --list-objects failed (${r.status})`);
  return new Set([...r.stdout.matchAll(/label:\s+hsmkms\/([0-9a-f-]{36})\/v\d+/g)].map((m) => m[1]!));
}
