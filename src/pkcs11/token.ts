import { createHash, createPublicKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pkcs11js from 'pkcs11js';
import { p256, p384 } from '@noble/curves/nist.js';
import {
  DecryptFailedError,
  HsmError,
  InvalidInputError,
  isGeneralError,
  isHandleInvalid,
  isTokenLost,
  LoginFailedError,
  MaterialMismatchError,
  MechanismUnsupportedError,
  ObjectNotFoundError,
  TokenUnavailableError,
  ckrOf,
  translate,
} from './errors.js';
import { acquireLibrary, finalizeLibrary, flagsOf, initializeLibrary, libraryUsers, releaseLibrary } from './library.js';
import type { TokenProfile } from './profile.js';
import {
  assertFlatTemplate,
  labelOf,
  parseLabel,
  privateKeyTemplate,
  publicKeyTemplate,
  secretKeyTemplate,
  type ObjectName,
  type PairUsage,
  type SecretUsage,
  type Template,
} from './templates.js';
import { oaepDecode } from './oaep.js';

// The token port: the only place the service speaks PKCS#11. Handles, CKA and CKM
// constants never leave this file; callers name objects by service key id and version.

type Handle = Buffer;

/**
 * Output room for RSA private-key operations: the largest modulus (4096 bits). Sized from the
 * input instead, a short ciphertext made C_Decrypt answer CKR_BUFFER_TOO_SMALL, which by the
 * standard leaves the operation active and the session unusable.
 */
const RSA_OUT_MAX = 512;

export type RsaBits = 2048 | 3072 | 4096;
export type EcCurve = 'P-256' | 'P-384';
export type RsaDecryptScheme = 'oaep-sha1' | 'oaep-sha256' | 'pkcs1';
export type SignScheme = 'rsa-pss-sha256' | 'rsa-pkcs1-sha256' | 'ecdsa';
export type UnwrapScheme = 'rsa-pkcs1' | 'rsa-oaep-sha1' | 'rsa-oaep-sha256' | 'aes-kwp';

export interface TokenOptions {
  modulePath: string;
  tokenLabel: string;
  pin: string;
  profile: TokenProfile;
  /** Sessions for *Async calls; the profile's size when absent. */
  poolSize?: number;
  /** In-memory session copies of AES keys kept at most (profile.sessionKeyCopies). */
  maxSessionCopies?: number;
  /** How long an operation waits for the token to come back before TokenUnavailableError. */
  recoverTimeoutMs?: number;
  /** How long open() tries again when it did not find or could not read the token (default 2 s; see open()). */
  openRetryMs?: number;
  onEvent?: (event: string, detail: Record<string, unknown>) => void;
}

export interface GcmResult {
  iv: Buffer;
  /** ciphertext ‖ 16-byte tag, as PKCS#11 and Node's aes-256-gcm lay it out */
  ciphertext: Buffer;
}

export interface PublicKeyExport {
  der: Buffer;
  pem: string;
  keyObject: KeyObject;
}

export interface TokenObjectInfo {
  name: ObjectName;
  kind: 'secret' | 'private' | 'public' | 'data';
}

export interface MechanismStatus {
  name: string;
  expected: boolean;
  offered: boolean | null;
  use: string;
}

export interface TokenStatus {
  module: string;
  profile: string;
  slot: string;
  tokenLabel: string;
  serial: string;
  manufacturer: string;
  model: string;
  loggedIn: boolean;
  objects: { secret: number; private: number; public: number; data: number; total: number };
  mechanisms: MechanismStatus[];
}

const SENTINEL: ObjectName = { keyId: 'sentinel', version: 0 };
const GCM_IV_BYTES = 12;
const IV_POOL_BYTES = GCM_IV_BYTES * 512;

/** PKCS#11 3.2 values (OASIS PKCS#11 v3.2 pkcs11t.h) for ML-DSA. */
const PKCS11_3_2 = {
  CKM_ML_DSA_KEY_PAIR_GEN: 0x1c,
  CKM_ML_DSA: 0x1d,
  CKK_ML_DSA: 0x4a,
  CKA_PARAMETER_SET: 0x61d,
  CKP_ML_DSA_65: 0x2,
} as const;

/** DER OID of sm2p256v1 (1.2.156.10197.1.301), CKA_EC_PARAMS of vendor SM2 keys. */
const SM2_EC_PARAMS = Buffer.from('06082a811ccf5501822d', 'hex');

const EC_PARAMS: Record<EcCurve, Buffer> = {
  // DER OIDs, as CKA_EC_PARAMS must be (hsm-notes.md): prime256v1, secp384r1
  'P-256': Buffer.from('06082a8648ce3d030107', 'hex'),
  'P-384': Buffer.from('06052b81040022', 'hex'),
};
const EC_HASH: Record<EcCurve, string> = { 'P-256': 'sha256', 'P-384': 'sha384' };
// Constants pkcs11js does not export (PKCS#11 v2.40 pkcs11t.h).
const CKZ_DATA_SPECIFIED = 0x1;
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

function mechanismNumber(name: string): number | undefined {
  const v = (pkcs11js as unknown as Record<string, unknown>)[name];
  return typeof v === 'number' ? v : undefined;
}

function trimmed(s: string): string {
  return s.replace(/[\s\0]+$/, '');
}

export class Token {
  private readonly p11: pkcs11js.PKCS11;
  private slot: Handle | undefined;
  /** Used for every synchronous call, and owner of the session key copies. */
  private main: Handle | undefined;
  private readonly free: Handle[] = [];
  private readonly waiters: Array<(s: Handle) => void> = [];
  private poolSessions: Handle[] = [];
  private readonly handles = new Map<string, Handle>();
  private readonly copies = new Map<string, Handle>();
  private readonly noCopy = new Set<string>();
  private ivPool: Buffer = Buffer.alloc(0);
  private ivOffset = 0;
  private offered = new Set<number>();
  /** Token-object creation and destruction, one at a time (see `serialized`). */
  private objectLock: Promise<unknown> = Promise.resolve();
  private generation = 0;
  private recovering: Promise<void> | undefined;
  private asyncInFlight = 0;
  private closed = false;
  private readonly poolSize: number;
  private readonly maxCopies: number;
  private readonly recoverTimeoutMs: number;

  private constructor(private readonly opts: TokenOptions) {
    this.poolSize = opts.poolSize ?? opts.profile.sessionPoolSize;
    this.maxCopies = opts.profile.sessionKeyCopies ? (opts.maxSessionCopies ?? 10_000) : 0;
    this.recoverTimeoutMs = opts.recoverTimeoutMs ?? 5_000;
    this.p11 = acquireLibrary(opts.modulePath, flagsOf(opts.profile.initializeFlags));
  }

  static async open(opts: TokenOptions): Promise<Token> {
    const token = new Token(opts);
    const deadline = Date.now() + (opts.openRetryMs ?? 2_000);
    for (let delay = 25; ; delay = Math.min(delay * 2, 250)) {
      try {
        token.connect();
        token.ensureSentinel();
        return token;
      } catch (err) {
        // SoftHSM2 reads a token's files without a lock against another process rewriting them
        // (its login, its new objects): a process starting then finds no token of that label,
        // or C_GetTokenInfo or C_Login fails with CKR_GENERAL_ERROR (seen with processes
        // starting together; SoftHSMv2 issue #757). A fresh C_Initialize a moment later reads
        // them whole. Not for a refused PIN; and only when no other Token of this process uses
        // the library, since C_Finalize would end their sessions too.
        if (!(err instanceof LoginFailedError) && Date.now() + delay < deadline && libraryUsers(opts.modulePath) === 1) {
          token.disconnect();
          finalizeLibrary(opts.modulePath);
          await sleep(delay);
          continue;
        }
        token.close();
        throw translate(err, 'open token');
      }
    }
  }

  get profile(): TokenProfile {
    return this.opts.profile;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.disconnect();
    releaseLibrary(this.opts.modulePath);
  }

  // ---- connection, pool, recovery -------------------------------------------------

  private findSlot(): Handle {
    for (const slot of this.p11.C_GetSlotList(true)) {
      const info = this.p11.C_GetTokenInfo(slot);
      if (trimmed(info.label) === this.opts.tokenLabel) return slot;
    }
    throw new TokenUnavailableError(`no token labelled "${this.opts.tokenLabel}" in ${this.opts.modulePath}`);
  }

  private connect(): void {
    initializeLibrary(this.opts.modulePath);
    const slot = this.findSlot();
    const flags = pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION;
    const main = this.p11.C_OpenSession(slot, flags);
    try {
      this.p11.C_Login(main, pkcs11js.CKU_USER, this.opts.pin);
    } catch (err) {
      if (ckrOf(err) !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) {
        try {
          this.p11.C_CloseSession(main);
        } catch {
          /* closing a session we could not use */
        }
        const e = translate(err, 'login');
        // CKR_GENERAL_ERROR: SoftHSM2 could not read the token's files (see open()), not a
        // refusal of the PIN; open() and recover() try again.
        if (isGeneralError(err)) throw e;
        throw e instanceof LoginFailedError ? e : new LoginFailedError(`login: ${e.message}`, e.ckr);
      }
    }
    this.slot = slot;
    this.main = main;
    this.offered = new Set(this.p11.C_GetMechanismList(slot));
    this.poolSessions = [];
    for (let i = 0; i < this.poolSize; i++) this.poolSessions.push(this.p11.C_OpenSession(slot, flags));
    this.free.length = 0;
    this.free.push(...this.poolSessions);
    this.handles.clear();
    this.copies.clear();
    this.noCopy.clear();
    this.ivPool = Buffer.alloc(0);
    this.ivOffset = 0;
    this.generation++;
  }

  private disconnect(): void {
    // Closing the sessions destroys the session copies; no C_Logout: it is per process
    // and would log out every other Token on this library (hsm-notes.md must-know 5).
    for (const s of [this.main, ...this.poolSessions]) {
      if (!s) continue;
      try {
        this.p11.C_CloseSession(s);
      } catch {
        /* the session may already be gone */
      }
    }
    this.main = undefined;
    this.poolSessions = [];
    this.free.length = 0;
    this.handles.clear();
    this.copies.clear();
  }

  /**
   * Token lost (hsm-notes.md §6): drain in-flight async calls, finalize, initialise,
   * find the slot by label, log in, rebuild the cache — with back-off until the deadline.
   */
  private recover(seenGeneration: number, reason: string, timeoutMs = this.recoverTimeoutMs): Promise<void> {
    if (this.generation !== seenGeneration) return Promise.resolve();
    if (this.recovering) return this.recovering;
    this.opts.onEvent?.('token.recovering', { reason });
    this.recovering = (async () => {
      const deadline = Date.now() + timeoutMs;
      while (this.asyncInFlight > 0 && Date.now() < deadline) await sleep(5);
      let delay = 25;
      for (;;) {
        this.disconnect();
        finalizeLibrary(this.opts.modulePath);
        try {
          this.connect();
          this.ensureSentinel();
          this.opts.onEvent?.('token.recovered', { reason });
          return;
        } catch (err) {
          if (err instanceof LoginFailedError) throw err;
          if (Date.now() + delay > deadline) {
            const e = translate(err, 'reconnect');
            throw new TokenUnavailableError(`token unavailable: ${e.message}`, e.ckr);
          }
          await sleep(delay);
          delay = Math.min(delay * 2, 500);
        }
      }
    })().finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  /**
   * Run one token operation with recovery: a stale handle is re-found once; a lost
   * session or token triggers recovery and a retry; everything else is translated.
   */
  private async run<T>(operation: string, kind: 'decrypt' | 'verify' | 'other', fn: () => T | Promise<T>, timeoutMs = this.recoverTimeoutMs): Promise<T> {
    let staleRetried = false;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.closed) throw new TokenUnavailableError(`${operation}: token closed`);
      if (this.recovering) {
        try {
          await this.recovering;
        } catch {
          /* this call retries recovery itself below */
        }
      }
      const gen = this.generation;
      try {
        if (!this.main) throw new TokenUnavailableError(`${operation}: not connected`);
        return await fn();
      } catch (err) {
        if (isHandleInvalid(err) && !staleRetried) {
          staleRetried = true;
          this.handles.clear();
          this.copies.clear();
          continue;
        }
        const lost = isTokenLost(err) || err instanceof TokenUnavailableError || ((isGeneralError(err) || err instanceof ObjectNotFoundError) && this.tokenLooksLost());
        if (!lost) throw translate(err, operation, kind);
        if (Date.now() > deadline) throw new TokenUnavailableError(`${operation}: token unavailable`);
        try {
          await this.recover(gen, operation, Math.max(0, deadline - Date.now()));
        } catch (recoverErr) {
          if (Date.now() > deadline || recoverErr instanceof LoginFailedError) throw translate(recoverErr, operation);
        }
      }
    }
  }

  /** The health probe of hsm-notes.md §6: C_GetTokenInfo plus finding the sentinel object. */
  private tokenLooksLost(): boolean {
    try {
      if (!this.slot || !this.main) return true;
      this.p11.C_GetTokenInfo(this.slot);
      return this.findObjects(this.main, labelOf(SENTINEL), pkcs11js.CKO_DATA).length === 0;
    } catch {
      return true;
    }
  }

  private async withPoolSession<T>(fn: (s: Handle) => Promise<T>): Promise<T> {
    let s = this.free.pop() ?? (await new Promise<Handle>((resolve) => this.waiters.push(resolve)));
    const gen = this.generation;
    this.asyncInFlight++;
    try {
      return await fn(s);
    } catch (err) {
      // A failed call may leave an operation active on the session (CKR_BUFFER_TOO_SMALL, a
      // vendor's quirk): hand a fresh session back to the pool instead of a poisoned one.
      if (gen === this.generation) s = this.renewPoolSession(s);
      throw err;
    } finally {
      this.asyncInFlight--;
      // A session from before a recovery is dead; the new pool was filled by connect().
      if (gen === this.generation) {
        const next = this.waiters.shift();
        if (next) next(s);
        else this.free.push(s);
      } else {
        const next = this.waiters.shift();
        const fresh = this.free.pop();
        if (next && fresh) next(fresh);
        else if (next) this.waiters.unshift(next);
      }
    }
  }

  private renewPoolSession(old: Handle): Handle {
    try {
      const fresh = this.p11.C_OpenSession(this.slot!, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        this.p11.C_CloseSession(old);
      } catch {
        /* already gone */
      }
      const i = this.poolSessions.indexOf(old);
      if (i >= 0) this.poolSessions[i] = fresh;
      return fresh;
    } catch {
      return old; // the token is going away: recovery rebuilds the pool
    }
  }

  private ensureSentinel(): void {
    const s = this.main!;
    const label = labelOf(SENTINEL);
    if (this.findObjects(s, label, pkcs11js.CKO_DATA).length > 0) return;
    this.p11.C_CreateObject(
      s,
      assertFlatTemplate([
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: false },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_APPLICATION, value: 'hsmkms' },
        { type: pkcs11js.CKA_VALUE, value: Buffer.from('hsmkms token sentinel') },
      ]),
    );
  }

  // ---- lookup ----------------------------------------------------------------------

  private findObjects(session: Handle, label: string, cls?: number): Handle[] {
    const t: Template = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
    ];
    if (cls !== undefined) t.push({ type: pkcs11js.CKA_CLASS, value: cls });
    this.p11.C_FindObjectsInit(session, t);
    try {
      return this.p11.C_FindObjects(session, 16);
    } finally {
      this.p11.C_FindObjectsFinal(session);
    }
  }

  /** Token object by name and class, from the handle cache (finds are linear scans: hsm-notes.md §4). */
  private handleOf(name: ObjectName, cls: number, label = labelOf(name)): Handle {
    const key = `${cls}|${label}`;
    const cached = this.handles.get(key);
    if (cached) return cached;
    // Two processes creating objects may see a duplicate handle for one object: take the first.
    const found = this.findObjects(this.main!, label, cls)[0];
    if (!found) throw new ObjectNotFoundError(`token object ${label} not found`);
    this.handles.set(key, found);
    return found;
  }

  /**
   * The handle to use for an AES operation: an in-memory session copy when the profile
   * allows it (SoftHSM2 runs GCM ~2x faster on session objects, hsm-notes.md §4). The copy
   * keeps SENSITIVE and non-EXTRACTABLE; it dies with the main session or at recovery.
   */
  private secretHandle(name: ObjectName): Handle {
    const label = labelOf(name);
    const copy = this.copies.get(label);
    if (copy) return copy;
    const h = this.handleOf(name, pkcs11js.CKO_SECRET_KEY, label);
    if (this.maxCopies === 0 || this.noCopy.has(label)) return h;
    try {
      const c = this.p11.C_CopyObject(this.main!, h, [{ type: pkcs11js.CKA_TOKEN, value: false }]);
      if (this.copies.size >= this.maxCopies) this.evictOneCopy();
      this.copies.set(label, c);
      return c;
    } catch (err) {
      if (isTokenLost(err)) throw err;
      this.noCopy.add(label); // created non-modifiable: use the token object
      return h;
    }
  }

  private evictOneCopy(): void {
    const first = this.copies.entries().next();
    if (first.done) return;
    const [label, h] = first.value;
    this.copies.delete(label);
    try {
      this.p11.C_DestroyObject(this.main!, h);
    } catch {
      /* a session copy that is already gone */
    }
  }

  private forget(name: ObjectName): void {
    const label = labelOf(name);
    for (const key of [...this.handles.keys()]) if (key.endsWith(`|${label}`)) this.handles.delete(key);
    const copy = this.copies.get(label);
    if (copy) {
      this.copies.delete(label);
      try {
        this.p11.C_DestroyObject(this.main!, copy);
      } catch {
        /* already gone */
      }
    }
    this.noCopy.delete(label);
  }

  // ---- generation ------------------------------------------------------------------

  /**
   * SoftHSM2's file object store fails concurrent token-object creation now and then with
   * CKR_GENERAL_ERROR (20 parallel CreateKey calls: one failed), so creating and destroying token
   * objects is serialised per process; cryptographic operations are not.
   */
  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.objectLock.then(fn, fn);
    this.objectLock = next.catch(() => undefined);
    return next;
  }

  /**
   * Makes a token object under a name that is free (the caller checked): SoftHSM2 now and then
   * fails a creation with CKR_GENERAL_ERROR under load (its file store; the crash suite hit it
   * about one run in four with the API suites running beside it). Whatever the failed attempt
   * left under the name is destroyed and the creation tried again, at most three times in all.
   */
  private async creating<T>(label: string, create: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await create();
      } catch (err) {
        if (!isGeneralError(err) || attempt >= 3) throw err;
        this.opts.onEvent?.('token.create-retried', { label, attempt });
        for (const h of this.findObjects(this.main!, label)) this.p11.C_DestroyObject(this.main!, h);
        await sleep(10 * attempt);
      }
    }
  }

  /** True when at least one object carries the name. */
  async exists(name: ObjectName): Promise<boolean> {
    return this.run('find', 'other', () => this.findObjects(this.main!, labelOf(name)).length > 0);
  }

  /**
   * AES key in the token (CMK, KEK, wrapping key). Refuses to overwrite an existing name.
   * `freshName`: the caller vouches the name is new (a random UUID) and the existence check —
   * a linear scan of the token, seconds at 100,000 objects — is skipped (bench:api's bulk setup).
   */
  async generateAesKey(name: ObjectName, bits: 128 | 256, usage: SecretUsage, opts: { freshName?: boolean } = {}): Promise<void> {
    const label = labelOf(name);
    const template = assertFlatTemplate(secretKeyTemplate(name, 'AES', usage, { token: true, modifiable: this.maxCopies > 0, valueLen: bits / 8 }));
    await this.serialized(() => this.run('generate AES key', 'other', async () => {
      if (!opts.freshName && this.findObjects(this.main!, label).length > 0) throw new InvalidInputError(`token object ${label} already exists`);
      return this.creating(label, () => this.withPoolSession((s) => this.p11.C_GenerateKeyAsync(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template)));
    }));
  }

  /** RSA key pair; generation takes 0.2–0.8 s on SoftHSM2, so it runs on the libuv pool. */
  async generateRsaKeyPair(name: ObjectName, bits: RsaBits, usage: PairUsage): Promise<void> {
    if (![2048, 3072, 4096].includes(bits)) throw new InvalidInputError(`RSA key size ${bits} not supported`);
    const label = labelOf(name);
    const pub = assertFlatTemplate(
      publicKeyTemplate(name, 'RSA', usage, [
        { type: pkcs11js.CKA_MODULUS_BITS, value: bits },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
      ]),
    );
    const priv = assertFlatTemplate(privateKeyTemplate(name, 'RSA', usage));
    await this.serialized(() => this.run('generate RSA key pair', 'other', async () => {
      if (this.findObjects(this.main!, label).length > 0) throw new InvalidInputError(`token object ${label} already exists`);
      return this.creating(label, () => this.withPoolSession((s) => this.p11.C_GenerateKeyPairAsync(s, { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN }, pub, priv)));
    }));
  }

  async generateEcKeyPair(name: ObjectName, curve: EcCurve, usage: PairUsage): Promise<void> {
    const params = EC_PARAMS[curve];
    if (!params) throw new InvalidInputError(`EC curve ${String(curve)} not supported`);
    const label = labelOf(name);
    const pub = assertFlatTemplate(publicKeyTemplate(name, 'EC', usage, [{ type: pkcs11js.CKA_EC_PARAMS, value: params }]));
    const priv = assertFlatTemplate(privateKeyTemplate(name, 'EC', usage));
    await this.serialized(() => this.run('generate EC key pair', 'other', async () => {
      if (this.findObjects(this.main!, label).length > 0) throw new InvalidInputError(`token object ${label} already exists`);
      return this.creating(label, () => this.withPoolSession((s) => this.p11.C_GenerateKeyPairAsync(s, { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN }, pub, priv)));
    }));
  }

  // ---- symmetric -------------------------------------------------------------------

  /** 96-bit IVs from the token's RNG, fetched in batches so one C_GenerateRandom serves many. */
  private nextIv(): Buffer {
    if (this.ivOffset + GCM_IV_BYTES > this.ivPool.length) {
      this.ivPool = this.p11.C_GenerateRandom(this.main!, Buffer.alloc(IV_POOL_BYTES));
      this.ivOffset = 0;
    }
    // A view, not a copy: every refill allocates a new pool, so no IV is ever overwritten.
    const iv = this.ivPool.subarray(this.ivOffset, this.ivOffset + GCM_IV_BYTES);
    this.ivOffset += GCM_IV_BYTES;
    return iv;
  }

  private gcmMechanism(iv: Buffer, aad: Buffer | undefined): pkcs11js.Mechanism {
    // SoftHSM2 accepts a 0-byte IV and tagBits 0: always send 12 bytes and 128 (hsm-notes.md).
    if (iv.length !== GCM_IV_BYTES) throw new InvalidInputError('AES-GCM IV must be 12 bytes');
    return {
      mechanism: pkcs11js.CKM_AES_GCM,
      parameter: { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, ivBits: GCM_IV_BYTES * 8, aad: aad && aad.length > 0 ? aad : undefined, tagBits: 128 } as pkcs11js.IParams,
    };
  }

  /** AES-GCM in the token with a fresh token-random 96-bit IV; returns the IV and ciphertext ‖ tag. */
  async aesGcmEncrypt(name: ObjectName, plaintext: Buffer, aad?: Buffer): Promise<GcmResult> {
    // An empty plaintext fails in SoftHSM2 and leaves the operation active on the session.
    if (plaintext.length === 0) throw new InvalidInputError('AES-GCM plaintext must not be empty');
    return this.run('AES-GCM encrypt', 'other', () => {
      const s = this.main!;
      const key = this.secretHandle(name);
      const iv = this.nextIv();
      this.p11.C_EncryptInit(s, this.gcmMechanism(iv, aad), key);
      // allocUnsafe: C_Encrypt fills all length + 16 bytes of it.
      const ciphertext = this.p11.C_Encrypt(s, plaintext, Buffer.allocUnsafe(plaintext.length + 16));
      // C_Encrypt returns a view of the fresh output buffer: nothing else holds it.
      return { iv, ciphertext };
    });
  }

  /** Fails with DecryptFailedError, and nothing else, when the tag, AAD or key is wrong. */
  async aesGcmDecrypt(name: ObjectName, iv: Buffer, ciphertext: Buffer, aad?: Buffer): Promise<Buffer> {
    if (ciphertext.length <= 16) throw new DecryptFailedError('AES-GCM decrypt: failed');
    return this.run('AES-GCM decrypt', 'decrypt', () => {
      const s = this.main!;
      const key = this.secretHandle(name);
      this.p11.C_DecryptInit(s, this.gcmMechanism(iv, aad), key);
      return this.p11.C_Decrypt(s, ciphertext, Buffer.alloc(ciphertext.length));
    });
  }

  // ---- asymmetric ------------------------------------------------------------------

  private oaepParams(hash: 'sha1' | 'sha256'): pkcs11js.IParams {
    return {
      type: pkcs11js.CK_PARAMS_RSA_OAEP,
      hashAlg: hash === 'sha1' ? pkcs11js.CKM_SHA_1 : pkcs11js.CKM_SHA256,
      mgf: hash === 'sha1' ? pkcs11js.CKG_MGF1_SHA1 : pkcs11js.CKG_MGF1_SHA256,
      source: CKZ_DATA_SPECIFIED,
    } as pkcs11js.IParams;
  }

  /**
   * Whether the token lists a mechanism (by pkcs11js name, e.g. 'CKM_EC_KEY_PAIR_GEN'). For the
   * profile's pseudo-names (parameter variants the list cannot show) the profile decides.
   */
  supports(mechanism: string): boolean {
    const n = mechanismNumber(mechanism);
    return n === undefined ? this.offers(mechanism) : this.offered.has(n);
  }

  private offers(pseudoName: string): boolean {
    return this.opts.profile.mechanisms[pseudoName]?.available === true;
  }

  /** RSA private-key decryption in the token. OAEP-SHA256 on a token without it: raw RSA in the token, OAEP decoding here. */
  async rsaDecrypt(name: ObjectName, data: Buffer, scheme: RsaDecryptScheme): Promise<Buffer> {
    return this.run('RSA decrypt', 'decrypt', () =>
      this.withPoolSession(async (s) => {
        const key = this.handleOf(name, pkcs11js.CKO_PRIVATE_KEY);
        if (scheme === 'oaep-sha256' && !this.offers('CKM_RSA_PKCS_OAEP_SHA256')) {
          const em = await this.rawRsa(s, key, data);
          try {
            return oaepDecode(em, 'sha256');
          } finally {
            em.fill(0);
          }
        }
        const mech: pkcs11js.Mechanism =
          scheme === 'pkcs1'
            ? { mechanism: pkcs11js.CKM_RSA_PKCS }
            : { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter: this.oaepParams(scheme === 'oaep-sha1' ? 'sha1' : 'sha256') };
        this.p11.C_DecryptInit(s, mech, key);
        return Buffer.from(await this.p11.C_DecryptAsync(s, data, Buffer.alloc(RSA_OUT_MAX)));
      }),
    );
  }

  private async rawRsa(s: Handle, key: Handle, data: Buffer): Promise<Buffer> {
    this.p11.C_DecryptInit(s, { mechanism: pkcs11js.CKM_RSA_X_509 }, key);
    const out = Buffer.from(await this.p11.C_DecryptAsync(s, data, Buffer.alloc(RSA_OUT_MAX)));
    // CKM_RSA_X_509 may strip leading zeros; OAEP decoding wants the full k bytes.
    if (out.length >= data.length) return out;
    const em = Buffer.alloc(data.length);
    out.copy(em, data.length - out.length);
    out.fill(0);
    return em;
  }

  private signMechanism(scheme: SignScheme): pkcs11js.Mechanism {
    switch (scheme) {
      case 'rsa-pss-sha256':
        return {
          mechanism: pkcs11js.CKM_RSA_PKCS_PSS,
          parameter: { type: pkcs11js.CK_PARAMS_RSA_PSS, hashAlg: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256, saltLen: 32 } as pkcs11js.IParams,
        };
      case 'rsa-pkcs1-sha256':
        return { mechanism: pkcs11js.CKM_RSA_PKCS };
      case 'ecdsa':
        return { mechanism: pkcs11js.CKM_ECDSA };
    }
  }

  /** What the token signs: the digest (PSS, ECDSA) or the DigestInfo (PKCS#1 v1.5). Hashing happens here, outside the token. */
  private signInput(scheme: SignScheme, digest: Buffer): Buffer {
    if (scheme === 'rsa-pkcs1-sha256') {
      if (digest.length !== 32) throw new InvalidInputError('SHA-256 digest must be 32 bytes');
      return Buffer.concat([SHA256_DIGEST_INFO, digest]);
    }
    if (scheme === 'rsa-pss-sha256' && digest.length !== 32) throw new InvalidInputError('SHA-256 digest must be 32 bytes');
    return digest;
  }

  /** Hash a message the way `sign`/`verify` expect for a scheme and curve. */
  static digest(scheme: SignScheme, message: Buffer, curve?: EcCurve): Buffer {
    const alg = scheme === 'ecdsa' ? EC_HASH[curve ?? 'P-256'] : 'sha256';
    return createHash(alg!).update(message).digest();
  }

  /**
   * Sign a digest in the token. ECDSA signatures come back as raw r ‖ s (PKCS#11 §2.3.1);
   * `format: 'der'` re-encodes them as an X9.62 SEQUENCE.
   */
  async sign(name: ObjectName, scheme: SignScheme, digest: Buffer, format: 'raw' | 'der' = 'der'): Promise<Buffer> {
    const input = this.signInput(scheme, digest);
    const mech = this.signMechanism(scheme);
    // RSA signing (~0.7 ms) runs on the libuv pool so several sessions work at once; ECDSA
    // (~55 µs) is faster called directly: the thread hop cost half its rate (bench:token).
    const sig =
      scheme === 'ecdsa'
        ? await this.run('sign', 'other', () => {
            const key = this.handleOf(name, pkcs11js.CKO_PRIVATE_KEY);
            this.p11.C_SignInit(this.main!, mech, key);
            return Buffer.from(this.p11.C_Sign(this.main!, input, Buffer.alloc(132)));
          })
        : await this.run('sign', 'other', () =>
            this.withPoolSession(async (s) => {
              const key = this.handleOf(name, pkcs11js.CKO_PRIVATE_KEY);
              this.p11.C_SignInit(s, mech, key);
              return Buffer.from(await this.p11.C_SignAsync(s, input, Buffer.alloc(1024)));
            }),
          );
    if (scheme !== 'ecdsa' || format === 'raw') return sig;
    const curve = sig.length === 64 ? p256 : sig.length === 96 ? p384 : undefined;
    if (!curve) throw new InvalidInputError(`unexpected ECDSA signature length ${sig.length}`);
    return Buffer.from(curve.Signature.fromBytes(sig, 'compact').toBytes('der'));
  }

  /** Verify in the token; false for a signature that does not verify (in any form). */
  async verify(name: ObjectName, scheme: SignScheme, digest: Buffer, signature: Buffer, format: 'raw' | 'der' = 'der'): Promise<boolean> {
    const input = this.signInput(scheme, digest);
    let sig = signature;
    if (scheme === 'ecdsa' && format === 'der') {
      try {
        const curve = (await this.curveOf(name)) === 'P-384' ? p384 : p256;
        sig = Buffer.from(curve.Signature.fromBytes(signature, 'der').toBytes('compact'));
      } catch (err) {
        if (err instanceof HsmError) throw err;
        return false;
      }
    }
    try {
      await this.run('verify', 'verify', () =>
        this.withPoolSession(async (s) => {
          const key = this.handleOf(name, pkcs11js.CKO_PUBLIC_KEY);
          this.p11.C_VerifyInit(s, this.signMechanism(scheme), key);
          return this.p11.C_VerifyAsync(s, input, sig);
        }),
      );
      return true;
    } catch (err) {
      // A signature of the wrong length or form is a signature that does not verify.
      if (err instanceof HsmError && (err.code === 'SignatureInvalid' || err.ckr === 'CKR_SIGNATURE_LEN_RANGE' || err.ckr === 'CKR_DATA_LEN_RANGE')) return false;
      throw err;
    }
  }

  private async curveOf(name: ObjectName): Promise<EcCurve> {
    const params = await this.run('read EC params', 'other', () => {
      const key = this.handleOf(name, pkcs11js.CKO_PUBLIC_KEY);
      return this.p11.C_GetAttributeValue(this.main!, key, [{ type: pkcs11js.CKA_EC_PARAMS }])[0]?.value as Buffer;
    });
    for (const [curve, der] of Object.entries(EC_PARAMS)) if (der.equals(params)) return curve as EcCurve;
    throw new InvalidInputError('key is not on a supported curve');
  }

  /** The public half as SPKI (DER and PEM), built by Node's crypto from the token's attributes. */
  async exportPublicKey(name: ObjectName): Promise<PublicKeyExport> {
    const keyObject = await this.run('export public key', 'other', () => {
      const s = this.main!;
      const key = this.handleOf(name, pkcs11js.CKO_PUBLIC_KEY);
      const [type] = this.p11.C_GetAttributeValue(s, key, [{ type: pkcs11js.CKA_KEY_TYPE }]);
      const keyType = ulong(type?.value as Buffer);
      if (keyType === pkcs11js.CKK_RSA) {
        const [n, e] = this.p11.C_GetAttributeValue(s, key, [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]);
        return createPublicKey({ key: { kty: 'RSA', n: (n!.value as Buffer).toString('base64url'), e: (e!.value as Buffer).toString('base64url') }, format: 'jwk' });
      }
      const [params, point] = this.p11.C_GetAttributeValue(s, key, [{ type: pkcs11js.CKA_EC_PARAMS }, { type: pkcs11js.CKA_EC_POINT }]);
      const curve = (Object.entries(EC_PARAMS).find(([, der]) => der.equals(params!.value as Buffer)) ?? [])[0];
      if (!curve) throw new InvalidInputError('public key is not on a supported curve');
      const raw = unwrapOctetString(point!.value as Buffer);
      const size = (raw.length - 1) / 2;
      if (raw[0] !== 0x04 || !Number.isInteger(size)) throw new InvalidInputError('EC point is not uncompressed');
      return createPublicKey({
        key: { kty: 'EC', crv: curve, x: raw.subarray(1, 1 + size).toString('base64url'), y: raw.subarray(1 + size).toString('base64url') },
        format: 'jwk',
      });
    });
    const der = keyObject.export({ type: 'spki', format: 'der' });
    const pem = keyObject.export({ type: 'spki', format: 'pem' }).toString();
    return { der, pem, keyObject };
  }

  // ---- unwrap ------------------------------------------------------------------------

  /**
   * C_UnwrapKey of an AES key into a sensitive, non-extractable token object. Keys brought
   * in this way report CKA_VALUE_LEN 0 on SoftHSM2: the caller keeps the length.
   */
  async unwrapAesKey(unwrapper: ObjectName, scheme: UnwrapScheme, wrapped: Buffer, target: ObjectName, usage: SecretUsage): Promise<void> {
    const label = labelOf(target);
    const template = assertFlatTemplate(secretKeyTemplate(target, 'AES', usage, { token: true, modifiable: this.maxCopies > 0 }));
    if (scheme === 'rsa-oaep-sha256' && !this.offers('CKM_RSA_PKCS_OAEP_SHA256')) {
      throw new MechanismUnsupportedError('this token cannot unwrap with RSA-OAEP-SHA256; use rsaDecrypt and import through an AES-KWP key');
    }
    await this.serialized(() => this.run('unwrap key', 'decrypt', async () => {
      if (this.findObjects(this.main!, label).length > 0) throw new InvalidInputError(`token object ${label} already exists`);
      let mech: pkcs11js.Mechanism;
      let key: Handle;
      if (scheme === 'aes-kwp') {
        mech = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
        key = this.handleOf(unwrapper, pkcs11js.CKO_SECRET_KEY);
      } else {
        mech = scheme === 'rsa-pkcs1' ? { mechanism: pkcs11js.CKM_RSA_PKCS } : { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter: this.oaepParams(scheme === 'rsa-oaep-sha1' ? 'sha1' : 'sha256') };
        key = this.handleOf(unwrapper, pkcs11js.CKO_PRIVATE_KEY);
      }
      return this.withPoolSession((s) => this.p11.C_UnwrapKeyAsync(s, mech, key, wrapped, template));
    }));
  }

  /**
   * Bring externally wrapped AES material into the token (BYOK) without it ever being in the
   * service's memory, checking what SoftHSM2 cannot report (unwrapped keys show CKA_VALUE_LEN 0):
   *  1. C_UnwrapKey under the RSA wrapping key into a session object, sensitive but extractable
   *     (wrong ciphertext → DecryptFailedError);
   *  2. C_WrapKey of it with CKM_AES_KEY_WRAP (RFC 3394) under the service's staging key: its
   *     length (material rounded up to 8 bytes, + 8) and step 3 (AES-ECB accepts only 16, 24
   *     or 32-byte keys) check the material's exact size (→ InvalidInputError) unread;
   *  3. its key check value (AES-ECB of a zero block) is MACed with the fingerprint key
   *     (AES-CMAC, in the token) over `context` → the returned keyed fingerprint;
   *  4. when `expectFingerprint` is given and differs → MaterialMismatchError;
   *  5. when `target` is given, the staged wrap is unwrapped into it: a token object,
   *     sensitive, non-extractable (an existing object of that name is replaced).
   * The session object is destroyed in every case.
   */
  async importAesKey(p: {
    unwrapper: ObjectName;
    scheme: Exclude<UnwrapScheme, 'aes-kwp'>;
    wrapped: Buffer;
    bytes: 16 | 32;
    staging: ObjectName;
    fingerprint: { key: ObjectName; context: Buffer };
    expectFingerprint?: Buffer;
    target?: { name: ObjectName; usage: SecretUsage };
  }): Promise<Buffer> {
    if (p.scheme === 'rsa-oaep-sha256' && !this.offers('CKM_RSA_PKCS_OAEP_SHA256')) {
      throw new MechanismUnsupportedError('this token cannot unwrap with RSA-OAEP-SHA256');
    }
    const stagingTemplate = assertFlatTemplate([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      // Extractable only so that step 2 can wrap it under a token key; it dies below.
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: false },
      { type: pkcs11js.CKA_WRAP, value: false },
      { type: pkcs11js.CKA_UNWRAP, value: false },
      { type: pkcs11js.CKA_SIGN, value: false },
      { type: pkcs11js.CKA_VERIFY, value: false },
      { type: pkcs11js.CKA_DERIVE, value: false },
    ]);
    const target = p.target;
    const finalTemplate = target ? assertFlatTemplate(secretKeyTemplate(target.name, 'AES', target.usage, { token: true, modifiable: this.maxCopies > 0 })) : undefined;
    return this.serialized(() =>
      this.run('import key material', 'decrypt', () => {
        const s = this.main!;
        const rsa = this.handleOf(p.unwrapper, pkcs11js.CKO_PRIVATE_KEY);
        const mech: pkcs11js.Mechanism =
          p.scheme === 'rsa-pkcs1' ? { mechanism: pkcs11js.CKM_RSA_PKCS } : { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter: this.oaepParams(p.scheme === 'rsa-oaep-sha1' ? 'sha1' : 'sha256') };
        let staged: Handle;
        try {
          staged = this.p11.C_UnwrapKey(s, mech, rsa, p.wrapped, stagingTemplate);
        } catch (err) {
          // The RSA mechanism is offered (profile); SoftHSM2 answers CKR_MECHANISM_INVALID when
          // the decrypted value is no AES key length (e.g. 31 bytes): the material's fault.
          const ckr = ckrOf(err);
          if (this.offered.has(mech.mechanism) && (ckr === pkcs11js.CKR_MECHANISM_INVALID || ckr === pkcs11js.CKR_KEY_SIZE_RANGE || ckr === pkcs11js.CKR_ATTRIBUTE_VALUE_INVALID)) {
            throw new InvalidInputError(`key material must be ${p.bytes * 8} bits`);
          }
          throw err;
        }
        let kw: Buffer | undefined;
        try {
          const stagingKey = this.handleOf(p.staging, pkcs11js.CKO_SECRET_KEY);
          try {
            kw = Buffer.from(this.p11.C_WrapKey(s, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, stagingKey, staged, Buffer.alloc(p.bytes + 64)));
          } catch (err) {
            if (ckrOf(err) === undefined || isTokenLost(err)) throw err;
            throw new InvalidInputError(`key material must be ${p.bytes * 8} bits`);
          }
          // SoftHSM2 zero-pads a key of 25–31 bytes to 32 before wrapping (not RFC 3394), so the
          // length leaves lengths that are no AES key size; AES-ECB refuses exactly those.
          if (kw.length !== p.bytes + 8) throw new InvalidInputError(`key material must be ${p.bytes * 8} bits`);
          let kcv: Buffer;
          try {
            this.p11.C_EncryptInit(s, { mechanism: pkcs11js.CKM_AES_ECB }, staged);
            kcv = Buffer.from(this.p11.C_Encrypt(s, Buffer.alloc(16), Buffer.alloc(16)));
          } catch (err) {
            if (ckrOf(err) === undefined || isTokenLost(err)) throw err;
            throw new InvalidInputError(`key material must be ${p.bytes * 8} bits`);
          }
          const fpKey = this.handleOf(p.fingerprint.key, pkcs11js.CKO_SECRET_KEY);
          this.p11.C_SignInit(s, { mechanism: pkcs11js.CKM_AES_CMAC }, fpKey);
          const fingerprint = Buffer.from(this.p11.C_Sign(s, Buffer.concat([p.fingerprint.context, kcv]), Buffer.alloc(16)));
          if (p.expectFingerprint && (p.expectFingerprint.length !== fingerprint.length || !timingSafeEqual(p.expectFingerprint, fingerprint))) {
            throw new MaterialMismatchError('the key material differs from the material imported before');
          }
          if (target && finalTemplate) {
            const label = labelOf(target.name);
            this.forget(target.name);
            for (const h of this.findObjects(s, label)) this.p11.C_DestroyObject(s, h);
            this.p11.C_UnwrapKey(s, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, stagingKey, kw, finalTemplate);
          }
          return fingerprint;
        } finally {
          kw?.fill(0);
          try {
            this.p11.C_DestroyObject(s, staged);
          } catch {
            /* a session object also dies with its session */
          }
        }
      }),
    );
  }

  // ---- vendor SM (GM/T) mechanisms --------------------------------------------------
  // Only for tokens whose profile declares the vendor numbers (hsm/<name>.json smMechanisms)
  // and which list them (C_GetMechanismList): src/crypto/sm-placement.ts decides. SoftHSM2 has
  // none, so these run against no token in this repository's tests; the formats used are the
  // common vendor conventions (GM/T 0018-style raw values), stated per method.

  /** A vendor number from the profile (mechanism or key type), if declared. */
  smNumber(name: string): number | undefined {
    const v = (this.opts.profile.smMechanisms as Record<string, unknown> | null)?.[name];
    return typeof v === 'string' && /^0x[0-9a-fA-F]+$/.test(v) ? Number.parseInt(v.slice(2), 16) : undefined;
  }

  /** Whether the token lists a mechanism by number. */
  offersNumber(mechanism: number): boolean {
    return this.offered.has(mechanism);
  }

  private requireSm(name: string): number {
    const n = this.smNumber(name);
    if (n === undefined) throw new MechanismUnsupportedError(`the token profile declares no ${name}`);
    return n;
  }

  /** SM4 key (vendor CKK_SM4) generated in the token, sensitive and non-extractable. */
  async generateSm4Key(name: ObjectName): Promise<void> {
    const label = labelOf(name);
    const template = assertFlatTemplate(
      secretKeyTemplate(name, 'AES', { encrypt: true, decrypt: true }, { token: true, modifiable: false, valueLen: 16 }).map((a) =>
        a.type === pkcs11js.CKA_KEY_TYPE ? { type: pkcs11js.CKA_KEY_TYPE, value: this.requireSm('CKK_SM4') } : a,
      ),
    );
    const mech = this.requireSm('SM4_KEY_GEN');
    await this.serialized(() => this.run('generate SM4 key', 'other', async () => {
      if (this.findObjects(this.main!, label).length > 0) throw new InvalidInputError(`token object ${label} already exists`);
      return this.withPoolSession((s) => this.p11.C_GenerateKeyAsync(s, { mechanism: mech }, template));
    }));
  }

  /** SM4-GCM (RFC 8998) in the token with GCM parameters as for AES; output ciphertext ‖ tag. */
  async sm4GcmEncrypt(name: ObjectName, plaintext: Buffer, aad: Buffer): Promise<GcmResult> {
    if (plaintext.length === 0) throw new InvalidInputError('SM4-GCM plaintext must not be empty');
    const mechanism = this.requireSm('SM4_GCM');
    return this.run('SM4-GCM encrypt', 'other', () => {
      const s = this.main!;
      const iv = this.nextIv();
      this.p11.C_EncryptInit(s, { ...this.gcmMechanism(iv, aad), mechanism }, this.handleOf(name, pkcs11js.CKO_SECRET_KEY));
      return { iv, ciphertext: this.p11.C_Encrypt(s, plaintext, Buffer.allocUnsafe(plaintext.length + 16)) };
    });
  }

  async sm4GcmDecrypt(name: ObjectName, iv: Buffer, ciphertext: Buffer, aad: Buffer): Promise<Buffer> {
    if (ciphertext.length <= 16) throw new DecryptFailedError('SM4-GCM decrypt: failed');
    const mechanism = this.requireSm('SM4_GCM');
    return this.run('SM4-GCM decrypt', 'decrypt', () => {
      const s = this.main!;
      this.p11.C_DecryptInit(s, { ...this.gcmMechanism(iv, aad), mechanism }, this.handleOf(name, pkcs11js.CKO_SECRET_KEY));
      return this.p11.C_Decrypt(s, ciphertext, Buffer.alloc(ciphertext.length));
    });
  }

  /** SM2 key pair (vendor CKK_SM2, CKA_EC_PARAMS = sm2p256v1) in the token; returns 04 ‖ x ‖ y. */
  async generateSm2KeyPair(name: ObjectName, usage: PairUsage): Promise<Buffer> {
    const label = labelOf(name);
    const keyType = this.requireSm('CKK_SM2');
    const withType = (t: Template) => t.map((a) => (a.type === pkcs11js.CKA_KEY_TYPE ? { type: pkcs11js.CKA_KEY_TYPE, value: keyType } : a));
    const pub = assertFlatTemplate(withType(publicKeyTemplate(name, 'EC', usage, [{ type: pkcs11js.CKA_EC_PARAMS, value: SM2_EC_PARAMS }])).map((a) =>
      a.type === pkcs11js.CKA_ENCRYPT ? { type: pkcs11js.CKA_ENCRYPT, value: !!usage.decrypt } : a,
    ));
    const priv = assertFlatTemplate(withType(privateKeyTemplate(name, 'EC', usage)).map((a) => (a.type === pkcs11js.CKA_DECRYPT ? { type: pkcs11js.CKA_DECRYPT, value: !!usage.decrypt } : a)));
    const mech = this.requireSm('SM2_KEY_PAIR_GEN');
    await this.serialized(() => this.run('generate SM2 key pair', 'other', async () => {
      if (this.findObjects(this.main!, label).length > 0) throw new InvalidInputError(`token object ${label} already exists`);
      return this.withPoolSession((s) => this.p11.C_GenerateKeyPairAsync(s, { mechanism: mech }, pub, priv));
    }));
    return this.run('read SM2 public key', 'other', () => {
      const [point] = this.p11.C_GetAttributeValue(this.main!, this.handleOf(name, pkcs11js.CKO_PUBLIC_KEY), [{ type: pkcs11js.CKA_EC_POINT }]);
      const raw = unwrapOctetString(point!.value as Buffer);
      if (raw.length !== 65 || raw[0] !== 0x04) throw new InvalidInputError('SM2 public key is not an uncompressed point');
      return raw;
    });
  }

  /** SM2 signature over e = SM3(Z ‖ M) computed by the caller; raw r ‖ s (64 bytes). */
  async sm2SignDigest(name: ObjectName, e: Buffer): Promise<Buffer> {
    if (e.length !== 32) throw new InvalidInputError('SM2 digest must be 32 bytes');
    const mechanism = this.requireSm('SM2_SIGN');
    return this.run('SM2 sign', 'other', () => {
      this.p11.C_SignInit(this.main!, { mechanism }, this.handleOf(name, pkcs11js.CKO_PRIVATE_KEY));
      return Buffer.from(this.p11.C_Sign(this.main!, e, Buffer.alloc(128)));
    });
  }

  /** SM2 decryption of a raw C1 ‖ C3 ‖ C2 ciphertext (C1 = 04 ‖ x ‖ y). The caller wipes the result. */
  async sm2Decrypt(name: ObjectName, c1c3c2: Buffer): Promise<Buffer> {
    const mechanism = this.requireSm('SM2_ENCRYPT');
    return this.run('SM2 decrypt', 'decrypt', () => {
      this.p11.C_DecryptInit(this.main!, { mechanism }, this.handleOf(name, pkcs11js.CKO_PRIVATE_KEY));
      return Buffer.from(this.p11.C_Decrypt(this.main!, c1c3c2, Buffer.alloc(c1c3c2.length)));
    });
  }

  // ---- PKCS#11 3.2 ML-DSA ----------------------------------------------------------
  // Standard numbers (PKCS#11 3.2; pkcs11js 2.1.7 has no constants for them). Used only when
  // the profile declares them available and the token lists them (crypto/placement.ts).

  pqcMechanismNumber(name: string): number {
    const n = PKCS11_3_2[name as keyof typeof PKCS11_3_2];
    if (n === undefined) throw new MechanismUnsupportedError(`unknown PKCS#11 3.2 name ${name}`);
    return n;
  }

  /** ML-DSA-65 key pair (CKK_ML_DSA, CKA_PARAMETER_SET CKP_ML_DSA_65) in the token; returns the raw public key. */
  async generateMlDsa65KeyPair(name: ObjectName): Promise<Buffer> {
    const label = labelOf(name);
    const id = Buffer.from(label, 'utf8');
    const pub = assertFlatTemplate([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: PKCS11_3_2.CKK_ML_DSA },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_MODIFIABLE, value: false },
      { type: pkcs11js.CKA_VERIFY, value: true },
      { type: PKCS11_3_2.CKA_PARAMETER_SET, value: PKCS11_3_2.CKP_ML_DSA_65 },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: id },
    ]);
    const priv = assertFlatTemplate([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: PKCS11_3_2.CKK_ML_DSA },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_MODIFIABLE, value: false },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_DERIVE, value: false },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: id },
    ]);
    await this.serialized(() => this.run('generate ML-DSA key pair', 'other', async () => {
      if (this.findObjects(this.main!, label).length > 0) throw new InvalidInputError(`token object ${label} already exists`);
      return this.withPoolSession((s) => this.p11.C_GenerateKeyPairAsync(s, { mechanism: PKCS11_3_2.CKM_ML_DSA_KEY_PAIR_GEN }, pub, priv));
    }));
    return this.run('read ML-DSA public key', 'other', () => {
      const [value] = this.p11.C_GetAttributeValue(this.main!, this.handleOf(name, pkcs11js.CKO_PUBLIC_KEY), [{ type: pkcs11js.CKA_VALUE }]);
      const raw = Buffer.from(value!.value as Buffer);
      if (raw.length !== 1952) throw new InvalidInputError(`ML-DSA-65 public key must be 1952 bytes, the token gave ${raw.length}`);
      return raw;
    });
  }

  /** Pure ML-DSA (empty context, the token's hedged randomness) over the message. */
  async mlDsaSign(name: ObjectName, message: Buffer): Promise<Buffer> {
    return this.run('ML-DSA sign', 'other', () =>
      this.withPoolSession(async (s) => {
        this.p11.C_SignInit(s, { mechanism: PKCS11_3_2.CKM_ML_DSA }, this.handleOf(name, pkcs11js.CKO_PRIVATE_KEY));
        return Buffer.from(await this.p11.C_SignAsync(s, message, Buffer.alloc(4627)));
      }),
    );
  }

  /** AES-CMAC (16 bytes) of data under a token AES key with CKA_SIGN (keyed fingerprints). */
  async cmac(name: ObjectName, data: Buffer): Promise<Buffer> {
    return this.run('AES-CMAC', 'other', () => {
      const s = this.main!;
      this.p11.C_SignInit(s, { mechanism: pkcs11js.CKM_AES_CMAC }, this.handleOf(name, pkcs11js.CKO_SECRET_KEY));
      return Buffer.from(this.p11.C_Sign(s, data, Buffer.alloc(16)));
    });
  }

  // ---- misc ------------------------------------------------------------------------

  async random(bytes: number): Promise<Buffer> {
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > 65536) throw new InvalidInputError('random: 1 to 65536 bytes');
    return this.run('generate random', 'other', () => Buffer.from(this.p11.C_GenerateRandom(this.main!, Buffer.alloc(bytes))));
  }

  /** Destroy every object carrying the name (both halves of a pair). Idempotent. */
  async destroy(name: ObjectName): Promise<number> {
    const label = labelOf(name);
    return this.serialized(() => this.run('destroy', 'other', () => {
      this.forget(name);
      const found = [...new Map(this.findObjects(this.main!, label).map((h) => [h.toString('hex'), h])).values()];
      for (const h of found) {
        try {
          this.p11.C_DestroyObject(this.main!, h);
        } catch (err) {
          if (!isHandleInvalid(err)) throw err;
        }
      }
      return found.length;
    }));
  }

  /**
   * Every object the service named in the token (for reconciliation and status). The listing
   * also fills the handle cache for every object it names, so a key's first use after it makes
   * no find: a find is a linear scan in SoftHSM2 (0.5–12 s at 100,000 objects, on the event
   * loop: docs/benchmarks.md "The 100,000-CMK case"). An object made after the listing, by
   * this process or another, is found by name at its first use as before; a listed handle
   * whose object another process destroyed is re-found once (run()), like any stale handle.
   */
  async listObjects(): Promise<TokenObjectInfo[]> {
    // Under the object lock: SoftHSM2 once failed a key generation in this process while a
    // listing ran on the main session (reconciliation beside CreateKey).
    return this.serialized(() => this.run('list objects', 'other', () => {
      const s = this.main!;
      this.p11.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_TOKEN, value: true }]);
      const all: Handle[] = [];
      try {
        for (;;) {
          const batch = this.p11.C_FindObjects(s, 256);
          if (batch.length === 0) break;
          all.push(...batch);
        }
      } finally {
        this.p11.C_FindObjectsFinal(s);
      }
      const out: TokenObjectInfo[] = [];
      const seen = new Set<string>();
      for (const h of all) {
        if (seen.has(h.toString('hex'))) continue;
        seen.add(h.toString('hex'));
        const [labelAttr, clsAttr] = this.p11.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_LABEL }, { type: pkcs11js.CKA_CLASS }]);
        const label = (labelAttr?.value as Buffer).toString('utf8');
        const name = parseLabel(label);
        if (!name) continue;
        const cls = ulong(clsAttr?.value as Buffer);
        // The first handle of a name, as handleOf takes the first a find returns.
        const key = `${cls}|${label}`;
        if (!this.handles.has(key)) this.handles.set(key, h);
        const kind = cls === pkcs11js.CKO_SECRET_KEY ? 'secret' : cls === pkcs11js.CKO_PRIVATE_KEY ? 'private' : cls === pkcs11js.CKO_PUBLIC_KEY ? 'public' : 'data';
        out.push({ name, kind });
      }
      return out;
    }));
  }

  /** The handle cache filled from one listing (listObjects); `serve` does this at start-up. Answers the objects listed. */
  async indexObjects(): Promise<number> {
    return (await this.listObjects()).length;
  }

  /**
   * /readyz: C_GetTokenInfo plus the sentinel. A failing probe reconnects for at most
   * `timeoutMs` (so readiness returns with the token) rather than the full back-off.
   */
  async healthy(timeoutMs = Math.min(1_000, this.recoverTimeoutMs)): Promise<boolean> {
    try {
      await this.run(
        'health probe',
        'other',
        () => {
          this.p11.C_GetTokenInfo(this.slot!);
          if (this.findObjects(this.main!, labelOf(SENTINEL), pkcs11js.CKO_DATA).length === 0) throw new TokenUnavailableError('sentinel object missing');
        },
        timeoutMs,
      );
      return true;
    } catch {
      return false;
    }
  }

  async status(): Promise<TokenStatus> {
    const objects = await this.listObjects();
    return this.run('token status', 'other', () => {
      const info = this.p11.C_GetTokenInfo(this.slot!);
      const session = this.p11.C_GetSessionInfo(this.main!);
      const offered = new Set(this.p11.C_GetMechanismList(this.slot!));
      const mechanisms: MechanismStatus[] = Object.entries(this.opts.profile.mechanisms).map(([name, m]) => {
        const n = mechanismNumber(name);
        return { name, expected: m.available, offered: n === undefined ? null : offered.has(n), use: m.use };
      });
      const count = (k: TokenObjectInfo['kind']) => objects.filter((o) => o.kind === k).length;
      return {
        module: this.opts.modulePath,
        profile: this.opts.profile.name,
        slot: ulong(this.slot!).toString(),
        tokenLabel: trimmed(info.label),
        serial: trimmed(info.serialNumber),
        manufacturer: trimmed(info.manufacturerID),
        model: trimmed(info.model),
        loggedIn: session.state === CKS_RW_USER_FUNCTIONS || session.state === CKS_RO_USER_FUNCTIONS,
        objects: { secret: count('secret'), private: count('private'), public: count('public'), data: count('data'), total: objects.length },
        mechanisms,
      };
    });
  }
}

/** A CK_ULONG attribute or handle as pkcs11js returns it (host-endian, 8 bytes here). */
function ulong(b: Buffer): number {
  return b.length === 8 ? Number(b.readBigUInt64LE(0)) : b.readUIntLE(0, b.length);
}

/** CKA_EC_POINT is a DER OCTET STRING around the point (hsm-notes.md). */
function unwrapOctetString(der: Buffer): Buffer {
  if (der[0] !== 0x04) return der;
  let len = der[1]!;
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = der.readUIntBE(2, n);
    off = 2 + n;
  }
  return off + len === der.length ? der.subarray(off) : der;
}
