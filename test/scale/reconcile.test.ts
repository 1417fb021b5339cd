import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServices, openServices, type Services } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { LifecycleJobs } from '../../src/domain/jobs.js';
import { createLogger } from '../../src/log.js';
import { provisionSoftHsm } from '../../src/pkcs11/softhsm.js';
import { REPO } from '../helpers/cli.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// Reconciliation with several nodes: a node's lifecycle job lists the shared token
// and destroys objects without metadata. A CreateKey on another node makes its token object
// before its row commits; the creation intent it records first keeps that object safe however
// long generation takes, while a crashed create (intent older than the creation timeout) is
// still cleaned up. Real SoftHSM2 token, real PostgreSQL.

let pg: TestPostgres;
let dataDir: string;
let s: Services;

beforeAll(async () => {
  pg = await startPostgres();
  dataDir = mkdtempSync(path.join(tmpdir(), 'hsmkms-reconcile-'));
  const config = loadConfig({ KMS_DATA_DIR: dataDir, KMS_PKCS11_PIN: 'test-pin-1234', KMS_DATABASE_URL: await pg.createDatabase('reconcile'), KMS_LOG_LEVEL: 'error' });
  const { conf } = provisionSoftHsm({ dataDir, conf: config.softhsmConf, label: config.tokenLabel, pin: config.pin, pinFile: config.pinFile });
  process.env.SOFTHSM2_CONF = conf;
  s = await openServices(config, createLogger('error', new Writable({ write: (_c, _e, cb) => cb() })));
}, 120_000);

afterAll(async () => {
  if (s) await closeServices(s);
  pg?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Another node's job: no grace period at all, so only the intent can protect the object. */
const otherNode = (creationTimeoutMs?: number) => new LifecycleJobs(s.keyRepo, s.keys, s.material, { orphanGraceMs: 0, creationTimeoutMs });
const inToken = async (keyId: string) => (await s.token.listObjects()).some((o) => o.name.keyId === keyId);

describe('reconciliation beside a create in progress on another node', () => {
  it('an object whose create recorded its intent survives; without the intent the same object is unknown to this database, reported and kept', async () => {
    const keyId = randomUUID();
    await s.keyRepo.recordIntent(keyId, 1);
    await s.material.generate(keyId, 1, 'AES_256', 'encrypt'); // the row is not committed yet
    const r = await otherNode().reconcile();
    expect(r.orphanObjectsDestroyed).not.toContain(`${keyId}/v1`);
    expect(await inToken(keyId)).toBe(true);

    await s.keyRepo.clearIntent(keyId, 1); // the same state without an intent: nothing says this database made it
    const again = await otherNode().reconcile();
    expect(again.orphanObjectsDestroyed).not.toContain(`${keyId}/v1`);
    expect(again.unknownObjects).toContain(`${keyId}/v1`);
    expect(await inToken(keyId)).toBe(true);
    await s.token.destroy({ keyId, version: 1 });
  });

  it('a crashed create (intent past the creation timeout) is cleaned up: object destroyed, intent removed', async () => {
    const keyId = randomUUID();
    await s.keyRepo.recordIntent(keyId, 1, Date.now() - 60_000);
    await s.material.generate(keyId, 1, 'EC_P256', 'sign');
    expect((await otherNode(30_000).reconcile()).orphanObjectsDestroyed).toContain(`${keyId}/v1`);
    expect(await inToken(keyId)).toBe(false);
    expect((await s.keyRepo.intents()).has(`${keyId}/1`)).toBe(false);
  });

  it('rows without objects: a key created after the listing is not reported; a destroyed object is', async () => {
    const caller = { accountUin: '100000000009', userUin: '100000000009', region: s.config.regions.find((r) => r.standard === 'FIPS')! };
    const listing = await s.token.listObjects();
    const fresh = await s.keys.create(caller, { alias: `after-listing-${randomUUID().slice(0, 8)}`, origin: 'TENCENT_KMS', keyUsage: 'ENCRYPT_DECRYPT' });
    const gone = await s.keys.create(caller, { alias: `gone-${randomUUID().slice(0, 8)}`, origin: 'TENCENT_KMS', keyUsage: 'ENCRYPT_DECRYPT' });
    await s.token.destroy({ keyId: gone.keyId, version: 1 });
    const r = await otherNode().reconcile({ objects: listing, dryRun: true });
    expect(r.rowsWithoutObjects).not.toContain(`${fresh.keyId}/v1`);
    expect(r.rowsWithoutObjects).toContain(`${gone.keyId}/v1`);
  });

  it('CreateKey racing another process reconciling in a loop: every created key keeps its material; no intent is left behind', async () => {
    // The other node: a separate process on the same token and database, reconciling back to
    // back with no grace period (SoftHSM2 is shared between processes like a network HSM).
    const script = `
      const { loadConfig } = await import(${JSON.stringify(pathToFileURL(path.join(REPO, 'dist/src/config.js')).href)});
      const { openServices, closeServices } = await import(${JSON.stringify(pathToFileURL(path.join(REPO, 'dist/src/app.js')).href)});
      const { LifecycleJobs } = await import(${JSON.stringify(pathToFileURL(path.join(REPO, 'dist/src/domain/jobs.js')).href)});
      const { createLogger } = await import(${JSON.stringify(pathToFileURL(path.join(REPO, 'dist/src/log.js')).href)});
      const s = await openServices(loadConfig(), createLogger('silent'), { bootstrap: false });
      const jobs = new LifecycleJobs(s.keyRepo, s.keys, s.material, { orphanGraceMs: 0 });
      const destroyed = [];
      let runs = 0;
      process.stdout.write('ready\\n');
      let stop = false;
      process.stdin.on('data', () => (stop = true));
      while (!stop) {
        destroyed.push(...(await jobs.reconcile()).orphanObjectsDestroyed);
        runs++;
        await new Promise((r) => setImmediate(r));
      }
      await closeServices(s);
      process.stdout.write(JSON.stringify({ runs, destroyed }) + '\\n');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        PATH: process.env.PATH,
        KMS_DATA_DIR: dataDir,
        KMS_PKCS11_PIN: 'test-pin-1234',
        KMS_DATABASE_URL: s.config.databaseUrl,
        SOFTHSM2_CONF: s.config.softhsmConf,
        KMS_LOG_LEVEL: 'silent',
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    while (!out.includes('ready')) {
      if (child.exitCode !== null) throw new Error('reconciler exited');
      await new Promise((r) => setTimeout(r, 50));
    }
    const caller = { accountUin: '100000000009', userUin: '100000000009', region: s.config.regions.find((r) => r.standard === 'FIPS')! };
    const created: Awaited<ReturnType<typeof s.keys.create>>[] = [];
    for (let i = 0; i < 12; i++)
      created.push(await s.keys.create(caller, { alias: `race-${i}`, origin: 'TENCENT_KMS', keyUsage: i % 2 ? 'ASYMMETRIC_SIGN_VERIFY_ECC' : 'ENCRYPT_DECRYPT' }));
    child.stdin!.end('stop\n');
    await new Promise((r) => child.once('exit', r));
    const report = JSON.parse(out.trim().split('\n').pop()!) as { runs: number; destroyed: string[] };
    expect(report.runs).toBeGreaterThan(3); // it really ran beside the creates
    expect(report.destroyed.filter((d) => created.some((k) => d.startsWith(k.keyId)))).toEqual([]);
    for (const k of created) expect(await inToken(k.keyId)).toBe(true);
    expect((await s.keyRepo.intents()).size).toBe(0);
  }, 90_000);
});
