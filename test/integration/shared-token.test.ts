import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenUnavailableError } from '../../src/pkcs11/errors.js';
import { cli, cliAsync, freePort, serve } from '../helpers/cli.js';
import { clearProxy, cnKmsClient } from '../helpers/sdk-clients.js';
import { createTestToken, SOFTHSM_MODULE, type TestToken } from '../helpers/softhsm.js';

// Several processes starting together on one SoftHSM2 token directory (nodes, workers, CLI runs):
// - the keys the service keeps in the token for itself — the KEK and the audit signing key pair —
//   are made once, even on a token that has neither (no `token init` first). A token has no
//   lock: without it each process would find none and make its own; the nodes then signed audit
//   checkpoints with different keys and `audit verify` called a valid trail tampered (a CI
//   failure of the multi-node suite);
// - a process that opens the token while another rewrites its files still finds it.
// No other Token is open in this file's process (open() only retries when it is alone).

const ROOT = { uin: '100000000001', secretId: 'AKIDkeysROOT0000000000000000000000ab', secretKey: 'keysSECRETkey0000000000000000000' };

const tokens: TestToken[] = [];

beforeAll(() => clearProxy());
afterAll(() => tokens.forEach((t) => t.cleanup()));

/** A SoftHSM2 token made by softhsm2-util only (no KEK, no audit key), its data dir migrated. */
function bareToken(): { token: TestToken; env: NodeJS.ProcessEnv } {
  const token = createTestToken('hsmkms-service-keys-');
  tokens.push(token);
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KMS_DATA_DIR: token.dataDir,
    KMS_PKCS11_PIN: token.pin,
    KMS_ROOT_UIN: ROOT.uin,
    KMS_ROOT_SECRET_ID: ROOT.secretId,
    KMS_ROOT_SECRET_KEY: ROOT.secretKey,
    KMS_LOG_LEVEL: 'warn',
  };
  const migrated = cli(['db', 'migrate', '--json'], env); // the database only: the token stays bare
  if (migrated.status !== 0) throw new Error(`db migrate: ${migrated.stderr}`);
  return { token, env };
}

/** The token's directory under the tokens dir (SoftHSM2 names it by a UUID). */
function readdirToken(token: TestToken): string {
  const dirs = readdirSync(token.tokenDir);
  if (dirs.length !== 1) throw new Error(`expected one token directory, found ${dirs.length}`);
  return dirs[0]!;
}

/** Labels of the token's objects, by class, as OpenSC's pkcs11-tool lists them (not our PKCS#11 code). */
function tokenLabels(token: TestToken): string[] {
  const r = spawnSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', token.label, '--login', '--pin', token.pin, '--list-objects'], {
    env: { ...process.env, SOFTHSM2_CONF: token.conf },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`pkcs11-tool --list-objects failed (${r.status})`);
  const out: string[] = [];
  let cls = '';
  for (const line of r.stdout.split('\n')) {
    const head = /^(Public Key|Private Key|Secret Key|Data) object/i.exec(line);
    if (head) cls = head[1]!;
    const label = /^\s+label:\s+'?([^']+?)'?\s*$/.exec(line);
    if (label) out.push(`${cls}:${label[1]}`);
  }
  return out.sort();
}

/** Exactly one KEK and one audit signing key pair, and no data object (the service keeps none). */
function expectOneOfEachServiceKey(token: TestToken): void {
  expect(tokenLabels(token)).toEqual(['Private Key:hsmkms/audit-signing/v1', 'Public Key:hsmkms/audit-signing/v1', 'Secret Key:hsmkms/kek/v1']);
}

describe('one token, several processes', () => {
  it('open() finds a token whose files were being rewritten when it looked, and fails clearly when they stay unreadable', async () => {
    const token = createTestToken('hsmkms-shared-open-');
    tokens.push(token);
    const file = path.join(token.tokenDir, readdirToken(token), 'token.object');
    const whole = readFileSync(file);
    // What a reader sees mid-write: the first part of the file.
    writeFileSync(file, whole.subarray(0, 16));
    const restored = new Promise((r) => setTimeout(r, 300)).then(() => writeFileSync(file, whole));
    const t = await token.open();
    await restored;
    // The token is read whole: a key made now is found again by a fresh find.
    await t.generate({ keyId: 'after-rewrite', version: 1 }, { kind: 'aes', bits: 256, usage: { encrypt: true } });
    expect(await t.exists({ keyId: 'after-rewrite', version: 1 })).toBe(true);
    t.close();

    writeFileSync(file, whole.subarray(0, 16));
    const started = Date.now();
    const err = await token.open({ openRetryMs: 500 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(String((err as Error).message)).toMatch(/no token labelled "hsmkms"/);
    expect(Date.now() - started).toBeGreaterThan(200); // it looked again (back-off 25, 50, 100, 200 ms) before giving up
    writeFileSync(file, whole);
  }, 30_000);

  it('processes opening the service together on a bare token make one KEK and one audit signing key', async () => {
    const { token, env } = bareToken();
    // Eight CLI processes start together. The test holds the database's write lock meanwhile,
    // so with the fix they all wait at the token-setup lease (busy_timeout 5 s) and contend for
    // it at once when the lock goes. Without the fix, eight processes making the keys as they
    // reached that step left duplicates in 3 of 4 runs.
    const lock = new sqlite3.Database(path.join(token.dataDir, 'hsmkms.sqlite'));
    await new Promise<void>((resolve, reject) => lock.exec('BEGIN IMMEDIATE', (err) => (err ? reject(err) : resolve())));
    const runs = Array.from({ length: 8 }, () => cliAsync(['audit', 'verify', '--json'], env));
    await new Promise((r) => setTimeout(r, 3_000));
    await new Promise<void>((resolve, reject) => lock.exec('ROLLBACK', (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve) => lock.close(() => resolve()));
    for (const r of await Promise.all(runs)) {
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, events: 0 });
    }
    expectOneOfEachServiceKey(token);
  }, 60_000);

  it('three nodes starting at once on a bare token sign their checkpoints with the one key', async () => {
    const { token, env } = bareToken();
    const ports = await Promise.all([0, 1, 2].map(() => freePort()));
    const nodes = await Promise.all(ports.map((port) => serve(env, port)));
    const stopped: Array<number | null> = [];
    try {
      expectOneOfEachServiceKey(token);
      // One call on a node, then that node stops: its shutdown signs the chain head. So every
      // node signs one checkpoint, each with the key it found.
      for (const n of nodes) {
        const call = cnKmsClient({ endpoint: n.url.replace('http://', ''), secretId: ROOT.secretId, secretKey: ROOT.secretKey, region: 'ap-hongkong' });
        expect((await call('GenerateRandom', { NumberOfBytes: 16 })).RequestId).toBeTruthy();
        stopped.push(await n.stop());
      }
    } finally {
      for (const n of nodes.slice(stopped.length)) await n.stop();
    }
    expect(stopped).toEqual([0, 0, 0]);
    const verify = cli(['audit', 'verify', '--json'], env);
    expect(verify.stderr).toBe('');
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, events: 3, checkpoints: 3 });
  }, 120_000);
});
