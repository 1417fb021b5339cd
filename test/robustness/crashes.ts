import crypto, { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSegment } from '../../src/audit/journal.js';
import { cli } from '../helpers/cli.js';
import { cnKmsClient, type KmsCaller } from '../helpers/sdk-clients.js';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';
import { dataDir, envFor, figures, ledger, say } from './context.js';

// SIGKILL during CreateKey, RotateKey, ImportKeyMaterial and ScheduleKeyDeletion load (with
// Encrypt calls mixed in), then restart on the same data dir: no key is half-made (or
// reconciliation completes/removes it), every acknowledged Encrypt's ciphertext decrypts, every
// acknowledged request has its audit event, every acknowledged change is there.

const WORKERS = 8;
const b64 = (b: Buffer) => b.toString('base64');

interface Op {
  action: string;
  params: Record<string, unknown>;
  onAck?: (response: Record<string, unknown>) => void;
}

/** docs/ciphertext.md v1, AES-256-GCM (no context): AAD = bytes 0–23. Decrypted outside the service. */
function decryptBlobAes(blobB64: string, material: Buffer): Buffer {
  const blob = Buffer.from(blobB64, 'base64');
  const d = crypto.createDecipheriv('aes-256-gcm', material, blob.subarray(24, 36));
  d.setAAD(blob.subarray(0, 24));
  d.setAuthTag(blob.subarray(blob.length - 16));
  return Buffer.concat([d.update(blob.subarray(36, blob.length - 16)), d.final()]);
}

