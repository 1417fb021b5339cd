import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { describe } from 'vitest';
import { loadProfile } from '../../src/pkcs11/profile.js';
import { provisionSoftHsm } from '../../src/pkcs11/softhsm.js';
import { Token, type TokenOptions } from '../../src/pkcs11/token.js';

// A fresh token on one of the PKCS#11 modules CI runs the token suites on (hsm/<module>.json):
//  - softhsm2: its own token directory and softhsm2.conf in a temp data dir (as scripts/setup);
//  - nss: a new NSS sql: database in the temp data dir (scripts/token-nss provision);
//  - opencryptoki: THE soft token of this machine, wiped (scripts/token-opencryptoki reset). There
//    is one per machine, so tests on it run one at a time (vitest runs files serially here), and
//    no process — this one included — may have a session open on it when the next token is made.
// PKCS#11's C_Initialize is process-wide: one module per test process (KMS_TEST_MODULE).
// A module that is not installed or not running fails loudly here; nothing is skipped.

export type ModuleName = 'softhsm2' | 'nss' | 'opencryptoki';
export const MODULES: readonly ModuleName[] = ['softhsm2', 'nss', 'opencryptoki'];

function moduleName(value: string): ModuleName {
  if (!(MODULES as readonly string[]).includes(value)) throw new Error(`KMS_TEST_MODULE must be one of ${MODULES.join(', ')}, not "${value}"`);
  return value as ModuleName;
}

/** The module the token suites run against in this process (CI runs them once per module). */
export const MODULE_UNDER_TEST: ModuleName = moduleName(process.env.KMS_TEST_MODULE || 'softhsm2');

const REPO = path.resolve(import.meta.dirname, '..', '..');
const LABEL = 'hsmkms';

export interface ModuleToken {
  name: ModuleName;
  /** the PKCS#11 library path */
  module: string;
  /** the profile name in hsm/ (KMS_HSM_PROFILE) */
  profile: string;
  label: string;
  pin: string;
  /** C_Initialize's pReserved string (NSS only), as KMS_PKCS11_INIT_ARGS carries it */
  initArgs?: string;
  dataDir: string;
  /** the same PIN, in $dataDir/user.pin (0600) */
  pinFile: string;
  /** what a server or CLI child process needs to use this token */
  env: NodeJS.ProcessEnv;
  /** seconds provisioning took (reported by the probe test) */
  provisionSeconds: number;
  cleanup(): void;
}

let liveOpencryptoki: string | undefined;

function run(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  try {
    return execFileSync(path.join(REPO, 'scripts', script), args, { env, stdio: 'pipe', encoding: 'utf8' });
  } catch (err) {
    // The scripts never print PINs; their stderr says what is missing.
    const e = err as { stderr?: string; message: string };
    throw new Error(`scripts/${script} ${args[0]} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/**
 * A fresh token labelled "hsmkms" with a generated user PIN on `name`'s module. SoftHSM2 reads
 * SOFTHSM2_CONF at C_Initialize: for softhsm2 it is also set in this process's environment.
 */
export function createModuleToken(name: ModuleName = MODULE_UNDER_TEST, prefix = 'hsmkms-test-'): ModuleToken {
  const dataDir = mkdtempSync(path.join(tmpdir(), prefix));
  try {
    return provisionModuleToken(name, dataDir);
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The same, in a data dir the caller made (a test server's): the token's files (SoftHSM2's token
 * directory, NSS's database) go under it; openCryptoki's machine-wide token is wiped. `cleanup()`
 * removes the data dir.
 */
export function provisionModuleToken(name: ModuleName, dataDir: string, chosenPin?: string): ModuleToken {
  // The PIN the caller chose, else the one provisioning generates (read back from the PIN file).
  const pin0 = chosenPin;
  const profile = loadProfile(name);
  const module = profile.module;
  if (!existsSync(module)) {
    const hint = { softhsm2: 'scripts/setup installs softhsm2', nss: 'scripts/token-nss install', opencryptoki: 'scripts/token-opencryptoki install' }[name];
    throw new Error(`${name}: PKCS#11 module ${module} not installed (${hint})`);
  }
  if (name === 'opencryptoki' && liveOpencryptoki) {
    throw new Error(`openCryptoki has one token per machine, still in use by ${liveOpencryptoki}: cleanup() it (and C_Finalize) before making the next`);
  }
  const pinFile = path.join(dataDir, 'user.pin');
  // Variables of the parent's own token must not leak into this one's (an init string on a
  // module that takes none fails C_Initialize with CKR_ARGUMENTS_BAD).
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['SOFTHSM2_CONF', 'KMS_PKCS11_INIT_ARGS', 'KMS_PKCS11_PIN', 'KMS_PKCS11_PIN_FILE', 'KMS_PKCS11_MODULE', 'KMS_HSM_PROFILE']) delete base[k];
  const started = performance.now();
  let initArgs: string | undefined;
  let conf: string | undefined;
  switch (name) {
    case 'softhsm2': {
      conf = path.join(dataDir, 'softhsm2.conf');
      provisionSoftHsm({ dataDir, conf, label: LABEL, pinFile, pin: pin0 });
      if (pin0) writeFileSync(pinFile, `${pin0}\n`, { mode: 0o600 });
      break;
    }
    case 'nss':
      // Where hsm/nss.json's initArgs puts it ({dataDir}/nss), so a server finds it unaided.
      initArgs = run('token-nss', ['provision', path.join(dataDir, 'nss'), LABEL, pinFile], { ...base, ...(pin0 ? { KMS_PKCS11_PIN: pin0 } : {}) }).trim();
      if (pin0) writeFileSync(pinFile, `${pin0}\n`, { mode: 0o600 });
      break;
    case 'opencryptoki':
      run('token-opencryptoki', ['status'], base);
      run('token-opencryptoki', ['reset', LABEL, pinFile], { ...base, ...(pin0 ? { KMS_PKCS11_PIN: pin0 } : {}) });
      if (pin0) writeFileSync(pinFile, `${pin0}\n`, { mode: 0o600 });
      liveOpencryptoki = dataDir;
      break;
  }
  const provisionSeconds = (performance.now() - started) / 1000;
  const pin = readFileSync(pinFile, 'utf8').trim();
  const env: NodeJS.ProcessEnv = {
    ...base,
    KMS_DATA_DIR: dataDir,
    KMS_HSM_PROFILE: name,
    KMS_PKCS11_MODULE: module,
    KMS_PKCS11_TOKEN_LABEL: LABEL,
    KMS_PKCS11_PIN: pin,
    ...(initArgs ? { KMS_PKCS11_INIT_ARGS: initArgs } : {}),
    ...(conf ? { SOFTHSM2_CONF: conf } : {}),
  };
  if (conf) process.env.SOFTHSM2_CONF = conf;
  return {
    name,
    module,
    profile: name,
    label: LABEL,
    pin,
    initArgs,
    dataDir,
    pinFile,
    env,
    provisionSeconds,
    cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
      if (liveOpencryptoki === dataDir) liveOpencryptoki = undefined;
    },
  };
}

