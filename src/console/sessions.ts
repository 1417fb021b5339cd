import { randomBytes, timingSafeEqual } from 'node:crypto';

// Console sessions, in memory (a restart signs everyone out): an opaque random id in an
// HttpOnly, SameSite=Strict cookie, a per-session CSRF token every form carries, an idle
// expiry renewed by each request and an absolute one. The session holds who signed in and how,
// never a SecretKey or password; the identity is looked up again on every request, so a
// disabled user or API key ends the session at once.

export type SessionPrincipal = { kind: 'secret'; secretId: string } | { kind: 'password'; userUin: string; passwordHash: string };

export interface Session {
  id: string;
  csrf: string;
  principal: SessionPrincipal;
  accountUin: string;
  userName: string;
  createdAtMs: number;
  lastSeenMs: number;
  region: string | undefined;
  /** One-shot messages shown on the next page (the result of a POST before its redirect). */
  flash: Array<{ kind: 'ok' | 'error'; text: string }>;
}

export type SessionLookup = { session: Session } | { expired: boolean };

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly idleMs: number,
    private readonly maxMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  create(principal: SessionPrincipal, who: { accountUin: string; userName: string }): Session {
    this.sweep();
    const t = this.now();
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      csrf: randomBytes(32).toString('base64url'),
      principal,
      ...who,
      createdAtMs: t,
      lastSeenMs: t,
      region: undefined,
      flash: [],
    };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session for a cookie value (its idle timer renewed), or whether one just expired. */
  get(id: string | undefined): SessionLookup {
    if (!id) return { expired: false };
    const s = this.sessions.get(id);
    if (!s) return { expired: false };
    const t = this.now();
    if (t - s.lastSeenMs > this.idleMs || t - s.createdAtMs > this.maxMs) {
      this.sessions.delete(id);
      return { expired: true };
    }
    s.lastSeenMs = t;
    return { session: s };
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  static csrfMatches(session: Session, given: unknown): boolean {
    if (typeof given !== 'string') return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private sweep(): void {
    const t = this.now();
    for (const [id, s] of this.sessions) if (t - s.lastSeenMs > this.idleMs || t - s.createdAtMs > this.maxMs) this.sessions.delete(id);
  }
}
