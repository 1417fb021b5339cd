import { hash } from 'node:crypto';
import type { NonceVerdict, V1NonceEntry, V1NonceStore } from '../../model/replay.js';
import { SignatureExpireError } from '../errors.js';
import type { ApiRequest } from './request.js';

// Clock skew and replay (docs/contract/protocol.md#clock-skew): a signed request is acceptable within 300 s of server
// time, and a v1 request only once (docs/deployment.md#v1-replay).

export const TIMESTAMP_WINDOW_SECONDS = 300;

// docs/contract/protocol.md#clock-skew: more than 300 s either side of server time → AuthFailure.SignatureExpire.
export function assertTimestampFresh(timestamp: number, nowMs: number = Date.now(), windowSeconds: number = TIMESTAMP_WINDOW_SECONDS): void {
  if (Math.abs(Math.floor(nowMs / 1000) - timestamp) > windowSeconds) {
    throw new SignatureExpireError(`The request timestamp is more than ${windowSeconds} s away from server time; check the client clock.`);
  }
}

/**
 * Until when a v1 request must be remembered: the last instant assertTimestampFresh accepts its
 * Timestamp, which is the whole second Timestamp + window (`|floor(now/1000) − ts| ≤ window`), so
 * up to (Timestamp + window + 1) · 1000 ms — not (Timestamp + window) · 1000, which let a request
 * be replayed without limit during the window's last second.
 */
export function v1EntryExpiry(timestamp: number, windowSeconds: number = TIMESTAMP_WINDOW_SECONDS): number {
  return (timestamp + windowSeconds + 1) * 1000;
}

/**
 * The replay store's entry for a v1 request. Keyed on SecretId + Timestamp + Nonce + Signature
 * rather than SecretId + Nonce: the Node SDKs draw Nonce from 0–65535, so at a few hundred
 * requests a second a nonce-only key would flag honest requests; the signature covers every
 * parameter, so only a byte-for-byte replay of a signed request matches.
 */
export function v1NonceEntry(request: Pick<ApiRequest, 'secretId' | 'timestamp' | 'nonce' | 'proof'>, windowSeconds: number = TIMESTAMP_WINDOW_SECONDS): V1NonceEntry {
  const digest = hash('sha256', [request.secretId, request.timestamp, request.nonce ?? '', request.proof.signature].join('\n'), 'hex').slice(0, 32);
  return { secretId: request.secretId, digest, expiresAtMs: v1EntryExpiry(request.timestamp, windowSeconds) };
}

/**
 * The replay store of one process, in memory: for a server without a shared database (tests,
 * tools); the server itself uses the database's (store/nonce-repo.ts), shared by its workers and
 * nodes. An unexpired entry is never dropped: past `perSecretId` entries of one SecretId, or
 * `maxEntries` in all, new requests are refused (`full`) until entries expire.
 */
export class NonceCache implements V1NonceStore {
  readonly #expiresAt = new Map<string, { expiresAtMs: number; secretId: string }>();
  readonly #perSecret = new Map<string, number>();

  constructor(
    readonly maxEntries: number = 200_000,
    readonly perSecretId: number = maxEntries,
  ) {}

  get size(): number {
    return this.#expiresAt.size;
  }

  async record(entry: V1NonceEntry, nowMs: number = Date.now()): Promise<NonceVerdict> {
    return this.recordNow(entry, nowMs);
  }

  recordNow(entry: V1NonceEntry, nowMs: number = Date.now()): NonceVerdict {
    const known = this.#expiresAt.get(entry.digest);
    if (known !== undefined && known.expiresAtMs > nowMs) return 'replayed';
    if (known !== undefined) this.#drop(entry.digest, known.secretId);
    if (this.#expiresAt.size >= this.maxEntries || (this.#perSecret.get(entry.secretId) ?? 0) >= this.perSecretId) this.#evictExpired(nowMs);
    if (this.#expiresAt.size >= this.maxEntries || (this.#perSecret.get(entry.secretId) ?? 0) >= this.perSecretId) return 'full';
    this.#expiresAt.set(entry.digest, { expiresAtMs: entry.expiresAtMs, secretId: entry.secretId });
    this.#perSecret.set(entry.secretId, (this.#perSecret.get(entry.secretId) ?? 0) + 1);
    return 'first';
  }

  // Only when a bound is reached: a pass over every entry (expiry times are not in insertion
  // order, a request's Timestamp may be anywhere in the window).
  #evictExpired(nowMs: number): void {
    for (const [digest, e] of this.#expiresAt) if (e.expiresAtMs <= nowMs) this.#drop(digest, e.secretId);
  }

  #drop(digest: string, secretId: string): void {
    this.#expiresAt.delete(digest);
    const n = (this.#perSecret.get(secretId) ?? 1) - 1;
    if (n > 0) this.#perSecret.set(secretId, n);
    else this.#perSecret.delete(secretId);
  }
}
