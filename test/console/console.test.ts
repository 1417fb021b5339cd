import { createPublicKey } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, rootCallers, startTestServer, type TestServer } from '../helpers/api-server.js';
import { b64, clearProxy, type KmsCaller } from '../helpers/sdk-clients.js';
import { download, launchBrowser, shot, signInWithKey } from './browser.js';

// The console's key flows in a real browser against a real server, as the seed KMS guide walks
// them: sign in, region switcher, key list (search, state filter, pages), create dialog, details
// and edits, enable/disable with confirmation, online tools, scheduled deletion, alarms, event
// history — and a sub-account whose denials show as errors. Every change is checked through the
// official SDK, an independent client of the same API.

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let base: string;
let hk: KmsCaller;
let gz: KmsCaller;

const HK = 'ap-hongkong';
const rows = () => page.locator('#key-list tbody tr[data-key-id]');
const rowOf = (keyId: string) => page.locator(`#key-list tr[data-key-id="${keyId}"]`);
const describe_ = async (keyId: string) => (await hk('DescribeKey', { KeyId: keyId })).KeyMetadata as Record<string, unknown>;

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  base = server.url;
  ({ hk, gz } = rootCallers(server));
  browser = await launchBrowser();
  context = await browser.newContext({ acceptDownloads: true });
  context.setDefaultTimeout(5000);
  page = await context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('sign-in with an API key', () => {
  it('refuses a wrong SecretKey with the error shown, and signs the root in with the right one', async () => {
    await signInWithKey(page, base, ROOT.secretId, 'wrongSECRETkey0000000000000000000');
    await expect(page.locator('#login-error').textContent()).resolves.toContain('SecretId or SecretKey is incorrect');
    await shot(page, '01-login-error');
    await signInWithKey(page, base, ROOT.secretId, ROOT.secretKey);
    expect(new URL(page.url()).pathname).toBe('/console/keys');
    expect(await page.locator('#who').textContent()).toContain(`root · account ${ROOT.uin}`);
    // The session cookie is HttpOnly and SameSite=Strict; the SecretKey is nowhere in the page.
    const cookie = (await context.cookies()).find((c) => c.name === 'hsmkms_console');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
    expect(await page.content()).not.toContain(ROOT.secretKey);
    await shot(page, '02-signed-in');
  });
});

describe('region switcher', () => {
  it('lists every configured region with its standard and switches the key list', async () => {
    const options = await page.locator('#region-select option').allTextContents();
    expect(options).toEqual(['Guangzhou (SM-CRYPTO)', 'Shanghai (SM-CRYPTO)', 'Beijing (SM-CRYPTO)', 'Hong Kong (China)(FIPS)', 'Singapore(FIPS)']);
    await gz('CreateKey', { Alias: 'only-in-guangzhou' });
    await page.selectOption('#region-select', 'ap-guangzhou');
    await page.waitForURL(/region=ap-guangzhou/);
    expect(await page.locator('#current-region').textContent()).toBe('Guangzhou (SM-CRYPTO)');
    expect(await page.locator('#key-list .alias').allTextContents()).toEqual(['only-in-guangzhou']);
    await shot(page, '03-region-guangzhou');
    await page.selectOption('#region-select', HK);
    await page.waitForURL(/region=ap-hongkong/);
    expect(await page.locator('#current-region').textContent()).toBe('Hong Kong (China)(FIPS)');
    expect(await rows().count()).toBe(0);
  });
});