/** Opens the token layer on a module token, as the server would. */
export function openModuleToken(token: ModuleToken, extra: Partial<TokenOptions> = {}): Promise<Token> {
  return Token.open({
    modulePath: token.module,
    tokenLabel: token.label,
    pin: token.pin,
    profile: loadProfile(token.profile),
    initArgs: token.initArgs,
    healthObject: { keyId: 'kek', version: 1 },
    ...extra,
  });
}

/**
 * C_Initialize options for a module token. pkcs11js 2.1.7 drops the last character of
 * libraryParameters (its buffer is one byte short), so one blank is appended: NSS skips it.
 */
export function initializeOptions(token: Pick<ModuleToken, 'initArgs'>): pkcs11js.InitializationOptions {
  return token.initArgs ? { libraryParameters: `${token.initArgs} `, flags: pkcs11js.CKF_OS_LOCKING_OK } : { flags: pkcs11js.CKF_OS_LOCKING_OK };
}

/** A token label as C_GetTokenInfo gives it: blank padded (openCryptoki pads descriptions with NULs). */
export function trimLabel(label: string): string {
  return label.replace(/[\s\0]+$/, '');
}

export interface RawModule {
  p11: pkcs11js.PKCS11;
  slot: Buffer;
  session: Buffer;
  finalize(): void;
}

/**
 * Raw pkcs11js on a module token: initialised, the slot found by label, one R/W session logged in.
 * openCryptoki can come back from a C_Initialize that raced other processes with no slots at all
 * (hsm/opencryptoki.json): finalise and initialise again a few times before giving up.
 */
export async function openRaw(token: ModuleToken, opts: { login?: boolean } = {}): Promise<RawModule> {
  const p11 = new pkcs11js.PKCS11();
  p11.load(token.module);
  let slot: Buffer | undefined;
  for (let attempt = 0; attempt < 10 && !slot; attempt++) {
    if (attempt > 0) {
      p11.C_Finalize();
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
    p11.C_Initialize(initializeOptions(token));
    slot = p11.C_GetSlotList(true).find((s) => trimLabel(p11.C_GetTokenInfo(s).label) === token.label);
  }
  if (!slot) {
    p11.C_Finalize();
    throw new Error(`${token.name}: no token labelled ${token.label}`);
  }
  const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  if (opts.login !== false) p11.C_Login(session, pkcs11js.CKU_USER, token.pin);
  return {
    p11,
    slot,
    session,
    finalize() {
      try {
        p11.C_Finalize();
      } catch {
        /* finalised already */
      }
    },
  };
}

/**
 * What the module under test offers, as its profile says; the token suites hold the profile
 * against the token itself (token status: every mechanism's `expected` equals `offered`), so
 * suites may shape themselves by it. What a module lacks is then asserted refused, not skipped.
 */
export const MODULE_OFFERS = (() => {
  const m = loadProfile(MODULE_UNDER_TEST).mechanisms;
  const has = (name: string) => m[name]?.available === true;
  return {
    /** AES-256 CMKs in FIPS regions (and AES-GCM for the KEK). */
    aesGcm: has('CKM_AES_KEY_GEN') && has('CKM_AES_GCM'),
    /** ECC P-256/P-384 signing keys. */
    ec: has('CKM_EC_KEY_PAIR_GEN') && has('CKM_ECDSA'),
    /** The audit key's scheme on this module. */
    auditScheme: has('CKM_EC_KEY_PAIR_GEN') && has('CKM_ECDSA') ? 'ecdsa-p256' : 'rsa-pss-sha256',
  } as const;
})();

/**
 * `describe` for a block that needs something the module under test may lack: defined where it
 * offers it, not defined at all elsewhere (so not counted as skipped) — a test beside it asserts
 * the refusal instead.
 */
export function describeWhere(offered: boolean): (name: string, fn: () => void) => void {
  return offered ? describe : () => undefined;
}
