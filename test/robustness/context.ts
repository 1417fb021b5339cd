import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SecretLedger } from '../helpers/secret-ledger.js';

// State shared by the robustness parts, which run in one file in a fixed order so the secret
// scan comes after everything else: the ledger of secrets and places, the figures for
// docs/reliability.md, and the data dirs (kept until the scan has read them).

export const ledger = new SecretLedger();

export const figures: Record<string, unknown> = {};

const dirs: string[] = [];
export function dataDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `hsmkms-${prefix}-`));
  dirs.push(dir);
  ledger.addDataDir(dir);
  return dir;
}
export function removeDataDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

const output: string[] = [];
/** Everything the suite prints goes through here, so the secret scan reads the test output too. */
export function say(line: string): void {
  output.push(line);
  console.log(`[robustness] ${line}`);
}
ledger.addText('test output', () => output.join('\n'));

export function envFor(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, KMS_DATA_DIR: dir, KMS_LOG_LEVEL: 'info', KMS_JOBS_INTERVAL_SECONDS: '0', ...extra };
}
