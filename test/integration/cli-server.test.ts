import { mkdtempSync, renameSync, rmSync, statSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, freePort, serve } from '../helpers/cli.js';

// The operator's path, end to end: `hsmkms token init` provisions a SoftHSM2 token in a
// fresh data dir (PIN generated, 0600), `token status --json` reads it, `serve` answers
// /healthz, /readyz and /metrics, and readiness follows the token.

let dataDir: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'hsmkms-cli-'));
  env = { PATH: process.env.PATH, HOME: process.env.HOME, KMS_DATA_DIR: dataDir, KMS_LOG_LEVEL: 'warn' };
});

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe('hsmkms CLI', () => {
  it('token init creates the token, a 0600 PIN file, the KEK and the audit signing key, and is idempotent', () => {
    const first = cli(['token', 'init', '--json'], env);
    expect(first.stderr).toBe('');
    expect(JSON.parse(first.stdout)).toEqual({ tokenCreated: true, tokenLabel: 'hsmkms', kekVersion: 1, kekScheme: 'aes-gcm', auditKeyScheme: 'ecdsa-p256' });
    const pinFile = path.join(dataDir, 'user.pin');
    expect(statSync(pinFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dataDir, 'so.pin')).mode & 0o777).toBe(0o600);
    expect(existsSync(path.join(dataDir, 'softhsm2.conf'))).toBe(true);
    const again = cli(['token', 'init', '--json'], env);
    expect(JSON.parse(again.stdout)).toMatchObject({ tokenCreated: false });
  });

  it('token status --json reports module, slot, label, serial, login, objects and mechanisms', () => {
    const r = cli(['token', 'status', '--json'], env);
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ module: '/usr/lib/softhsm/libsofthsm2.so', profile: 'softhsm2', tokenLabel: 'hsmkms', loggedIn: true });
    expect(s.serial).toMatch(/\S/);
    expect(s.slot).toMatch(/^\d+$/);
    expect(s.objects).toEqual({ secret: 1, private: 1, public: 1, data: 0, total: 3 }); // KEK, audit signing key pair
    expect(s.mechanisms.find((m: { name: string }) => m.name === 'CKM_AES_GCM')).toMatchObject({ expected: true, offered: true });
    expect(s).toMatchObject({
      ready: true,
      missing: [],
      serviceKeys: { kek: { scheme: 'aes-gcm', present: true }, auditSigningKey: { scheme: 'ecdsa-p256', present: true }, problems: [] },
    });
    expect(s.reconciliation).toEqual({ orphanObjectsDestroyed: [], rowsWithoutObjects: [], unknownObjects: [] });
    const human = cli(['token', 'status'], env);
    expect(human.stdout).toMatch(/logged in: yes/);
  });

  it('db migrate is idempotent', () => {
    const r = cli(['db', 'migrate', '--json'], env);
    expect(r.status).toBe(0);
    expect(Array.isArray(JSON.parse(r.stdout).applied)).toBe(true);
    expect(JSON.parse(cli(['db', 'migrate', '--json'], env).stdout)).toEqual({ applied: [] });
  });

  it('a wrong PIN fails with one line that does not echo the PIN', () => {
    const r = cli(['token', 'status', '--json'], { ...env, KMS_PKCS11_PIN: 'not-the-pin-4711' });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/login/i);
    expect(r.stderr).not.toContain('not-the-pin-4711');
  });

  it('a missing token label fails clearly', () => {
    const r = cli(['token', 'status'], { ...env, KMS_PKCS11_TOKEN_LABEL: 'no-such-token' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/no token labelled "no-such-token"/);
  });

  it('--help lists the commands', () => {
    const r = cli(['--help'], env);
    expect(r.status).toBe(0);
    for (const c of ['serve', 'token', 'db', 'account', 'user', 'credential']) expect(r.stdout).toContain(c);
  });

  it('bootstraps the root account once, writing generated credentials 0600', () => {
    // the first command that needs identities creates the root (as the first server start would)
    const cred = cli(['credential', 'create', '--user', 'root', '--json'], env);
    expect(cred.stderr).toBe('');
    const file = path.join(dataDir, 'root-credentials.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const root = JSON.parse(readFileSync(file, 'utf8'));
    expect(root.uin).toMatch(/^\d{12}$/);
    expect(root.secretId).toMatch(/^AKID[A-Za-z0-9]{32}$/);
    expect(root.secretKey).toMatch(/^[A-Za-z0-9]{32}$/);
    const second = JSON.parse(cred.stdout);
    expect(second.secretId).not.toBe(root.secretId);
    // at most two key pairs per user
    const third = cli(['credential', 'create', '--user', 'root', '--json'], env);
    expect(third.status).not.toBe(0);
    expect(third.stderr).toMatch(/already has 2 API keys/);
    expect(JSON.parse(cli(['credential', 'disable', '--secret-id', second.secretId, '--json'], env).stdout)).toEqual({ secretId: second.secretId, status: 'Disabled' });
    expect(JSON.parse(cli(['credential', 'delete', '--secret-id', second.secretId, '--json'], env).stdout)).toEqual({ secretId: second.secretId, deleted: true });
  });

  it('retires the bootstrap key pair: a new root pair, then the bootstrap one deleted — root-credentials.json goes with it', () => {
    const file = path.join(dataDir, 'root-credentials.json');
    const bootstrap = JSON.parse(readFileSync(file, 'utf8')) as { secretId: string };
    const fresh = JSON.parse(cli(['credential', 'create', '--user', 'root', '--json'], env).stdout) as { secretId: string };
    const disabled = cli(['credential', 'disable', '--secret-id', bootstrap.secretId, '--json'], env);
    expect(JSON.parse(disabled.stdout)).toEqual({ secretId: bootstrap.secretId, status: 'Disabled' });
    expect(disabled.stderr).toContain('root-credentials.json still holds');
    expect(existsSync(file)).toBe(true);
    const deleted = JSON.parse(cli(['credential', 'delete', '--secret-id', bootstrap.secretId, '--json'], env).stdout);
    expect(deleted).toEqual({ secretId: bootstrap.secretId, deleted: true, removedFile: file });
    expect(existsSync(file)).toBe(false);
    // The new pair is root's; deleting another pair leaves no file to remove.
    expect(cli(['user', 'list', '--json'], env).status).toBe(0);
    expect(JSON.parse(cli(['credential', 'disable', '--secret-id', fresh.secretId, '--json'], env).stdout)).toEqual({ secretId: fresh.secretId, status: 'Disabled' });
    expect(JSON.parse(cli(['credential', 'enable', '--secret-id', fresh.secretId, '--json'], env).stdout)).toEqual({ secretId: fresh.secretId, status: 'Enabled' });
  });

  it('creates accounts, sub-accounts and their key pairs', () => {
    const acct = JSON.parse(cli(['account', 'create', '--json'], env).stdout);
    expect(Object.keys(acct).sort()).toEqual(['secretId', 'secretKey', 'uin']);
    const user = JSON.parse(cli(['user', 'create', '--name', 'alice', '--account', acct.uin, '--json'], env).stdout);
    expect(user).toMatchObject({ name: 'alice', account: acct.uin });
    const dup = cli(['user', 'create', '--name', 'alice', '--account', acct.uin], env);
    expect(dup.status).not.toBe(0);
    expect(dup.stderr).toMatch(/already exists/);
    const key = JSON.parse(cli(['credential', 'create', '--user', 'alice', '--account', acct.uin, '--json'], env).stdout);
    expect(key.secretId).toMatch(/^AKID/);
    const missing = cli(['credential', 'create', '--user', 'bob', '--account', acct.uin], env);
    expect(missing.stderr).toMatch(/user bob not found/);
  });
});