describe('create key dialog', () => {
  it('shows the API name rule error in the dialog and keeps what was typed', async () => {
    await page.click('#create-key');
    await page.fill('#alias', 'KMS-reserved');
    await page.fill('#description', 'orders database');
    await page.click('#create-ok');
    const dialog = page.locator('#create-dialog');
    await expect(dialog.isVisible()).resolves.toBe(true);
    const error = await dialog.locator('.flash.error').textContent();
    expect(error).toContain('InvalidParameterValue.InvalidAlias');
    expect(error).toContain('kms-');
    expect(await page.inputValue('#description')).toBe('orders database');
    await shot(page, '04-create-name-rule');
  });

  it('creates the key (description, tag, usage) and shows it at the top of the list', async () => {
    await hk('CreateKey', { Alias: 'older-key' });
    // CreateTime has one-second resolution: let the older key's second pass.
    await new Promise((r) => setTimeout(r, 1100));
    await page.fill('#alias', 'orders-db');
    await page.fill('[aria-label="Tag key 1"]', 'env');
    await page.fill('[aria-label="Tag value 1"]', 'prod');
    await page.click('#create-ok');
    await page.waitForURL(/\/console\/keys\?region=ap-hongkong$/);
    expect(await page.locator('.flash.ok').textContent()).toContain('orders-db');
    expect(await page.locator('#key-list .alias').first().textContent()).toBe('orders-db');
    const keyId = (await rows().first().getAttribute('data-key-id'))!;
    const meta = await describe_(keyId);
    expect(meta).toMatchObject({ Alias: 'orders-db', Description: 'orders database', KeyUsage: 'ENCRYPT_DECRYPT', KeyState: 'Enabled', Origin: 'TENCENT_KMS' });
    const tagged = (await hk('ListKeyDetail', { KeyUsage: 'ALL', TagFilters: [{ TagKey: 'env', TagValue: ['prod'] }] })).KeyMetadatas as Array<{ KeyId: string }>;
    expect(tagged.map((k) => k.KeyId)).toEqual([keyId]);
    await shot(page, '05-created');
  });

  it('offers only symmetric usage for external material and creates a PendingImport key', async () => {
    await page.click('#create-key');
    await page.fill('#alias', 'byok-key');
    await page.check('#source-external');
    expect(await page.locator('#key-usage option:not([disabled])').allTextContents()).toEqual(['Symmetric Encryption/Decryption']);
    expect(await page.locator('#create-dialog .note').textContent()).toContain('External key material is supported only for symmetric encryption and decryption');
    await page.click('#create-ok');
    await page.waitForURL(/\/console\/keys\?region=ap-hongkong$/);
    expect(await page.locator('#key-list tr:has(.alias:text-is("byok-key")) .state').textContent()).toBe('PendingImport');
  });
});

