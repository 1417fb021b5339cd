import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startTestServer, type TestServer } from '../helpers/api-server.js';
import { REPO } from '../helpers/cli.js';
import { clearProxy } from '../helpers/sdk-clients.js';
import { launchBrowser, shot, signInWithKey } from './browser.js';

// Console sessions in a real browser: console passwords set with the CLI (scrypt hash only),
// sign-in and its failures, sign-out, idle expiry (3 s here), CSRF and cross-origin refusals,
// a disabled API key ending its session, and sign-ins in the audit trail.

const IDLE_SECONDS = 3;
let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let base: string;

function hsmkms(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...server.cliEnv, KMS_LOG_LEVEL: 'warn' };
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'hsmkms.js'), ...args], { env, input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function signInWithPassword(p: Page, account: string, userName: string, password: string): Promise<void> {
  await p.goto(`${base}/console/login`);
  await p.fill('#account', account);
  await p.fill('#userName', userName);
  await p.fill('#password', password);
  await p.click('#login-password button[type=submit]');
}

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0', KMS_CONSOLE_SESSION_IDLE_SECONDS: String(IDLE_SECONDS) });
  base = server.url;
  browser = await launchBrowser();
  context = await browser.newContext();
  context.setDefaultTimeout(5000);
  page = await context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('console passwords', () => {
  const PASSWORD = 'correct horse battery staple';
  let carolPassword: string;

  it('the CLI sets a password from stdin and keeps only a scrypt hash', async () => {
    const r = hsmkms(['console', 'password', '--user', 'root', '--password-stdin', '--json'], `${PASSWORD}\n`);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ user: 'root', account: ROOT.uin, status: 'set' });
    const row = await server.services.db('users').where({ uin: ROOT.uin }).first('console_password_hash');
    expect(row.console_password_hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(row.console_password_hash).not.toContain(PASSWORD);
    const short = hsmkms(['console', 'password', '--user', 'root', '--password-stdin'], 'short\n');
    expect(short.status).not.toBe(0);
    expect(short.stderr).toContain('at least 12 characters');
  });

  it('the CLI generates and shows once a password for a sub-account', async () => {
    await server.services.identities.createUser(ROOT.uin, 'carol');
    const r = hsmkms(['console', 'password', '--user', 'carol', '--json']);
    const out = JSON.parse(r.stdout) as { password: string };
    expect(out.password).toMatch(/^[A-Za-z0-9]{20}$/);
    carolPassword = out.password;
    expect(hsmkms(['console', 'password', '--user', 'nobody-here']).stderr).toContain('not found');
  });

  it('refuses a wrong password and signs the root in with the right one (account left empty)', async () => {
    await signInWithPassword(page, '', 'root', 'not the password at all');
    expect(await page.locator('#login-error').textContent()).toContain('user name or password is incorrect');
    await shot(page, '20-password-error');
    await signInWithPassword(page, '', 'root', PASSWORD);
    expect(new URL(page.url()).pathname).toBe('/console/keys');
    expect(await page.locator('#who').textContent()).toContain(`root · account ${ROOT.uin}`);
    await shot(page, '21-password-signed-in');
  });

  it('a sub-account signed in with a password has exactly its (empty) permissions; its calls carry no SecretId', async () => {
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    try {
      await signInWithPassword(p, ROOT.uin, 'carol', carolPassword);
      expect(await p.locator('#who').textContent()).toContain('carol');
      expect(await p.locator('[role=alert]').first().textContent()).toContain('AuthFailure.UnauthorizedOperation');
      const [event] = await server.services.auditRepo.query({ accountUin: ROOT.uin, userName: 'carol', eventName: 'ListKeyDetail', limit: 1 });
      expect(event).toMatchObject({ result: 'Fail', errorCode: 'AuthFailure.UnauthorizedOperation', secretId: '' });
    } finally {
      await ctx.close();
    }
  });

  it('records sign-ins, failed ones too, in the audit trail', async () => {
    const events = await server.services.auditRepo.query({ accountUin: ROOT.uin, eventName: 'ConsoleLogin', limit: 10 });
    expect(
      events
        .filter((e) => e.result === 'Success')
        .map((e) => e.userName)
        .sort(),
    ).toEqual(['carol', 'root']);
    expect(events.some((e) => e.result === 'Fail' && e.userName === 'root')).toBe(true);
  });
});

describe('sign-out and expiry', () => {
  it('signs out: the session is gone even if its cookie is replayed', async () => {
    await signInWithKey(page, base, ROOT.secretId, ROOT.secretKey);
    const cookie = (await context.cookies()).find((c) => c.name === 'hsmkms_console')!;
    await page.click('#sign-out');
    expect(await page.locator('#login-notice').textContent()).toContain('You have signed out');
    await context.addCookies([cookie]);
    await page.goto(`${base}/console/keys`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    await shot(page, '22-signed-out');
  });

  it(`ends an idle session after ${IDLE_SECONDS} seconds and says so`, async () => {
    await signInWithKey(page, base, ROOT.secretId, ROOT.secretKey);
    expect(new URL(page.url()).pathname).toBe('/console/keys');
    await new Promise((r) => setTimeout(r, (IDLE_SECONDS + 1) * 1000));
    await page.click('nav a[href="/console/audit"]');
    expect(new URL(page.url()).pathname).toBe('/console/login');
    expect(await page.locator('#login-notice').textContent()).toContain('Your session has expired');
    await shot(page, '23-session-expired');
  });

  it('ends the session of an API key disabled meanwhile', async () => {
    await server.services.identities.createUser(ROOT.uin, 'dave');
    await server.services.access.attach(ROOT.uin, 'QcloudKMSReadOnlyAccess', 'dave');
    const cred = await server.services.identities.createCredential(ROOT.uin, 'dave');
    await signInWithKey(page, base, cred.secretId, cred.secretKey);
    expect(await page.locator('#who').textContent()).toContain('dave');
    await server.services.identities.setCredentialStatus(cred.secretId, 'Disabled');
    await page.goto(`${base}/console/keys`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    expect(await page.locator('#login-notice').textContent()).toContain('no longer enabled');
  });
});

describe('forged requests', () => {
  it('refuses a form without the session CSRF token, and one posted from another origin; nothing changes', async () => {
    await signInWithKey(page, base, ROOT.secretId, ROOT.secretKey);
    const noToken = await page.request.post(`${base}/console/keys/create`, { form: { region: 'ap-hongkong', Alias: 'forged-1', Type: '1' }, maxRedirects: 0 });
    expect(noToken.status()).toBe(403);
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const crossOrigin = await page.request.post(`${base}/console/keys/create`, {
      form: { _csrf: csrf, region: 'ap-hongkong', Alias: 'forged-2', Type: '1' },
      headers: { Origin: 'http://evil.example' },
      maxRedirects: 0,
    });
    expect(crossOrigin.status()).toBe(403);
    const ok = await page.request.post(`${base}/console/keys/create`, { form: { _csrf: csrf, region: 'ap-hongkong', Alias: 'genuine', Type: '1' }, maxRedirects: 0 });
    expect(ok.status()).toBe(303);
    expect(await server.services.db('keys').where({ account_uin: ROOT.uin }).pluck('alias')).toEqual(['genuine']);
  });

  it('serves its pages with a strict content security policy and no caching', async () => {
    const r = await page.request.get(`${base}/console/keys`);
    expect(r.headers()['content-security-policy']).toContain("script-src 'self'");
    expect(r.headers()['cache-control']).toBe('no-store');
    expect(r.headers()['x-frame-options']).toBe('DENY');
  });
});
