import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadProfile } from '../../src/pkcs11/profile.js';
import { Token, type TokenOptions } from '../../src/pkcs11/token.js';

export const SOFTHSM_MODULE = process.env.KMS_PKCS11_MODULE || '/usr/lib/softhsm/libsofthsm2.so';
const TEMPLATE = path.resolve(import.meta.dirname, '..', '..', 'softhsm.conf');

export interface TestToken {
  dataDir: string;
  tokenDir: string;
  conf: string;
  label: string;
  pin: string;
  soPin: string;
  env: NodeJS.ProcessEnv;
  open(extra?: Partial<TokenOptions>): Promise<Token>;
  cleanup(): void;
}

/**
 * A fresh SoftHSM2 token in its own temp data dir, initialised the way scripts/setup does
 * (softhsm2-util). SOFTHSM2_CONF is set for this process: SoftHSM2 reads it at C_Initialize.
 * A missing SoftHSM2 fails loudly here rather than skipping tests.
 */
export function createTestToken(prefix = 'hsmkms-test-'): TestToken {
  const dataDir = mkdtempSync(path.join(tmpdir(), prefix));
  const tokenDir = path.join(dataDir, 'tokens');
  mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
  const conf = path.join(dataDir, 'softhsm2.conf');
  writeFileSync(conf, readFileSync(TEMPLATE, 'utf8').replaceAll('@TOKENDIR@', tokenDir), { mode: 0o600 });
  const label = 'hsmkms';
  const pin = randomBytes(8).toString('hex');
  const soPin = randomBytes(8).toString('hex');
  const env = { ...process.env, SOFTHSM2_CONF: conf, KMS_DATA_DIR: dataDir, KMS_PKCS11_PIN: pin, KMS_PKCS11_TOKEN_LABEL: label };
  try {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], { env, stdio: 'pipe' });
  } catch (err) {
    // The command line holds the PINs: report only what SoftHSM2 said.
    throw new Error(`softhsm2-util --init-token failed: ${(err as { stderr?: Buffer }).stderr?.toString().trim()}`);
  }
  process.env.SOFTHSM2_CONF = conf;
  return {
    dataDir,
    tokenDir,
    conf,
    label,
    pin,
    soPin,
    env,
    open: (extra) => Token.open({ modulePath: SOFTHSM_MODULE, tokenLabel: label, pin, profile: loadProfile('softhsm2'), ...extra }),
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}
