import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Provisioning of the development/CI token: SoftHSM2's configuration under the data dir
// and a token initialised with softhsm2-util. A real HSM is provisioned with its vendor's
// tools (docs/hsm.md); nothing here runs for other profiles.

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []));
export const SOFTHSM_TEMPLATE = path.join(REPO, 'softhsm.conf');

export interface SoftHsmProvision {
  conf: string;
  tokenDir: string;
  created: boolean;
}

export class ProvisionError extends Error {
  readonly code = 'ProvisionError';
}

/** Write $KMS_DATA_DIR/softhsm2.conf from the template, with the token directory inside the data dir. */
export function writeSoftHsmConf(dataDir: string, conf = path.join(dataDir, 'softhsm2.conf')): { conf: string; tokenDir: string } {
  const tokenDir = path.join(dataDir, 'tokens');
  mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
  const text = readFileSync(SOFTHSM_TEMPLATE, 'utf8').replaceAll('@TOKENDIR@', tokenDir);
  if (!existsSync(conf) || readFileSync(conf, 'utf8') !== text) writeFileSync(conf, text, { mode: 0o600 });
  return { conf, tokenDir };
}

function softhsmUtil(args: string[], conf: string): string {
  try {
    return execFileSync('softhsm2-util', args, { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'pipe' }).toString();
  } catch (err) {
    // The command line may hold PINs: report only what softhsm2-util said.
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === 'ENOENT') throw new ProvisionError('softhsm2-util not found: install softhsm2 (scripts/setup does)');
    throw new ProvisionError(`softhsm2-util ${args[0]} failed: ${e.stderr?.toString().trim() ?? 'unknown error'}`);
  }
}

export function softHsmTokenExists(conf: string, label: string): boolean {
  const out = softhsmUtil(['--show-slots'], conf);
  return out.split('\n').some((line) => /^\s*Label:\s*(.*)$/.exec(line)?.[1]?.trim() === label);
}

/**
 * Create the token when absent. The user PIN is `pin` when given, else generated; it is
 * written to `pinFile` (0600) unless it came from the environment. The SO PIN is random
 * and kept 0600 beside it, for the operator's C_InitPIN.
 */
export function provisionSoftHsm(opts: { dataDir: string; conf: string; label: string; pin?: string; pinFile: string }): SoftHsmProvision {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const { conf, tokenDir } = writeSoftHsmConf(opts.dataDir, opts.conf);
  if (softHsmTokenExists(conf, opts.label)) return { conf, tokenDir, created: false };
  let pin = opts.pin;
  if (!pin) {
    pin = existsSync(opts.pinFile) ? readFileSync(opts.pinFile, 'utf8').trim() : randomBytes(16).toString('hex');
    writeFileSync(opts.pinFile, `${pin}\n`, { mode: 0o600 });
  }
  const soPin = randomBytes(16).toString('hex');
  writeFileSync(path.join(opts.dataDir, 'so.pin'), `${soPin}\n`, { mode: 0o600 });
  softhsmUtil(['--init-token', '--free', '--label', opts.label, '--pin', pin, '--so-pin', soPin], conf);
  return { conf, tokenDir, created: true };
}
