import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startTestServer, type TestServer } from '../helpers/api-server.js';
import { judgeEnvelope } from '../helpers/contract-codes.js';
import { rawSession } from '../helpers/raw-pkcs11.js';
import { cnKmsClient, errorCode, type KmsCaller } from '../helpers/sdk-clients.js';
import { tc3Headers } from '../helpers/tc-sign.js';
import { dataDir, figures, ledger, say } from './context.js';

// Token and database faults against the real server in this process (SoftHSM2 + SQLite):
// module errors, sessions closed under the pool, the token directory gone and back, the
// database locked by another writer. Every answer must be a contract envelope; nothing crashes.

const PIN = 'robustness-pin-7f3a9c2e51';
const b64 = (b: Buffer) => b.toString('base64');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function faultSuites(): void {
  describe('faults', faults);
}

function faults(): void {
  let server: TestServer;
  let hk: KmsCaller;
  let aes: string;
  let rsaSign: string;
  let rsaDec: string;
  const blobs: Array<{ blob: string; plaintext: string }> = [];
  const counts = { tokenFaults: 0, dbFaults: 0, answersDuringFaults: 0 };

  /** A signed call through raw HTTP, judged as an envelope (the SDK would hide a non-200). */
  async function rawCall(action: string, params: Record<string, unknown>): Promise<{ code: string | undefined; ok: boolean; problem?: string; body: Record<string, unknown> }> {
    const body = JSON.stringify(params);
    const res = await fetch(server.url, {
      method: 'POST',
      headers: tc3Headers({ host: server.endpoint, secretId: ROOT.secretId, secretKey: ROOT.secretKey, action, version: '2019-01-18', region: 'ap-hongkong', body }),
      body,
    });
    const text = await res.text();
    const verdict = judgeEnvelope(res.status, text, { allowInternal: false });
    return { ...verdict, body: verdict.problem ? {} : (JSON.parse(text) as { Response: Record<string, unknown> }).Response };
  }

  async function encryptOne(): Promise<void> {
    const plaintext = b64(randomBytes(24));
    ledger.addBase64Secret(`faults plaintext ${blobs.length}`, plaintext);
    blobs.push({ blob: (await hk('Encrypt', { KeyId: aes, Plaintext: plaintext })).CiphertextBlob as string, plaintext });
  }

  async function allDecrypt(): Promise<void> {
    for (const b of blobs) expect((await hk('Decrypt', { CiphertextBlob: b.blob })).Plaintext).toBe(b.plaintext);
  }

  beforeAll(async () => {
    server = await startTestServer({ KMS_PKCS11_PIN: PIN, KMS_JOBS_INTERVAL_SECONDS: '0' });
    ledger.addText('in-process server log', () => server.logText());
    ledger.addSecret('user PIN (faults)', PIN);
    ledger.addSecret('root SecretKey (in-process)', ROOT.secretKey);
    hk = cnKmsClient({ endpoint: server.endpoint, secretId: ROOT.secretId, secretKey: ROOT.secretKey, region: 'ap-hongkong' });
    aes = (await hk('CreateKey', { Alias: 'faults-aes' })).KeyId as string;
    rsaSign = (await hk('CreateKey', { Alias: 'faults-rsa-sign', KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_RSA_2048' })).KeyId as string;
    rsaDec = (await hk('CreateKey', { Alias: 'faults-rsa-dec', KeyUsage: 'ASYMMETRIC_DECRYPT_RSA_2048' })).KeyId as string;
    for (let i = 0; i < 3; i++) await encryptOne();
  });

  afterAll(async () => {
    figures.faults = counts;
    say(`faults: ${JSON.stringify(counts)}`);
    if (!server) return;
    // Closed (not stopped, which removes the data dir), so the secret scan can read the database.
    await server.close();
    const keep = dataDir('faults-db');
    for (const name of ['hsmkms.sqlite', 'hsmkms.sqlite-wal', 'hsmkms.sqlite-shm']) {
      const file = path.join(server.config.dataDir, name);
      if (existsSync(file)) copyFileSync(file, path.join(keep, name));
    }
    rmSync(server.config.dataDir, { recursive: true, force: true });
  });

  describe('token faults', () => {
    it('module errors (bad GCM tags, short RSA ciphertexts) amid good calls: clean codes, good calls unaffected', async () => {
      const flipped = (() => {
        const raw = Buffer.from(blobs[0]!.blob, 'base64');
        raw[raw.length - 20]! ^= 1;
        return b64(raw);
      })();
      const calls: Array<Promise<string>> = [];
      for (let i = 0; i < 40; i++) {
        calls.push(rawCall('Decrypt', { CiphertextBlob: flipped }).then((r) => `bad-decrypt:${r.ok ? r.code : r.problem}`));
        calls.push(
          rawCall('AsymmetricRsaDecrypt', { KeyId: rsaDec, Ciphertext: b64(randomBytes(1 + (i % 300))), Algorithm: 'RSAES_OAEP_SHA_256' }).then(
            (r) => `bad-rsa:${r.ok ? r.code : r.problem}`,
          ),
        );
        calls.push(rawCall('Decrypt', { CiphertextBlob: blobs[i % blobs.length]!.blob }).then((r) => `good:${r.ok ? (r.code ?? 'ok') : r.problem}`));
      }
      const results = await Promise.all(calls);
      counts.tokenFaults += 80;
      counts.answersDuringFaults += results.length;
      expect(
        [...new Set(results.filter((r) => r.startsWith('bad-decrypt')))].every((r) =>
          /^bad-decrypt:(FailedOperation\.DecryptError|InvalidParameterValue\.InvalidCiphertext)$/.test(r),
        ),
      ).toBe(true);
      expect([...new Set(results.filter((r) => r.startsWith('bad-rsa')))].every((r) => /^bad-rsa:(FailedOperation\.DecryptError|InvalidParameter(Value)?(\.\w+)?)$/.test(r))).toBe(
        true,
      );
      expect(new Set(results.filter((r) => r.startsWith('good')))).toEqual(new Set(['good:ok']));
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    });

    it('sessions closed under the pool: the next calls reopen them and succeed', async () => {
      const raw = rawSession(server.config.tokenLabel, server.tokenEnv);
      try {
        for (let round = 0; round < 3; round++) {
          raw.p11.C_CloseAllSessions(raw.slot);
          counts.tokenFaults++;
          const [enc, sig] = await Promise.all([
            rawCall('Encrypt', { KeyId: aes, Plaintext: b64(Buffer.from(`round ${round}`)) }),
            rawCall('SignByAsymmetricKey', { KeyId: rsaSign, Algorithm: 'RSA_PSS_SHA_256', Message: b64(Buffer.from('m')), MessageType: 'RAW' }),
          ]);
          expect([enc.code, sig.code, enc.problem, sig.problem]).toEqual([undefined, undefined, undefined, undefined]);
        }
      } finally {
        raw.close();
      }
      await allDecrypt();
    });

    it('token gone under load: clean ServiceUnavailable, /readyz 503; back within 5 s of its return, every ciphertext decrypts', async () => {
      const tokenDir = path.join(server.config.dataDir, 'tokens');
      const recoveries: number[] = [];
      for (let outage = 0; outage < 3; outage++) {
        // load: callers encrypting and signing throughout the outage
        let stop = false;
        const seen = new Map<string, number>();
        const loader = async () => {
          while (!stop) {
            const r = await rawCall(
              outage % 2 ? 'SignByAsymmetricKey' : 'Encrypt',
              outage % 2
                ? { KeyId: rsaSign, Algorithm: 'RSA_PSS_SHA_256', Message: b64(Buffer.from('m')), MessageType: 'RAW' }
                : { KeyId: aes, Plaintext: b64(Buffer.from('load')) },
            );
            const key = r.ok ? (r.code ?? 'ok') : `BAD ${r.problem}`;
            seen.set(key, (seen.get(key) ?? 0) + 1);
          }
        };
        const loaders = Array.from({ length: 4 }, loader);
        await sleep(200);
        renameSync(tokenDir, `${tokenDir}.away`);
        counts.tokenFaults++;
        let ready: Response;
        try {
          await sleep(1_500);
          ready = await fetch(`${server.url}/readyz`);
          expect(ready.status).toBe(503);
          expect(await ready.json()).toMatchObject({ token: false, database: true });
          expect(await errorCode(hk('Encrypt', { KeyId: aes, Plaintext: b64(Buffer.from('x')) }))).toBe('ServiceUnavailable');
        } finally {
          renameSync(`${tokenDir}.away`, tokenDir);
        }
        const back = Date.now();
        let recovered = -1;
        while (Date.now() - back < 10_000) {
          const r = await rawCall('Encrypt', { KeyId: aes, Plaintext: b64(Buffer.from('probe')) });
          if (r.ok && r.code === undefined && (await fetch(`${server.url}/readyz`)).status === 200) {
            recovered = Date.now() - back;
            break;
          }
          await sleep(50);
        }
        stop = true;
        await Promise.all(loaders);
        counts.answersDuringFaults += [...seen.values()].reduce((a, b) => a + b, 0);
        say(`token outage ${outage}: answers ${JSON.stringify(Object.fromEntries(seen))}, service back ${recovered} ms after the token returned`);
        expect([...seen.keys()].filter((k) => k.startsWith('BAD'))).toEqual([]);
        expect([...seen.keys()].every((k) => k === 'ok' || k === 'ServiceUnavailable')).toBe(true);
        expect(recovered).toBeGreaterThanOrEqual(0);
        expect(recovered).toBeLessThanOrEqual(5_000);
        recoveries.push(recovered);
        await encryptOne();
      }
      await allDecrypt();
      figures.tokenRecoveryMs = recoveries;
      expect(server.logText()).not.toContain(PIN);
    });
  });

  describe('database faults', () => {
    /** Another writer holding the SQLite write lock, as a second process or a backup tool would. */
    function lockDatabase(): Promise<{ release: () => Promise<void> }> {
      return new Promise((resolve, reject) => {
        const db = new sqlite3.Database(server.config.sqliteFile, (err) => {
          if (err) return reject(err);
          db.exec('PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE; UPDATE service_meta SET value = value WHERE 0;', (e) => {
            if (e) return reject(e);
            resolve({
              release: () => new Promise<void>((done, fail) => db.exec('COMMIT', (c) => (c ? fail(c) : db.close((x) => (x ? fail(x) : done()))))),
            });
          });
        });
      });
    }

    async function keyRows(): Promise<number> {
      return server.services.keys.count({ accountUin: ROOT.uin, region: 'ap-hongkong' });
    }

    it('a lock shorter than the busy wait: calls wait it out and succeed', async () => {
      const lock = await lockDatabase();
      counts.dbFaults++;
      const started = Date.now();
      const pending = Promise.all([
        rawCall('CreateKey', { Alias: 'db-short-lock' }),
        rawCall('Encrypt', { KeyId: aes, Plaintext: b64(Buffer.from('x')) }),
        rawCall('DisableKey', { KeyId: rsaSign }),
      ]);
      await sleep(1_000);
      await lock.release();
      const results = await pending;
      counts.answersDuringFaults += results.length;
      expect(results.map((r) => r.code ?? r.problem)).toEqual([undefined, undefined, undefined]);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect((await hk('DescribeKey', { KeyId: rsaSign })).KeyMetadata).toMatchObject({ KeyState: 'Disabled' });
      await hk('EnableKey', { KeyId: rsaSign });
    });

    it('a lock held beyond the busy wait: a clean, bounded error; nothing half-written; service resumes', async () => {
      const before = await keyRows();
      const descBefore = (await hk('DescribeKey', { KeyId: aes })).KeyMetadata as Record<string, unknown>;
      const lock = await lockDatabase();
      counts.dbFaults++;
      const started = Date.now();
      // One connection: the calls queue behind each other; the first certainly outlasts the 5 s busy wait.
      const pending = Promise.all([
        rawCall('CreateKey', { Alias: 'db-long-lock' }),
        rawCall('DisableKey', { KeyId: rsaSign }),
        rawCall('UpdateKeyDescription', { KeyId: aes, Description: 'changed under lock' }),
      ]);
      // held past SQLite's 5 s busy wait, released before the audit events' own wait runs out
      await sleep(7_000);
      await lock.release();
      const results = await pending;
      const took = Date.now() - started;
      counts.answersDuringFaults += results.length;
      const codes = results.map((r) => r.code ?? r.problem ?? 'ok');
      say(`database locked 7 s: answers ${JSON.stringify(codes)} after ${took} ms`);
      expect(took).toBeLessThan(30_000);
      for (const r of results) expect(r.problem ?? null, JSON.stringify(r)).toBeNull();
      expect(codes.every((c) => c === 'ok' || c === 'ServiceUnavailable')).toBe(true);
      expect(codes).toContain('ServiceUnavailable');
      // Nothing half-written: each call either happened entirely or not at all.
      const [create, disable, describe] = results;
      expect(await keyRows()).toBe(before + (create!.code === undefined ? 1 : 0));
      expect(((await hk('DescribeKey', { KeyId: rsaSign })).KeyMetadata as Record<string, unknown>).KeyState).toBe(disable!.code === undefined ? 'Disabled' : 'Enabled');
      expect(((await hk('DescribeKey', { KeyId: aes })).KeyMetadata as Record<string, unknown>).Description).toBe(
        describe!.code === undefined ? 'changed under lock' : descBefore.Description,
      );
      if (disable!.code === undefined) await hk('EnableKey', { KeyId: rsaSign });
      // the service resumes by itself once the lock is gone
      const deadline = Date.now() + 10_000;
      let ok = false;
      while (!ok && Date.now() < deadline) {
        ok = (await rawCall('Encrypt', { KeyId: aes, Plaintext: b64(Buffer.from('after')) })).code === undefined;
        if (!ok) await sleep(100);
      }
      expect(ok).toBe(true);
      // A token object a refused CreateKey may have made is an orphan that reconciliation removes; no row lacks its object.
      const jobs = await server.services.jobs.run();
      expect(jobs.reconciled.rowsWithoutObjects).toEqual([]);
      await allDecrypt();
    });
  });
}