describe('key list', () => {
  const ids: string[] = [];
  beforeAll(async () => {
    await new Promise((r) => setTimeout(r, 1100)); // a later CreateTime second than the keys above
    for (let i = 0; i < 12; i++) ids.push((await hk('CreateKey', { Alias: `bulk-${String(i).padStart(2, '0')}` })).KeyId as string);
    await hk('DisableKeys', { KeyIds: ids.slice(0, 3) });
  });

  it('pages through the keys, newest first, ten per page', async () => {
    await page.goto(`${base}/console/keys?region=${HK}`);
    expect(await page.locator('#total').textContent()).toBe('Total 15 keys');
    expect(await page.locator('#page-of').textContent()).toBe('Page 1 of 2');
    expect(await rows().count()).toBe(10);
    const first = await page.locator('#key-list .alias').allTextContents();
    await page.click('#next-page');
    expect(await page.locator('#page-of').textContent()).toBe('Page 2 of 2');
    const second = await page.locator('#key-list .alias').allTextContents();
    expect(second).toHaveLength(5);
    // Newest first: the keys made before the bulk ones come last; together the pages hold each key once.
    expect(second.slice(-3).sort()).toEqual(['byok-key', 'older-key', 'orders-db']);
    expect(second.at(-1)).toBe('older-key');
    expect(new Set([...first, ...second]).size).toBe(15);
    await shot(page, '06-list-page-2');
    await page.click('#prev-page');
    expect(await page.locator('#page-of').textContent()).toBe('Page 1 of 2');
  });

  it('searches by full or partial name and by id', async () => {
    await page.fill('#search', 'bulk-07');
    await page.click('#search-button');
    expect(await page.locator('#key-list .alias').allTextContents()).toEqual(['bulk-07']);
    await page.fill('#search', 'bulk-1');
    await page.click('#search-button');
    expect((await page.locator('#key-list .alias').allTextContents()).sort()).toEqual(['bulk-10', 'bulk-11']);
    await page.fill('#search', ids[5]!.slice(0, 13));
    await page.click('#search-button');
    expect(await rows().evaluateAll((r) => r.map((x) => x.getAttribute('data-key-id')))).toContain(ids[5]);
    await page.fill('#search', ids[5]!);
    await page.click('#search-button');
    expect(await rows().evaluateAll((r) => r.map((x) => x.getAttribute('data-key-id')))).toEqual([ids[5]]);
    await shot(page, '07-search-by-id');
  });

  it('filters by state and shows the status column', async () => {
    await page.fill('#search', '');
    await page.selectOption('#state-filter', 'Disabled');
    await page.click('#search-button');
    expect((await page.locator('#key-list .alias').allTextContents()).sort()).toEqual(['bulk-00', 'bulk-01', 'bulk-02']);
    expect(new Set(await page.locator('#key-list .state').allTextContents())).toEqual(new Set(['Disabled']));
    await page.selectOption('#state-filter', 'PendingImport');
    await page.click('#search-button');
    expect(await page.locator('#key-list .alias').allTextContents()).toEqual(['byok-key']);
    await shot(page, '08-state-filter');
  });

  it('enables and disables one key from its row, after a confirmation naming it', async () => {
    await page.goto(`${base}/console/keys?region=${HK}&q=bulk-05`);
    await rowOf(ids[5]!).locator('button[data-op=disable]').click();
    expect(await page.locator('#confirm-keys tbody tr').allTextContents()).toEqual([expect.stringContaining(ids[5]!)]);
    await shot(page, '09-confirm-single');
    await page.click('#confirm-ok');
    expect(await page.locator('#result-keys tbody').textContent()).toContain('Disabled');
    expect((await describe_(ids[5]!)).KeyState).toBe('Disabled');
    await page.click('#back-to-list');
    await page.goto(`${base}/console/keys?region=${HK}&q=bulk-05`);
    await rowOf(ids[5]!).locator('button[data-op=enable]').click();
    await page.click('#confirm-ok');
    expect((await describe_(ids[5]!)).KeyState).toBe('Enabled');
  });

  it('disables and enables selected keys in one batch, listing each key and its result', async () => {
    await page.goto(`${base}/console/keys?region=${HK}&q=bulk-1`);
    await page.check('[aria-label="Select bulk-10"]');
    await page.check('[aria-label="Select bulk-11"]');
    await page.click('#batch-disable');
    const listed = await page.locator('#confirm-keys tbody tr').allTextContents();
    expect(listed).toHaveLength(2);
    expect(listed.join(' ')).toContain('bulk-10');
    expect(listed.join(' ')).toContain('bulk-11');
    await page.click('#confirm-ok');
    expect(await page.locator('#result-keys .state').allTextContents()).toEqual(['Disabled', 'Disabled']);
    await shot(page, '10-batch-result');
    expect((await describe_(ids[10]!)).KeyState).toBe('Disabled');
    expect((await describe_(ids[11]!)).KeyState).toBe('Disabled');
    // "Select all" selects the page's keys for the batch.
    await page.goto(`${base}/console/keys?region=${HK}`);
    await page.check('input[data-select-all]');
    await page.click('#batch-enable');
    expect(await page.locator('#confirm-keys tbody tr').count()).toBe(10);
    // A batch is all or nothing: a key whose state changed after the confirmation fails the
    // whole batch, the API error is shown and each key's status is listed, unchanged.
    await page.goto(`${base}/console/keys?region=${HK}&q=bulk-1`);
    await page.check('[aria-label="Select bulk-10"]');
    await page.check('[aria-label="Select bulk-11"]');
    await page.click('#batch-enable');
    await hk('ScheduleKeyDeletion', { KeyId: ids[11], PendingWindowInDays: 7 });
    await page.click('#confirm-ok');
    expect(await page.locator('[role=alert]').textContent()).toContain('ResourceUnavailable.');
    const states = Object.fromEntries(await page.locator('#result-keys tbody tr').evaluateAll((rs) => rs.map((r) => [r.children[1]!.textContent, r.children[2]!.textContent])));
    expect(states).toEqual({ 'bulk-10': 'Disabled', 'bulk-11': 'PendingDelete' });
    await shot(page, '10b-batch-refused');
    await hk('CancelKeyDeletion', { KeyId: ids[11] });
    await page.goto(`${base}/console/keys?region=${HK}&q=bulk-1`);
    await page.check('[aria-label="Select bulk-10"]');
    await page.check('[aria-label="Select bulk-11"]');
    await page.click('#batch-enable');
    await page.click('#confirm-ok');
    expect(await page.locator('#result-keys .state').allTextContents()).toEqual(['Enabled', 'Enabled']);
  });
});

