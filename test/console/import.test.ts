import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, rootCallers, startTestServer, type TestServer } from '../helpers/api-server.js';
import { b64, clearProxy, type KmsCaller } from '../helpers/sdk-clients.js';
import { download, launchBrowser, shot, signInWithKey } from './browser.js';

// External keys in the console, end to end: create with material source External, download the
// wrapping public key and the import token, wrap the material with Node's crypto (an
// independent RSA implementation), upload the wrapped file, and use the key through the SDK.

let server: TestServer;
let browser: Browser;
let page: Page;
let base: string;
let hk: KmsCaller;
let gz: KmsCaller;
let tmp: string;

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  base = server.url;
  ({ hk, gz } = rootCallers(server));
  tmp = mkdtempSync(path.join(tmpdir(), 'hsmkms-console-import-'));
  browser = await launchBrowser();
  const context = await browser.newContext({ acceptDownloads: true });
  context.setDefaultTimeout(10_000);
  page = await context.newPage();
  await signInWithKey(page, base, ROOT.secretId, ROOT.secretKey);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function createExternal(region: string, alias: string): Promise<string> {
  await page.goto(`${base}/console/keys?region=${region}`);
  await page.click('#create-key');
  await page.fill('#alias', alias);
  await page.check('#source-external');
  await page.click('#create-ok');
  await page.waitForURL(new RegExp(`/console/keys\\?region=${region}$`));
  const row = page.locator(`#key-list tr:has(.alias:text-is("${alias}"))`);
  expect(await row.locator('.state').textContent()).toBe('PendingImport');
  return (await row.getAttribute('data-key-id'))!;
}

/** Steps 1 and 2 in the page: parameters, then the downloads. */
async function getParameters(keyId: string, region: string, algorithm: string): Promise<{ pem: string; token: string }> {
  await page.goto(`${base}/console/keys/${keyId}?region=${region}`);
  await page.selectOption('#wrapping-algorithm', algorithm);
  await page.click('#import-params-get');
  const pem = (await download(page, () => page.click('#download-public-key'))).body.toString();
  const token = (await download(page, () => page.click('#download-import-token'))).body.toString();
  expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
  expect(await page.inputValue('#import-token')).toBe(token);
  return { pem, token };
}

async function upload(file: string, token?: string): Promise<void> {
  await page.setInputFiles('#material-file', file);
  // Runs in the browser: its globals are not Node's, so they are reached through globalThis.
  await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById(id: string): { value: string } } }).document.getElementById('material').value.length > 0);
  if (token !== undefined) await page.fill('#import-token', token);
  await page.click('#import-submit');
}

describe('external key material through the console', () => {
  it('FIPS region: RSAES_OAEP_SHA_256, 256-bit material, a material expiry; the key becomes Enabled and works', async () => {
    const keyId = await createExternal('ap-hongkong', 'byok-fips');
    const { pem, token } = await getParameters(keyId, 'ap-hongkong', 'RSAES_OAEP_SHA_256');
    expect(createPublicKey(pem).asymmetricKeyDetails?.modulusLength).toBe(2048);
    await shot(page, '30-import-parameters');
    const material = randomBytes(32);
    const wrapped = publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
    material.fill(0);
    const file = path.join(tmp, 'fips.bin');
    writeFileSync(file, wrapped);
    await page.fill('#valid-to', '2035-01-01T00:00');
    await upload(file, token);
    expect(await page.locator('.flash.ok').textContent()).toContain('imported');
    expect(await page.locator('#info-state').textContent()).toContain('Enabled');
    await shot(page, '31-imported');
    const meta = (await hk('DescribeKey', { KeyId: keyId })).KeyMetadata as Record<string, unknown>;
    expect(meta).toMatchObject({ KeyState: 'Enabled', Origin: 'EXTERNAL', ValidTo: Date.parse('2035-01-01T00:00:00Z') / 1000 });
    const blob = (await hk('Encrypt', { KeyId: keyId, Plaintext: b64('imported material works') })).CiphertextBlob as string;
    expect(Buffer.from((await hk('Decrypt', { CiphertextBlob: blob })).Plaintext as string, 'base64').toString()).toBe('imported material works');
    // The spent token is refused, with the API's message.
    await upload(file, token);
    expect(await page.locator('#import-panel [role=alert]').textContent()).toContain('ResourceUnavailable.TokenExpired');
  });

  it('refuses material that does not unwrap, with the API error shown; the key stays PendingImport', async () => {
    const keyId = await createExternal('ap-hongkong', 'byok-bad');
    await getParameters(keyId, 'ap-hongkong', 'RSAES_OAEP_SHA_1');
    const file = path.join(tmp, 'garbage.bin');
    writeFileSync(file, randomBytes(256));
    await upload(file);
    expect(await page.locator('#import-panel [role=alert]').textContent()).toContain('InvalidParameter.DecryptMaterialError');
    await shot(page, '32-import-refused');
    expect(((await hk('DescribeKey', { KeyId: keyId })).KeyMetadata as Record<string, unknown>).KeyState).toBe('PendingImport');
  });

  it('SM region: RSAES_PKCS1_V1_5, 128-bit SM4 material', async () => {
    const keyId = await createExternal('ap-guangzhou', 'byok-sm');
    const { pem } = await getParameters(keyId, 'ap-guangzhou', 'RSAES_PKCS1_V1_5');
    const material = randomBytes(16);
    const wrapped = publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_PADDING }, material);
    material.fill(0);
    const file = path.join(tmp, 'sm.bin');
    writeFileSync(file, wrapped);
    await upload(file);
    expect(await page.locator('#info-state').textContent()).toContain('Enabled');
    const blob = (await gz('Encrypt', { KeyId: keyId, Plaintext: b64('sm4 import') })).CiphertextBlob as string;
    expect(Buffer.from((await gz('Decrypt', { CiphertextBlob: blob })).Plaintext as string, 'base64').toString()).toBe('sm4 import');
  });
});