export function crashSuite(): void {
  describe('crashes: SIGKILL under load, restart, nothing lost', () => {
    let dir: string;
    let env: NodeJS.ProcessEnv;
    let server: ServerProcess;
    let root: { secretId: string; secretKey: string };
    let hk: KmsCaller;
    let baseKey: string;
    const acked = {
      requestIds: [] as string[],
      encrypts: [] as Array<{ blob: string; plaintext: string; keyId: string }>,
      creates: [] as Array<{ keyId: string; usage: string }>,
      rotates: [] as string[],
      imports: [] as Array<{ keyId: string; material: Buffer }>,
      schedules: [] as string[],
    };
    const stats = { kills: 0, acknowledged: 0, inFlightAtKill: 0, orphanObjectsDestroyed: 0, restarts: 0 };

    async function start(): Promise<void> {
      server = await spawnServer(env, path.join(dir, 'server.log'));
      hk = cnKmsClient({ endpoint: server.endpoint, secretId: root.secretId, secretKey: root.secretKey, region: 'ap-hongkong' });
    }

    beforeAll(async () => {
      dir = dataDir('crash');
      // lifecycle jobs on (their first run at start-up reconciles what a crash left)
      env = envFor(dir, { KMS_JOBS_INTERVAL_SECONDS: '60', KMS_LOG_LEVEL: 'warn' });
      expect(cli(['token', 'init'], env).status).toBe(0);
      server = await spawnServer(env, path.join(dir, 'server.log'));
      root = JSON.parse(readFileSync(path.join(dir, 'root-credentials.json'), 'utf8')) as { secretId: string; secretKey: string };
      ledger.addSecret('root SecretKey (crash)', root.secretKey);
      ledger.addSecret('user PIN (crash)', readFileSync(path.join(dir, 'user.pin'), 'utf8').trim());
      hk = cnKmsClient({ endpoint: server.endpoint, secretId: root.secretId, secretKey: root.secretKey, region: 'ap-hongkong' });
      baseKey = (await hk('CreateKey', { Alias: 'crash-base' })).KeyId as string;
    });

    afterAll(async () => {
      figures.crashes = {
        ...stats,
        ackedEncrypts: acked.encrypts.length,
        ackedCreates: acked.creates.length,
        ackedRotates: acked.rotates.length,
        ackedImports: acked.imports.length,
        ackedSchedules: acked.schedules.length,
        lost: 0,
      };
      say(`crashes: ${JSON.stringify(figures.crashes)}`);
      await server?.stop();
    });

    function encryptOp(): Op {
      const plaintext = b64(randomBytes(24));
      ledger.addBase64Secret(`crash plaintext ${acked.encrypts.length}-${plaintext.slice(0, 4)}`, plaintext);
      return {
        action: 'Encrypt',
        params: { KeyId: baseKey, Plaintext: plaintext },
        onAck: (r) => acked.encrypts.push({ blob: r.CiphertextBlob as string, plaintext, keyId: baseKey }),
      };
    }

    /** What the server logged as errors (message, error type, code, message): for a failure's report. */
    function serverErrors(): string {
      const lines = readFileSync(path.join(dir, 'server.log'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'));
      type Line = { level?: number; msg?: string; err?: { type?: string; code?: string; message?: string } };
      const parsed = (l: string): Line => {
        try {
          return JSON.parse(l) as Line;
        } catch {
          return {}; // the line being written
        }
      };
      const errors = lines.map(parsed).filter((l) => (l.level ?? 0) >= 50);
      return JSON.stringify(errors.slice(-5).map((l) => ({ msg: l.msg, type: l.err?.type, code: l.err?.code, message: l.err?.message })));
    }

    /** WORKERS callers run `next` (and Encrypts) until `killWhen` holds, then the server gets SIGKILL mid-load. */
    async function loadAndKill(name: string, next: () => Op | undefined, killWhen: () => boolean): Promise<void> {
      let killed = false;
      let killing = false;
      let failed = false;
      let inFlight = 0;
      let atKill = 0;
      const worker = async (w: number) => {
        for (let i = 0; !killed; i++) {
          const op = i % 3 === 2 ? encryptOp() : (next() ?? encryptOp());
          inFlight++;
          try {
            const r = await hk(op.action, op.params);
            // an answer received is acknowledged, even one that arrives as the kill lands
            acked.requestIds.push(r.RequestId as string);
            stats.acknowledged++;
            op.onAck?.(r);
          } catch (err) {
            if (killed) return;
            // No kill now: the server writes its log every 250 ms, and its errors are the report.
            failed = true;
            await new Promise((r) => setTimeout(r, 600));
            throw new Error(`${name} worker ${w}: ${op.action} failed before the kill: ${(err as Error).message}; the server logged: ${serverErrors()}`);
          } finally {
            inFlight--;
          }
          if (!killing && !failed && killWhen()) {
            killing = true;
            // a few milliseconds later, while the other workers keep calling
            await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20)));
            atKill = inFlight;
            killed = true;
            await server.kill('SIGKILL');
          }
        }
      };
      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
      stats.kills++;
      stats.inFlightAtKill += atKill;
      say(`${name}: SIGKILL with ${atKill} calls in flight`);
    }

    /** Offline checks on the files the dead process left, then reconciliation, then a restart. */
    async function afterCrash(): Promise<void> {
      const db = knexFactory({ client: 'sqlite3', connection: { filename: path.join(dir, 'hsmkms.sqlite') }, useNullAsDefault: true });
      try {
        // An acknowledged call's event is in SQL or still in the dead process's audit journal
        // (docs/reliability.md#audit-journal), which the restart below moves into SQL.
        const ids = new Set((await db('audit_events').select('request_id')).map((r) => r.request_id as string));
        const journal = path.join(dir, 'audit-journal');
        for (const f of existsSync(journal) ? readdirSync(journal) : []) for (const e of readSegment(path.join(journal, f))) ids.add(e.requestId);
        expect(
          acked.requestIds.filter((id) => !ids.has(id)),
          'acknowledged requests without an audit event',
        ).toEqual([]);
        // no half rotation: every key's current version has its row; every acknowledged rotation added one
        const keys = (await db('keys').select('key_id', 'current_version')) as Array<{ key_id: string; current_version: number }>;
        const versions = (await db('key_versions').select('key_id', 'version')) as Array<{ key_id: string; version: number }>;
        const have = new Set(versions.map((v) => `${v.key_id}/${v.version}`));
        expect(keys.filter((k) => !have.has(`${k.key_id}/${k.current_version}`)).map((k) => k.key_id)).toEqual([]);
        for (const keyId of acked.rotates) expect(keys.find((k) => k.key_id === keyId)?.current_version, `rotated ${keyId}`).toBeGreaterThanOrEqual(2);
      } finally {
        await db.destroy();
      }
      const jobs = cli(['jobs', 'run', '--json'], env);
      expect(jobs.status, jobs.stderr).toBe(0);
      const report = JSON.parse(jobs.stdout) as { reconciled: { orphanObjectsDestroyed: unknown[]; rowsWithoutObjects: unknown[] } };
      expect(report.reconciled.rowsWithoutObjects, 'keys whose token objects are missing').toEqual([]);
      stats.orphanObjectsDestroyed += report.reconciled.orphanObjectsDestroyed.length;
      await start();
      stats.restarts++;
      // By now (jobs run, then the restart, each opened the database) the journal's events are in SQL, each once.
      const after = knexFactory({ client: 'sqlite3', connection: { filename: path.join(dir, 'hsmkms.sqlite') }, useNullAsDefault: true });
      try {
        const stored = (await after('audit_events').select('request_id')).map((r) => r.request_id as string);
        const inSql = new Set(stored);
        expect(
          acked.requestIds.filter((id) => !inSql.has(id)),
          'acknowledged requests whose event did not reach SQL',
        ).toEqual([]);
        expect(inSql.size, 'audit events moved twice').toBe(stored.length);
      } finally {
        await after.destroy();
      }
    }

    /** Through the API after the restart: everything acknowledged is there and every key works. */
    async function checkAll(): Promise<void> {
      for (const e of acked.encrypts) expect((await hk('Decrypt', { CiphertextBlob: e.blob })).Plaintext).toBe(e.plaintext);
      const list = (await hk('ListKeyDetail', { Limit: 200, KeyUsage: 'ALL' })).KeyMetadatas as Array<Record<string, unknown>>;
      const byId = new Map(list.map((m) => [m.KeyId as string, m]));
      for (const c of acked.creates) expect(byId.has(c.keyId), `created key ${c.keyId}`).toBe(true);
      for (const m of list) {
        if (m.KeyState === 'Enabled' && m.KeyUsage === 'ENCRYPT_DECRYPT') {
          const plaintext = b64(randomBytes(16));
          const blob = (await hk('Encrypt', { KeyId: m.KeyId, Plaintext: plaintext })).CiphertextBlob as string;
          expect((await hk('Decrypt', { CiphertextBlob: blob })).Plaintext).toBe(plaintext);
        } else if (m.KeyState === 'Enabled') {
          expect(((await hk('GetPublicKey', { KeyId: m.KeyId })).PublicKey as string).length).toBeGreaterThan(0);
        } else if (m.KeyState === 'PendingDelete') {
          expect(m.DeletionDate as number).toBeGreaterThan(0);
        } else {
          expect(['Disabled', 'PendingImport']).toContain(m.KeyState);
        }
      }
      for (const { keyId, material } of acked.imports) {
        expect(byId.get(keyId)?.KeyState).toBe('Enabled');
        const plaintext = randomBytes(16);
        const blob = (await hk('Encrypt', { KeyId: keyId, Plaintext: b64(plaintext) })).CiphertextBlob as string;
        expect(decryptBlobAes(blob, material)).toEqual(plaintext);
      }
      for (const keyId of acked.schedules) expect(byId.get(keyId)?.KeyState).toBe('PendingDelete');
    }

    it('SIGKILL during CreateKey load', { timeout: 180_000 }, async () => {
      let n = 0;
      await loadAndKill(
        'CreateKey',
        () => {
          const usage = n % 5 === 4 ? 'ASYMMETRIC_SIGN_VERIFY_ECC' : 'ENCRYPT_DECRYPT';
          const alias = `crash-c${n++}`;
          return { action: 'CreateKey', params: { Alias: alias, KeyUsage: usage }, onAck: (r) => acked.creates.push({ keyId: r.KeyId as string, usage }) };
        },
        () => acked.creates.length >= 30,
      );
      await afterCrash();
      await checkAll();
    });

    it('SIGKILL during RotateKey load', { timeout: 180_000 }, async () => {
      // manual rotation is once per key per 24 h (RotateRateLimited): each key is rotated once
      const queue = acked.creates.filter((c) => c.usage === 'ENCRYPT_DECRYPT').map((c) => c.keyId);
      const before = queue.length;
      // ciphertexts under the keys before rotation must still decrypt after it
      for (const keyId of queue.slice(0, 8)) {
        const plaintext = b64(randomBytes(24));
        ledger.addBase64Secret(`crash pre-rotation ${keyId}`, plaintext);
        acked.encrypts.push({ blob: (await hk('Encrypt', { KeyId: keyId, Plaintext: plaintext })).CiphertextBlob as string, plaintext, keyId });
      }
      for (const keyId of queue) await hk('EnableKeyRotation', { KeyId: keyId, RotateDays: 365 });
      await loadAndKill(
        'RotateKey',
        () => {
          const keyId = queue.shift();
          return keyId ? { action: 'RotateKey', params: { KeyId: keyId }, onAck: () => acked.rotates.push(keyId) } : undefined;
        },
        () => acked.rotates.length >= Math.min(16, before - 4),
      );
      await afterCrash();
      await checkAll();
    });

    it('SIGKILL during ImportKeyMaterial load', { timeout: 240_000 }, async () => {
      // wrapping parameters made before the load (each is an RSA-2048 pair in the token)
      const prepared: Array<{ keyId: string; token: string; publicKey: string }> = [];
      for (let i = 0; i < 12; i++) {
        const keyId = (await hk('CreateKey', { Alias: `crash-ext${i}`, Type: 2 })).KeyId as string;
        const p = await hk('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
        prepared.push({ keyId, token: p.ImportToken as string, publicKey: p.PublicKey as string });
      }
      await loadAndKill(
        'ImportKeyMaterial',
        () => {
          const p = prepared.shift();
          if (!p) return undefined;
          const material = randomBytes(32);
          ledger.addSecret(`crash imported material ${p.keyId}`, material);
          const key = crypto.createPublicKey({ key: Buffer.from(p.publicKey, 'base64'), format: 'der', type: 'spki' });
          const wrapped = crypto.publicEncrypt({ key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
          return {
            action: 'ImportKeyMaterial',
            params: { KeyId: p.keyId, ImportToken: p.token, EncryptedKeyMaterial: b64(wrapped) },
            onAck: () => acked.imports.push({ keyId: p.keyId, material }),
          };
        },
        () => acked.imports.length >= 6,
      );
      await afterCrash();
      await checkAll();
    });

    it('SIGKILL during ScheduleKeyDeletion load', { timeout: 180_000 }, async () => {
      // keys nothing else relies on: not rotated, no ciphertext kept under them
      const queue = acked.creates.filter((c) => !acked.rotates.includes(c.keyId) && !acked.encrypts.some((e) => e.keyId === c.keyId)).map((c) => c.keyId);
      // docs/contract/keys.md#state-table: only a disabled key may be scheduled for deletion
      for (const keyId of queue) await hk('DisableKey', { KeyId: keyId });
      await loadAndKill(
        'ScheduleKeyDeletion',
        () => {
          const keyId = queue.shift();
          return keyId ? { action: 'ScheduleKeyDeletion', params: { KeyId: keyId, PendingWindowInDays: 7 }, onAck: () => acked.schedules.push(keyId) } : undefined;
        },
        () => acked.schedules.length >= 10,
      );
      await afterCrash();
      await checkAll();
    });
  });
}