describe('hsmkms policy and user administration', () => {
  it('creates, lists, attaches and detaches policies; refuses a malformed one with the reason', () => {
    expect(cli(['user', 'create', '--name', 'ops', '--json'], env).status).toBe(0);
    const bad = cli(['policy', 'create', '--name', 'broken', '--document', '{"version":"2.0","statement":[{"effect":"allow","action":"kms:Encrypt"}]}'], env);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/malformed policy: .*resource/);
    const doc = JSON.stringify({ version: '2.0', statement: [{ effect: 'allow', action: ['name/kms:Encrypt'], resource: '*' }] });
    expect(JSON.parse(cli(['policy', 'create', '--name', 'encrypt-only', '--document', doc, '--json'], env).stdout)).toMatchObject({ name: 'encrypt-only' });
    const names = JSON.parse(cli(['policy', 'list', '--json'], env).stdout).map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(['QcloudKMSFullAccess', 'QcloudKMSReadOnlyAccess', 'encrypt-only']));
    expect(names).not.toContain('broken');
    expect(JSON.parse(cli(['policy', 'attach', '--name', 'encrypt-only', '--user', 'ops', '--json'], env).stdout)).toEqual({ name: 'encrypt-only', user: 'ops' });
    expect(JSON.parse(cli(['policy', 'attach', '--name', 'QcloudKMSReadOnlyAccess', '--user', 'ops', '--json'], env).stdout)).toEqual({
      name: 'QcloudKMSReadOnlyAccess',
      user: 'ops',
    });
    expect(JSON.parse(cli(['policy', 'detach', '--name', 'encrypt-only', '--user', 'ops', '--json'], env).stdout)).toEqual({ name: 'encrypt-only', user: 'ops' });
    expect(cli(['policy', 'detach', '--name', 'encrypt-only', '--user', 'ops'], env).stderr).toMatch(/not attached/);
    const users = JSON.parse(cli(['user', 'list', '--json'], env).stdout);
    expect(users.find((u: { name: string }) => u.name === 'ops')).toMatchObject({ root: false, status: 'Enabled' });
    expect(JSON.parse(cli(['user', 'disable', '--name', 'ops', '--json'], env).stdout)).toEqual({ name: 'ops', status: 'Disabled' });
    expect(cli(['user', 'disable', '--name', 'root'], env).status).not.toBe(0);
  });
});

describe('hsmkms serve', () => {
  it('answers /healthz, /readyz and /metrics, and readiness follows the token', async () => {
    const server = await serve(env, await freePort());
    try {
      expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', token: true, database: true });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/^hsmkms_token_up 1$/m);
      expect(metrics).toMatch(/^hsmkms_audit_journal_unmoved_events \d+$/m);
      expect(metrics).toMatch(/hsmkms_http_requests_total\{route="readyz",status="200"\} 1/);

      const tokens = path.join(dataDir, 'tokens');
      renameSync(tokens, `${tokens}.away`);
      try {
        const down = await fetch(`${server.url}/readyz`);
        expect(down.status).toBe(503);
        expect(await down.json()).toMatchObject({ token: false, database: true });
      } finally {
        renameSync(`${tokens}.away`, tokens);
      }
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/^hsmkms_token_recoveries_total [1-9]/m);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    // nothing secret in what the server printed
    const pin = readFileSync(path.join(dataDir, 'user.pin'), 'utf8').trim();
    expect(server.logs()).not.toContain(pin);
  });
});