describe('key details', () => {
  let keyId: string;
  beforeAll(async () => {
    keyId = ((await hk('ListKeyDetail', { SearchKeyAlias: 'orders-db', KeyUsage: 'ALL' })).KeyMetadatas as Array<{ KeyId: string }>)[0]!.KeyId;
  });

  it('shows id, name, region, creation time, description, usage, state and rotation', async () => {
    await page.goto(`${base}/console/keys?region=${HK}&q=orders-db`);
    await page.click('.key-link');
    expect(await page.locator('#info-key-id').textContent()).toBe(keyId);
    expect(await page.locator('#info-alias').textContent()).toBe('orders-db');
    expect(await page.locator('#info-region').textContent()).toBe('Hong Kong (China)(FIPS)');
    expect(await page.locator('#info-description').textContent()).toBe('orders database');
    expect(await page.locator('#info-usage').textContent()).toBe('Symmetric Encryption/Decryption');
    expect(await page.locator('#info-state').textContent()).toContain('Enabled');
    expect(await page.locator('#info-rotation').textContent()).toBe('Disabled');
    await shot(page, '11-details');
  });

  it('edits the name, the description and the rotation', async () => {
    await page.click('#key-info dd:has(#info-alias) summary');
    await page.fill('#alias-form input[name=Alias]', 'orders-db-2');
    await page.click('#alias-form button');
    expect(await page.locator('#info-alias').textContent()).toBe('orders-db-2');
    await page.click('#key-info dd:has(#info-description) summary');
    await page.fill('#description-form textarea', 'orders, encrypted columns');
    await page.click('#description-form button');
    expect(await page.locator('#info-description').textContent()).toBe('orders, encrypted columns');
    await page.click('#key-info dd:has(#info-rotation) summary');
    await page.check('#rotation-enabled');
    await page.fill('#rotation-form input[name=RotateDays]', '90');
    await page.click('#rotation-form button');
    expect(await page.locator('#info-rotation').textContent()).toContain('Enabled, every 90 days');
    const meta = await describe_(keyId);
    expect(meta).toMatchObject({ Alias: 'orders-db-2', Description: 'orders, encrypted columns', KeyRotationEnabled: true, RotateDays: 90 });
    // A bad name is refused by the API and its message shown; nothing changes.
    await page.click('#key-info dd:has(#info-alias) summary');
    await page.fill('#alias-form input[name=Alias]', 'no spaces allowed');
    await page.click('#alias-form button');
    expect(await page.locator('.flash.error').textContent()).toContain('InvalidParameterValue.InvalidAlias');
    expect((await describe_(keyId)).Alias).toBe('orders-db-2');
    await shot(page, '12-edited');
  });

  it('encrypts and decrypts text online, shows the results and downloads them', async () => {
    await page.goto(`${base}/console/keys/${keyId}?region=${HK}`);
    await page.fill('#encrypt-input', 'card 4111 1111 1111 1111');
    await page.click('#encrypt-convert');
    const blob = (await page.locator('#encrypt-result').textContent())!.trim();
    expect(blob.length).toBeGreaterThan(40);
    const file = await download(page, () => page.click('#encrypt-download'));
    expect(file.body.toString()).toBe(blob);
    // The ciphertext is an ordinary CiphertextBlob: the SDK decrypts it.
    expect(Buffer.from((await hk('Decrypt', { CiphertextBlob: blob })).Plaintext as string, 'base64').toString()).toBe('card 4111 1111 1111 1111');
    // And one made by the SDK decrypts in the console; the plaintext is shown base64.
    const sdkBlob = (await hk('Encrypt', { KeyId: keyId, Plaintext: b64('from the sdk') })).CiphertextBlob as string;
    await page.fill('#decrypt-input', sdkBlob);
    await page.click('#decrypt-convert');
    expect((await page.locator('#decrypt-result').textContent())!.trim()).toBe(b64('from the sdk'));
    const plain = await download(page, () => page.click('#decrypt-download'));
    expect(plain.body.toString()).toBe('from the sdk');
    await shot(page, '13-online-tools');
    // A broken ciphertext: the API's error, with its message.
    await page.fill('#decrypt-input', 'bm90IGEgYmxvYg==');
    await page.click('#decrypt-convert');
    expect(await page.locator('#online-tools .flash.error').textContent()).toMatch(/InvalidParameterValue|FailedOperation/);
  });
});

