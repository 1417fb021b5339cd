import { setTimeout as sleep } from 'node:timers/promises';
import pkcs11js from 'pkcs11js';
import type { Connection, Handle } from './connection.js';
import { isGeneralError, isHandleInvalid, isTokenLost, InvalidInputError, ObjectNotFoundError } from './errors.js';
import { labelOf, parseLabel, type ObjectName, type Template } from './templates.js';

// Token objects by name: the handle cache, in-memory session copies of AES keys, the one path
// that creates objects (existence check, serialisation, retry), destruction and listing.

export interface TokenObjectInfo {
  name: ObjectName;
  kind: 'secret' | 'private' | 'public' | 'data';
}

/** A CK_ULONG attribute or handle as pkcs11js returns it (host-endian, 8 bytes here). */
export function ulong(b: Buffer): number {
  return b.length === 8 ? Number(b.readBigUInt64LE(0)) : b.readUIntLE(0, b.length);
}

const KIND: Record<number, TokenObjectInfo['kind']> = {
  [pkcs11js.CKO_SECRET_KEY]: 'secret',
  [pkcs11js.CKO_PRIVATE_KEY]: 'private',
  [pkcs11js.CKO_PUBLIC_KEY]: 'public',
};

export class ObjectStore {
  private readonly handles = new Map<string, Handle>();
  private readonly copies = new Map<string, Handle>();
  private readonly noCopy = new Set<string>();
  /** Token-object creation and destruction, one at a time (see `serialized`). */
  private objectLock: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly conn: Connection,
    private readonly opts: {
      /** In-memory session copies of AES keys kept at most; 0 = none. */
      maxCopies: number;
      onEvent?: (event: string, detail: Record<string, unknown>) => void;
    },
  ) {
    // After a reconnect every handle is from a dead session; after a stale handle, any may be.
    conn.onReset(() => {
      this.handles.clear();
      this.copies.clear();
      this.noCopy.clear();
    });
  }

  /** Whether AES keys are made modifiable so that session copies can be taken (C_CopyObject needs it on SoftHSM2). */
  get copiesEnabled(): boolean {
    return this.opts.maxCopies > 0;
  }

  find(s: Handle, label: string, cls?: number): Handle[] {
    const t: Template = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
    ];
    if (cls !== undefined) t.push({ type: pkcs11js.CKA_CLASS, value: cls });
    const p11 = this.conn.p11;
    p11.C_FindObjectsInit(s, t);
    try {
      return p11.C_FindObjects(s, 16);
    } finally {
      p11.C_FindObjectsFinal(s);
    }
  }

  /** Token object by name and class, from the handle cache (finds are linear scans in SoftHSM2). */
  handle(s: Handle, name: ObjectName, cls: number, label = labelOf(name)): Handle {
    const key = `${cls}|${label}`;
    const cached = this.handles.get(key);
    if (cached) return cached;
    // Two processes creating objects may see a duplicate handle for one object: take the first.
    const found = this.find(s, label, cls)[0];
    if (!found) throw new ObjectNotFoundError(`token object ${label} not found`);
    this.handles.set(key, found);
    return found;
  }

  /**
   * The handle to use for an AES operation on the main session: an in-memory session copy when
   * the profile allows it (SoftHSM2 runs GCM ~2x faster on session objects). The copy keeps
   * SENSITIVE and non-EXTRACTABLE; it dies with the main session or at recovery.
   */
  secretHandle(s: Handle, name: ObjectName): Handle {
    const label = labelOf(name);
    const copy = this.copies.get(label);
    if (copy) return copy;
    const h = this.handle(s, name, pkcs11js.CKO_SECRET_KEY, label);
    if (!this.copiesEnabled || this.noCopy.has(label)) return h;
    try {
      const c = this.conn.p11.C_CopyObject(s, h, [{ type: pkcs11js.CKA_TOKEN, value: false }]);
      if (this.copies.size >= this.opts.maxCopies) this.evictOneCopy(s);
      this.copies.set(label, c);
      return c;
    } catch (err) {
      if (isTokenLost(err)) throw err;
      this.noCopy.add(label); // created non-modifiable: use the token object
      return h;
    }
  }

  private evictOneCopy(s: Handle): void {
    const first = this.copies.entries().next();
    if (first.done) return;
    const [label, h] = first.value;
    this.copies.delete(label);
    try {
      this.conn.p11.C_DestroyObject(s, h);
    } catch {
      /* a session copy that is already gone */
    }
  }

  /** Drop what this process holds for a name (cached handles, its session copy). */
  forget(s: Handle, name: ObjectName): void {
    const label = labelOf(name);
    for (const key of [...this.handles.keys()]) if (key.endsWith(`|${label}`)) this.handles.delete(key);
    const copy = this.copies.get(label);
    if (copy) {
      this.copies.delete(label);
      try {
        this.conn.p11.C_DestroyObject(s, copy);
      } catch {
        /* already gone */
      }
    }
    this.noCopy.delete(label);
  }

  /**
   * SoftHSM2's file object store fails concurrent token-object creation now and then with
   * CKR_GENERAL_ERROR (20 parallel CreateKey calls: one failed), so creating and destroying token
   * objects is serialised per process; cryptographic operations are not.
   */
  serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.objectLock.then(fn, fn);
    this.objectLock = next.catch(() => undefined);
    return next;
  }

  /**
   * The one way objects are made: under the object lock, refusing a name already in use (unless
   * the caller vouches it is fresh — a random UUID — which skips the linear scan of the token),
   * on a pool session. SoftHSM2 now and then fails a creation with CKR_GENERAL_ERROR under load
   * (its file store): what the failed attempt left under the name is destroyed and the creation
   * tried again, at most three times in all.
   */
  create<T>(operation: string, name: ObjectName, make: (s: Handle) => Promise<T>, opts: { freshName?: boolean } = {}): Promise<T> {
    const label = labelOf(name);
    return this.serialized(() =>
      this.conn.run(operation, 'other', async (main) => {
        if (!opts.freshName && this.find(main, label).length > 0) throw new InvalidInputError(`token object ${label} already exists`);
        for (let attempt = 1; ; attempt++) {
          try {
            return await this.conn.withPoolSession(make);
          } catch (err) {
            if (!isGeneralError(err) || attempt >= 3) throw err;
            this.opts.onEvent?.('token.create-retried', { label, attempt });
            for (const h of this.find(main, label)) this.conn.p11.C_DestroyObject(main, h);
            await sleep(10 * attempt);
          }
        }
      }),
    );
  }

  /** True when at least one object carries the name. */
  exists(name: ObjectName): Promise<boolean> {
    return this.conn.run('find', 'other', (s) => this.find(s, labelOf(name)).length > 0);
  }

  /** Destroy every object carrying the name (both halves of a pair). Idempotent. */
  destroy(name: ObjectName): Promise<number> {
    const label = labelOf(name);
    return this.serialized(() =>
      this.conn.run('destroy', 'other', (s) => {
        this.forget(s, name);
        const found = [...new Map(this.find(s, label).map((h) => [h.toString('hex'), h])).values()];
        for (const h of found) {
          try {
            this.conn.p11.C_DestroyObject(s, h);
          } catch (err) {
            if (!isHandleInvalid(err)) throw err;
          }
        }
        return found.length;
      }),
    );
  }

  /**
   * Every object the service named in the token (for reconciliation and status). The listing
   * also fills the handle cache for every object it names, so a key's first use after it makes
   * no find: a find is a linear scan in SoftHSM2 (0.5–12 s at 100,000 objects, on the event
   * loop: docs/benchmarks.md#many-keys). An object made after the listing is found
   * by name at its first use; a listed handle whose object another process destroyed is re-found
   * once (Connection.run), like any stale handle.
   */
  list(): Promise<TokenObjectInfo[]> {
    // Under the object lock: SoftHSM2 once failed a key generation in this process while a
    // listing ran on the main session (reconciliation beside CreateKey).
    return this.serialized(() =>
      this.conn.run('list objects', 'other', (s) => {
        const p11 = this.conn.p11;
        p11.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_TOKEN, value: true }]);
        const all: Handle[] = [];
        try {
          for (;;) {
            const batch = p11.C_FindObjects(s, 256);
            if (batch.length === 0) break;
            all.push(...batch);
          }
        } finally {
          p11.C_FindObjectsFinal(s);
        }
        const out: TokenObjectInfo[] = [];
        const seen = new Set<string>();
        for (const h of all) {
          if (seen.has(h.toString('hex'))) continue;
          seen.add(h.toString('hex'));
          const [labelAttr, clsAttr] = p11.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_LABEL }, { type: pkcs11js.CKA_CLASS }]);
          const label = Buffer.from(labelAttr!.value as Buffer).toString('utf8');
          const name = parseLabel(label);
          if (!name) continue;
          const cls = ulong(clsAttr?.value as Buffer);
          // The first handle of a name, as `handle()` takes the first a find returns.
          const key = `${cls}|${label}`;
          if (!this.handles.has(key)) this.handles.set(key, h);
          out.push({ name, kind: KIND[cls] ?? 'data' });
        }
        return out;
      }),
    );
  }
}
