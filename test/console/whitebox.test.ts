import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTableSet, FingerprintNotBoundError, whiteboxDecryptCbc, whiteboxEncryptCbc } from '../../src/crypto/whitebox/client.js';
import { WhiteboxDirection } from '../../src/crypto/whitebox/index.js';
import { ROOT, rootCallers, startTestServer, type TestServer } from '../helpers/api-server.js';
import { b64, clearProxy, errorCode, unb64, type KmsCaller } from '../helpers/sdk-clients.js';
import { download, launchBrowser, shot, signInWithKey } from './browser.js';

// The console's white-box pages in a real browser (docs/console.md#whitebox): the list and
// its warning, create (both table files downloaded once), the DecryptKey as a file download,
// fingerprints, enable/disable, delete after a confirmation, a refused region, and a read-only
// sub-account refused the tables. Each file is checked with the client runtime; each change through
// the official SDK.

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let base: string;
let gz: KmsCaller;

const GZ = 'ap-guangzhou';
const identity = () => [8, 14, 14, 14, 16].map((n) => randomBytes(n).toString('hex').slice(0, n)).join('-');

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  base = server.url;
  ({ gz } = rootCallers(server));
  browser = await launchBrowser();
  context = await browser.newContext({ acceptDownloads: true });
  context.setDefaultTimeout(10_000);
  page = await context.newPage();
  await signInWithKey(page, base, ROOT.secretId, ROOT.secretKey);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('white-box keys in the console', () => {
  let keyId: string;
  let decryptKey: string;

  it('the list says plainly that a table file is as good as the key and cannot be revoked', async () => {
    await page.goto(`${base}/console/keys?region=${GZ}`);
    await page.click('#nav-whitebox');
    await page.waitForURL(/\/console\/whitebox\?region=ap-guangzhou/);
    const warning = await page.locator('#whitebox-warning').textContent();
    expect(warning).toContain('as good as the key itself');
    expect(warning).toContain('cannot be revoked once copied');
    expect(await page.locator('#total').textContent()).toBe('Total 0 white-box keys');
    await shot(page, 'wb-01-list-empty');
  });

  it('creates a key and offers both table files once; they work with the client runtime', async () => {
    await page.click('#whitebox-create');
    await page.fill('#wb-alias', 'gateway-tables');
    await page.fill('#wb-description', 'line 2 gateways');
    expect(await page.locator('#wb-algorithm').inputValue()).toBe('SM4');
    await page.click('#whitebox-create-ok');
    expect(await page.locator('#whitebox-created').textContent()).toContain('gateway-tables');
    expect(await page.locator('#whitebox-warning').textContent()).toContain('cannot be revoked');
    await shot(page, 'wb-02-created');
    const enc = await download(page, () => page.click('#download-encrypt-key'));
    const dec = await download(page, () => page.click('#download-decrypt-key'));
    const encryptKey = enc.body.toString();
    decryptKey = dec.body.toString();
    keyId = describeTableSet(decryptKey).keyId;
    expect(enc.name).toBe(`whitebox-encrypt-key_${keyId}.txt`);
    expect(describeTableSet(encryptKey)).toMatchObject({ keyId, direction: WhiteboxDirection.ENCRYPT });
    const iv = randomBytes(16);
    const r = await gz('EncryptByWhiteBox', { KeyId: keyId, PlainText: b64('from the console'), InitializationVector: b64(iv) });
    expect(whiteboxDecryptCbc(decryptKey, iv, unb64(r.CipherText)).toString()).toBe('from the console');
    expect(whiteboxEncryptCbc(encryptKey, iv, Buffer.from('from the console'))).toEqual(unb64(r.CipherText));
    expect((await gz('DescribeWhiteBoxKey', { KeyId: keyId })).KeyInfo).toMatchObject({
      Alias: 'gateway-tables',
      Description: 'line 2 gateways',
      Algorithm: 'SM4',
      Status: 'Enabled',
    });
  });

  it('shows the API’s error in the create dialog (a taken name)', async () => {
    await page.goto(`${base}/console/whitebox?region=${GZ}`);
    expect(await page.locator('#whitebox-list .alias').allTextContents()).toEqual(['gateway-tables']);
    await page.click('#whitebox-create');
    await page.fill('#wb-alias', 'gateway-tables');
    await page.click('#whitebox-create-ok');
    expect(await page.locator('#whitebox-create-dialog .flash.error').textContent()).toContain('InvalidParameterValue.AliasAlreadyExists');
    expect(await page.inputValue('#wb-alias')).toBe('gateway-tables');
  });

  it('downloads the DecryptKey as a file, and binds it to the listed device fingerprints', async () => {
    await page.goto(`${base}/console/whitebox/${keyId}?region=${GZ}`);
    expect(await page.locator('#info-key-id').textContent()).toBe(keyId);
    const again = await download(page, () => page.click('#download-decrypt-key'));
    expect(again.name).toBe(`whitebox-decrypt-key_${keyId}.txt`);
    expect(again.body.toString()).toBe(decryptKey);

    const [a, b] = [identity(), identity()];
    await page.fill('#fingerprints', `${a} 10.0.0.7\n\n${b}\n`);
    await page.click('#fingerprints-save');
    await page.waitForURL(new RegExp(`/console/whitebox/${keyId}`));
    expect(await page.locator('.flash.ok').textContent()).toContain('bound to 2 device fingerprint(s)');
    expect(await page.locator('#fingerprint-list .fingerprint code').allTextContents()).toEqual([a, b]);
    expect((await gz('DescribeWhiteBoxDeviceFingerprints', { KeyId: keyId })).DeviceFingerprints).toEqual([
      { Identity: a, Description: '10.0.0.7' },
      { Identity: b, Description: '' },
    ]);
    await shot(page, 'wb-03-fingerprints');
    const bound = (await download(page, () => page.click('#download-decrypt-key'))).body.toString();
    expect(describeTableSet(bound)).toMatchObject({ bound: true, slotCount: 2 });
    const iv = randomBytes(16);
    const ct = unb64((await gz('EncryptByWhiteBox', { KeyId: keyId, PlainText: b64('bound'), InitializationVector: b64(iv) })).CipherText);
    expect(whiteboxDecryptCbc(bound, iv, ct, b).toString()).toBe('bound');
    expect(() => whiteboxDecryptCbc(bound, iv, ct, identity())).toThrow(FingerprintNotBoundError);

    await page.fill('#fingerprints', 'not-an-identity');
    await page.click('#fingerprints-save');
    expect(await page.locator('.flash.error').first().textContent()).toContain('InvalidParameterValue');
    expect((await gz('DescribeWhiteBoxDeviceFingerprints', { KeyId: keyId })).DeviceFingerprints).toHaveLength(2);
  });

  it('disables, then deletes after a confirmation', async () => {
    await page.goto(`${base}/console/whitebox/${keyId}?region=${GZ}`);
    expect(await page.locator('#details-delete').count()).toBe(0);
    await page.click('#whitebox-info [data-op="disable"]');
    await page.waitForURL(new RegExp(`/console/whitebox/${keyId}`));
    expect(((await gz('DescribeWhiteBoxKey', { KeyId: keyId })).KeyInfo as Record<string, unknown>).Status).toBe('Disabled');
    expect(await errorCode(gz('EncryptByWhiteBox', { KeyId: keyId, PlainText: b64('x') }))).toBe('ResourceUnavailable.KeyDisabled');
    await page.click('#details-delete');
    expect(await page.locator('#whitebox-delete').textContent()).toContain('cannot be restored');
    await shot(page, 'wb-04-delete');
    await page.click('#whitebox-delete-confirm');
    await page.waitForURL(/\/console\/whitebox\?region=ap-guangzhou$/);
    expect(await page.locator('.flash.ok').textContent()).toContain('deleted');
    expect(await page.locator('#whitebox-list tr[data-key-id]').count()).toBe(0);
    expect(await errorCode(gz('DescribeWhiteBoxKey', { KeyId: keyId }))).toBe('ResourceNotFound');
  });

  it('enables and disables from the list', async () => {
    const id = (await gz('CreateWhiteBoxKey', { Alias: 'toggled', Algorithm: 'SM4' })).KeyId as string;
    await page.goto(`${base}/console/whitebox?region=${GZ}`);
    await page.click(`#whitebox-list tr[data-key-id="${id}"] [data-op="disable"]`);
    await page.waitForURL(/\/console\/whitebox\?region=ap-guangzhou$/);
    expect(await page.locator(`#whitebox-list tr[data-key-id="${id}"] .state`).textContent()).toBe('Disabled');
    await page.click(`#whitebox-list tr[data-key-id="${id}"] [data-op="enable"]`);
    await page.waitForURL(/\/console\/whitebox\?region=ap-guangzhou$/);
    expect(((await gz('DescribeWhiteBoxKey', { KeyId: id })).KeyInfo as Record<string, unknown>).Status).toBe('Enabled');
  });

  it('a region without white-box keys shows the API’s UnsupportedRegion', async () => {
    await page.selectOption('#region-select', 'ap-singapore');
    await page.waitForURL(/\/console\/whitebox\?region=ap-singapore/);
    expect(await page.locator('.flash.error').first().textContent()).toContain('UnsupportedRegion');
  });

  it('a read-only sub-account sees the keys but is refused the DecryptKey', async () => {
    const id = (await gz('CreateWhiteBoxKey', { Alias: 'read-only-view', Algorithm: 'SM4' })).KeyId as string;
    const s = server.services;
    await s.identities.createUser(ROOT.uin, 'wb-reader');
    await s.access.attach(ROOT.uin, 'QcloudKMSReadOnlyAccess', 'wb-reader');
    const cred = await s.identities.createCredential(ROOT.uin, 'wb-reader');
    const p = await browser.newContext({ acceptDownloads: true }).then((c) => c.newPage());
    try {
      await signInWithKey(p, base, cred.secretId, cred.secretKey);
      await p.goto(`${base}/console/whitebox/${id}?region=${GZ}`);
      expect(await p.locator('#info-alias').textContent()).toBe('read-only-view');
      await p.click('#download-decrypt-key');
      const error = await p.locator('.flash.error').first().textContent();
      expect(error).toContain('AuthFailure.UnauthorizedOperation');
      expect(error).toContain('kms:DescribeWhiteBoxDecryptKey');
      await shot(p, 'wb-05-read-only-refused');
    } finally {
      await p.context().close();
    }
  });
});