describe('rotation from the list, public keys, hostile text', () => {
  it('enables rotation from the "Key Rotation" column', async () => {
    const keyId = (await hk('CreateKey', { Alias: 'rotate-me' })).KeyId as string;
    await page.goto(`${base}/console/keys?region=${HK}&q=rotate-me`);
    await rowOf(keyId).locator('button[data-op=enable-rotation]').click();
    expect(await page.locator('.flash.ok').textContent()).toContain('Key rotation is enabled');
    expect((await rowOf(keyId).locator('td').nth(5).textContent())?.trim()).toBe('Enabled');
    expect((await describe_(keyId)).KeyRotationEnabled).toBe(true);
  });

  it('shows and downloads the public key of an asymmetric key', async () => {
    const keyId = (await hk('CreateKey', { Alias: 'rsa-decrypt', KeyUsage: 'ASYMMETRIC_DECRYPT_RSA_2048' })).KeyId as string;
    await page.goto(`${base}/console/keys/${keyId}?region=${HK}`);
    expect(await page.locator('#online-tools').count()).toBe(0);
    await page.click('#public-key-get');
    const pem = (await page.locator('#public-key-result').textContent())!;
    const file = await download(page, () => page.click('#public-key-download'));
    expect(file.body.toString()).toBe(pem);
    expect(createPublicKey(pem).asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('shows names and descriptions as text, never as markup', async () => {
    let alerted = false;
    page.once('dialog', (d) => {
      alerted = true;
      void d.dismiss();
    });
    const evil = '<img src=x onerror=alert(1)><script>alert(2)</script>';
    const keyId = (await hk('CreateKey', { Alias: 'markup-test', Description: evil })).KeyId as string;
    await page.goto(`${base}/console/keys/${keyId}?region=${HK}`);
    expect(await page.locator('#info-description').textContent()).toBe(evil);
    expect(await page.locator('#info-description img, #info-description script').count()).toBe(0);
    expect(alerted).toBe(false);
  });
});

describe('scheduled deletion', () => {
  let keyId: string;
  beforeAll(async () => {
    keyId = (await hk('CreateKey', { Alias: 'to-delete' })).KeyId as string;
  });

  it('refuses an enabled key: disable it first, with the guide warnings shown', async () => {
    await page.goto(`${base}/console/keys?region=${HK}&q=to-delete`);
    await rowOf(keyId).locator('[data-op=schedule-deletion]').click();
    expect(await page.locator('#disable-first').textContent()).toContain('please disable it first');
    const warning = await page.locator('#deletion-warning').textContent();
    expect(warning).toContain('7-30 days');
    expect(warning).toContain('any attempt to call the key will trigger the alarm');
    expect(warning).toContain('every day in the last 3 days');
    await page.click('#deletion-confirm');
    expect(await page.locator('.flash.error').textContent()).toContain('ResourceUnavailable.CmkShouldBeDisabled');
    expect((await describe_(keyId)).KeyState).toBe('Enabled');
    await shot(page, '14-deletion-enabled-refused');
  });

  it('schedules a disabled key for deletion in 7–30 days and cancels it', async () => {
    await hk('DisableKey', { KeyId: keyId });
    await page.goto(`${base}/console/keys/${keyId}/deletion?region=${HK}`);
    await page.fill('#pending-days', '31');
    await page.click('#deletion-confirm');
    expect(await page.locator('.flash.error').textContent()).toContain('InvalidParameter.InvalidPendingWindowInDays');
    await page.fill('#pending-days', '7');
    const before = Math.floor(Date.now() / 1000);
    await page.click('#deletion-confirm');
    await page.waitForURL(/\/console\/keys\?region=/);
    expect(await page.locator('.flash.ok').textContent()).toContain('will be deleted at');
    const meta = await describe_(keyId);
    expect(meta.KeyState).toBe('PendingDelete');
    expect(Number(meta.DeletionDate) - before).toBeGreaterThanOrEqual(7 * 86400 - 5);
    expect(Number(meta.DeletionDate) - before).toBeLessThanOrEqual(7 * 86400 + 60);
    await page.goto(`${base}/console/keys?region=${HK}&q=to-delete`);
    expect(await rowOf(keyId).locator('.state').textContent()).toBe('PendingDelete');
    await shot(page, '15-pending-delete');
  });

  it('lists the alarm raised by using a key pending deletion', async () => {
    await hk('Encrypt', { KeyId: keyId, Plaintext: b64('x') }).catch(() => undefined);
    for (let i = 0; i < 50 && (await server.services.alarms.list(ROOT.uin)).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    await page.goto(`${base}/console/alarms`);
    expect(await page.locator('#alarms .alarm-key').allTextContents()).toContain(keyId);
    expect(await page.locator('#alarms .alarm-kind').first().textContent()).toBe('Key pending deletion was used');
    await shot(page, '16-alarms');
  });

  it('cancels the deletion: the key is Disabled again', async () => {
    await page.goto(`${base}/console/keys?region=${HK}&q=to-delete`);
    await rowOf(keyId).locator('[data-op=cancel-deletion]').click();
    expect(await page.locator('.flash.ok').textContent()).toContain('cancelled');
    expect(await rowOf(keyId).locator('.state').textContent()).toBe('Disabled');
    expect((await describe_(keyId)).KeyState).toBe('Disabled');
  });
});

describe('event history', () => {
  it("shows the last 7 days of events, the console's calls among them, filtered and expandable", async () => {
    await page.goto(`${base}/console/audit`);
    const today = new Date().toISOString().slice(0, 10);
    expect(await page.inputValue('#filter-end')).toBe(today);
    expect(Date.parse(today) - Date.parse(await page.inputValue('#filter-start'))).toBe(6 * 86400_000);
    expect(await page.locator('#events .event-row').count()).toBe(20);
    await page.fill('#filter-EventName', 'ScheduleKeyDeletion');
    await page.click('#audit-search');
    const names = await page.locator('#events .ev-name').allTextContents();
    expect(names.length).toBe(4); // console: refused, 31 days, 7 days; the SDK's in the batch test
    expect(new Set(names)).toEqual(new Set(['ScheduleKeyDeletion']));
    expect(await page.locator('#events .ev-result').allTextContents()).toEqual(expect.arrayContaining(['Success', 'Fail (ResourceUnavailable.CmkShouldBeDisabled)']));
    await page.locator('#events details.event > summary').first().click();
    const detail = await page.locator('#events .event-detail').first().textContent();
    expect(detail).toContain('Event ID');
    expect(detail).toContain('root');
    await shot(page, '17-audit');
    await page.fill('#filter-EventName', '');
    await page.fill('#filter-Username', 'nobody');
    await page.click('#audit-search');
    expect(await page.locator('#events .event-row').count()).toBe(0);
    await page.fill('#filter-Username', '');
    await page.click('#audit-search');
    await page.click('#audit-next');
    expect(await page.locator('#events .event-row').count()).toBeGreaterThan(0);
  });
});

describe('a sub-account acts with exactly its own permissions', () => {
  let reader: { secretId: string; secretKey: string };
  let nobody: { secretId: string; secretKey: string };
  beforeAll(async () => {
    const s = server.services;
    await s.identities.createUser(ROOT.uin, 'reader');
    await s.access.attach(ROOT.uin, 'QcloudKMSReadOnlyAccess', 'reader');
    reader = await s.identities.createCredential(ROOT.uin, 'reader');
    await s.identities.createUser(ROOT.uin, 'nobody');
    nobody = await s.identities.createCredential(ROOT.uin, 'nobody');
  });

  it('a read-only user lists keys but is refused creating one, with the CAM error shown', async () => {
    const p = await context
      .browser()!
      .newContext()
      .then((c) => c.newPage());
    try {
      await signInWithKey(p, base, reader.secretId, reader.secretKey);
      await p.goto(`${base}/console/keys?region=${HK}`);
      expect(await p.locator('#who').textContent()).toContain('reader');
      expect(await p.locator('#total').textContent()).toMatch(/Total \d+ keys/);
      await p.click('#create-key');
      await p.fill('#alias', 'not-allowed');
      await p.click('#create-ok');
      const error = await p.locator('#create-dialog .flash.error').textContent();
      expect(error).toContain('AuthFailure.UnauthorizedOperation');
      expect(error).toContain('kms:CreateKey');
      await shot(p, '18-subaccount-denied');
      expect((await hk('ListKeyDetail', { SearchKeyAlias: 'not-allowed', KeyUsage: 'ALL' })).TotalCount).toBe(0);
      await p.goto(`${base}/console/alarms`);
      const denied = await p.locator('.flash.error').textContent();
      expect(denied).toContain('AuthFailure.UnauthorizedOperation');
      expect(denied).toContain('cloudaudit:LookUpEvents');
    } finally {
      await p.context().close();
    }
  });

  it('a user without policies sees the denial of the list itself', async () => {
    const p = await context
      .browser()!
      .newContext()
      .then((c) => c.newPage());
    try {
      await signInWithKey(p, base, nobody.secretId, nobody.secretKey);
      const error = await p.locator('.flash.error').first().textContent();
      expect(error).toContain('AuthFailure.UnauthorizedOperation');
      expect(error).toContain('kms:ListKeyDetail');
      // The denial is in the audit trail like any API call's.
      const events = await server.services.auditRepo.query({ accountUin: ROOT.uin, userName: 'nobody', eventName: 'ListKeyDetail', limit: 5 });
      expect(events[0]).toMatchObject({ result: 'Fail', errorCode: 'AuthFailure.UnauthorizedOperation', secretId: nobody.secretId });
    } finally {
      await p.context().close();
    }
  });
});
