import pkcs11js from 'pkcs11js';
import path from 'node:path';
import { ckrOf, InvalidInputError } from './errors.js';

// One loaded PKCS#11 library per module path and process: C_Initialize is
// process-wide, and so is the login (docs/contract/token-facts.md#login). Token instances
// share it and count their references.

export interface LibraryOptions {
  /** C_Initialize flags (CKF_OS_LOCKING_OK keeps SoftHSM2's mutexes on). */
  flags: number;
  /** C_Initialize pReserved: a module's init string (NSS softoken needs its database there). */
  initArgs?: string;
}

interface Loaded extends LibraryOptions {
  p11: pkcs11js.PKCS11;
  refs: number;
  initialized: boolean;
}

const loaded = new Map<string, Loaded>();

export function flagsOf(names: string[]): number {
  let flags = 0;
  for (const n of names) {
    const v = (pkcs11js as unknown as Record<string, unknown>)[n];
    if (typeof v !== 'number') throw new Error(`unknown C_Initialize flag ${n}`);
    flags |= v;
  }
  return flags;
}

export function acquireLibrary(modulePath: string, options: LibraryOptions): pkcs11js.PKCS11 {
  let entry = loaded.get(modulePath);
  if (!entry) {
    // NSS softoken without its configuration directory crashes the process inside C_Initialize
    // (SIGSEGV) instead of answering an error (docs/contract/token-facts.md#nss-softoken).
    if (/^libsoftokn3\b/.test(path.basename(modulePath)) && !/\bconfigdir\s*=/.test(options.initArgs ?? '')) {
      throw new InvalidInputError(
        `NSS softoken (${modulePath}) needs an init string with configdir='sql:<database dir>': set KMS_PKCS11_INIT_ARGS or the profile's initArgs (docs/hsm.md)`,
      );
    }
    const p11 = new pkcs11js.PKCS11();
    p11.load(modulePath);
    entry = { p11, refs: 0, initialized: false, ...options };
    loaded.set(modulePath, entry);
  }
  entry.refs++;
  try {
    initializeLibrary(modulePath);
  } catch (err) {
    releaseLibrary(modulePath);
    throw err;
  }
  return entry.p11;
}

/** C_Initialize with the profile's flags and init string. */
export function initializeLibrary(modulePath: string): void {
  const entry = loaded.get(modulePath);
  if (!entry || entry.initialized) return;
  try {
    // pkcs11js 2.1.7 copies libraryParameters into a buffer one byte short and so drops its
    // last character (docs/contract/token-facts.md#pkcs11js-errors): a trailing space is what it drops.
    entry.p11.C_Initialize(entry.initArgs === undefined ? { flags: entry.flags } : { flags: entry.flags, libraryParameters: `${entry.initArgs} ` });
  } catch (err) {
    if (ckrOf(err) !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw err;
  }
  entry.initialized = true;
}

/** How many Token instances of this process use the library (C_Finalize affects them all). */
export function libraryUsers(modulePath: string): number {
  return loaded.get(modulePath)?.refs ?? 0;
}

/** C_Finalize for recovery: everything (sessions, session objects, login) is gone after it. */
export function finalizeLibrary(modulePath: string): void {
  const entry = loaded.get(modulePath);
  if (!entry?.initialized) return;
  entry.initialized = false;
  try {
    entry.p11.C_Finalize();
  } catch {
    // Already finalised or the token is gone: either way we initialise afresh next.
  }
}

export function releaseLibrary(modulePath: string): void {
  const entry = loaded.get(modulePath);
  if (!entry) return;
  entry.refs--;
  if (entry.refs > 0) return;
  finalizeLibrary(modulePath);
  try {
    entry.p11.close();
  } catch {
    // Unloading is best effort at shutdown.
  }
  loaded.delete(modulePath);
}
