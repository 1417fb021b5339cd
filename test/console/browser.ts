import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO } from '../helpers/cli.js';

// Debian's chromium, headless, driven by playwright-core. Screenshots of each flow
// are kept under test-artifacts/console/ (gitignored).

export const ARTIFACTS = path.join(REPO, 'test-artifacts', 'console');

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-background-networking'] });
}

export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The bytes of a file the page downloads when `click` runs. */
export async function download(page: Page, click: () => Promise<void>): Promise<{ name: string; body: Buffer }> {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  const file = await d.path();
  return { name: d.suggestedFilename(), body: readFileSync(file) };
}

export async function signInWithKey(page: Page, base: string, secretId: string, secretKey: string): Promise<void> {
  await page.goto(`${base}/console/login`);
  await page.fill('#secretId', secretId);
  await page.fill('#secretKey', secretKey);
  await page.click('#login-secret button[type=submit]');
}
