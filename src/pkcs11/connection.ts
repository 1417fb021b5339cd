import { setTimeout as sleep } from 'node:timers/promises';
import pkcs11js from 'pkcs11js';
import { ckrOf, isGeneralError, isHandleInvalid, isTokenLost, LoginFailedError, ObjectNotFoundError, TokenUnavailableError, translate } from './errors.js';
import { acquireLibrary, finalizeLibrary, initializeLibrary, libraryUsers, releaseLibrary, type LibraryOptions } from './library.js';

// The connection to one token: library, slot, login, the main session (synchronous calls and
// the owner of session objects), a pool of sessions for the *Async calls, and recovery when the
// token goes away (docs/contract/token-facts.md#token-lost). Everything above it runs token work
// through `run()`, which hands the callback the session to use.

export type Handle = Buffer;
export type OperationKind = 'decrypt' | 'verify' | 'other';

export interface ConnectionOptions {
  modulePath: string;
  tokenLabel: string;
  pin: string;
  library: LibraryOptions;
  poolSize: number;
  recoverTimeoutMs: number;
  /** True when the token still answers for the service (a known object is there). */
  probe: (s: Handle) => boolean;
  onEvent?: (event: string, detail: Record<string, unknown>) => void;
}

const SESSION_FLAGS = pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION;

function trimmed(s: string): string {
  return s.replace(/[\s\0]+$/, '');
}

export class Connection {
  /** The loaded library (set by open()). */
  p11!: pkcs11js.PKCS11;
  private acquired = false;
  private slot: Handle | undefined;
  private main: Handle | undefined;
  private readonly free: Handle[] = [];
  private readonly waiters: Array<(s: Handle) => void> = [];
  private poolSessions: Handle[] = [];
  private offeredMechanisms = new Set<number>();
  private generation = 0;
  private recovering: Promise<void> | undefined;
  private asyncInFlight = 0;
  private closed = false;
  /** Called whenever handles this process holds may be stale: after a (re)connect, and on a stale handle. */
  private readonly resetListeners: Array<() => void> = [];

  constructor(private readonly opts: ConnectionOptions) {}

  /**
   * Connect, with a short retry: SoftHSM2 reads a token's files without a lock against another
   * process rewriting them (its login, its new objects), so a process starting then may find no
   * token of that label, or C_GetTokenInfo / C_Login fails with CKR_GENERAL_ERROR (SoftHSMv2
   * issue #757). A fresh C_Initialize a moment later reads them whole. Not for a refused PIN;
   * and only when no other user of this library in the process would lose its sessions.
   */
  async open(retryMs: number): Promise<void> {
    try {
      // Loading and C_Initialize: a vendor library whose configuration is missing fails here.
      this.p11 = acquireLibrary(this.opts.modulePath, this.opts.library);
      this.acquired = true;
    } catch (err) {
      throw translate(err, 'initialise the PKCS#11 library');
    }
    const deadline = Date.now() + retryMs;
    for (let delay = 25; ; delay = Math.min(delay * 2, 250)) {
      try {
        this.connect();
        return;
      } catch (err) {
        if (!(err instanceof LoginFailedError) && Date.now() + delay < deadline && libraryUsers(this.opts.modulePath) === 1) {
          this.disconnect();
          finalizeLibrary(this.opts.modulePath);
          await sleep(delay);
          continue;
        }
        throw translate(err, 'open token');
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.acquired) return;
    this.disconnect();
    releaseLibrary(this.opts.modulePath);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Mechanisms C_GetMechanismList reported at the last connect. */
  get offered(): ReadonlySet<number> {
    return this.offeredMechanisms;
  }

  get modulePath(): string {
    return this.opts.modulePath;
  }

  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  private reset(): void {
    for (const l of this.resetListeners) l();
  }

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
    const main = this.p11.C_OpenSession(slot, SESSION_FLAGS);
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
    this.offeredMechanisms = new Set(this.p11.C_GetMechanismList(slot));
    this.poolSessions = [];
    for (let i = 0; i < this.opts.poolSize; i++) this.poolSessions.push(this.p11.C_OpenSession(slot, SESSION_FLAGS));
    this.free.length = 0;
    this.free.push(...this.poolSessions);
    this.generation++;
    this.reset();
  }

  private disconnect(): void {
    // Closing the sessions destroys the session objects; no C_Logout: it is per process and
    // would log out every other user of this library (docs/contract/token-facts.md#login).
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
    this.reset();
  }

  /**
   * Token lost: drain in-flight async calls, finalize, initialise, find the slot by label, log
   * in, rebuild — with back-off until the deadline.
   */
  private recover(seenGeneration: number, reason: string, timeoutMs = this.opts.recoverTimeoutMs): Promise<void> {
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
   * Run one token operation on the main session, with recovery: a stale handle is re-found
   * once; a lost session or token triggers recovery and a retry; everything else is translated.
   */
  async run<T>(operation: string, kind: OperationKind, fn: (s: Handle) => T | Promise<T>, timeoutMs = this.opts.recoverTimeoutMs): Promise<T> {
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
        return await fn(this.main);
      } catch (err) {
        if (isHandleInvalid(err) && !staleRetried) {
          staleRetried = true;
          this.reset();
          continue;
        }
        const lost = isTokenLost(err) || err instanceof TokenUnavailableError || ((isGeneralError(err) || err instanceof ObjectNotFoundError) && this.looksLost());
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

  /** The health probe: C_GetTokenInfo plus the service's own probe (a known object). */
  private looksLost(): boolean {
    try {
      if (!this.slot || !this.main) return true;
      this.p11.C_GetTokenInfo(this.slot);
      return !this.opts.probe(this.main);
    } catch {
      return true;
    }
  }

  /** C_GetTokenInfo and the probe, recovering for at most `timeoutMs`; false when the token does not answer. */
  async healthy(timeoutMs: number): Promise<boolean> {
    try {
      await this.run(
        'health probe',
        'other',
        (s) => {
          this.p11.C_GetTokenInfo(this.slot!);
          if (!this.opts.probe(s)) throw new TokenUnavailableError('health probe: the service keys are missing');
        },
        timeoutMs,
      );
      return true;
    } catch {
      return false;
    }
  }

  /** A pool session for an *Async call (libuv thread pool): several run at once. */
  async withPoolSession<T>(fn: (s: Handle) => Promise<T>): Promise<T> {
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
      const fresh = this.p11.C_OpenSession(this.slot!, SESSION_FLAGS);
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

  /** Token and session facts for `token status` (run inside `run()`). */
  describe(s: Handle): { slot: Handle; info: pkcs11js.TokenInfo; session: pkcs11js.SessionInfo; mechanisms: number[] } {
    return { slot: this.slot!, info: this.p11.C_GetTokenInfo(this.slot!), session: this.p11.C_GetSessionInfo(s), mechanisms: this.p11.C_GetMechanismList(this.slot!) };
  }
}
