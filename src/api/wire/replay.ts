import { SignatureExpireError } from '../errors.js';
import type { ApiRequest } from './request.js';

// Clock skew and replay (docs/contract/protocol.md#clock-skew): a signed request is acceptable within 300 s of server
// time, and a v1 request only once.

export const TIMESTAMP_WINDOW_SECONDS = 300;

// docs/contract/protocol.md#clock-skew: more than 300 s either side of server time → AuthFailure.SignatureExpire.
export function assertTimestampFresh(timestamp: number, nowMs: number = Date.now(), windowSeconds: number = TIMESTAMP_WINDOW_SECONDS): void {
  if (Math.abs(Math.floor(nowMs / 1000) - timestamp) > windowSeconds) {
    throw new SignatureExpireError(`The request timestamp is more than ${windowSeconds} s away from server time; check the client clock.`);
  }
}

/**
 * Remembers v1 requests until their Timestamp leaves the ±300 s window (docs/contract/protocol.md#clock-skew), after which
 * assertTimestampFresh rejects them anyway.
 *
 * Keyed on SecretId + Timestamp + Nonce + Signature rather than SecretId + Nonce: the Node SDKs
 * draw Nonce from 0–65535, so at a few hundred requests a second a nonce-only key would flag
 * honest requests; the signature covers every parameter, so only a byte-for-byte replay of a
 * signed request matches.
 *
 * Bounded: when full, the oldest entry is dropped. Size it above peak rate × 600 s (an entry
 * may live up to twice the window when the client clock runs ahead).
 */
export class NonceCache {
  readonly #expiresAt = new Map<string, number>();

  constructor(
    readonly maxEntries: number = 200_000,
    readonly windowSeconds: number = TIMESTAMP_WINDOW_SECONDS,
  ) {}

  get size(): number {
    return this.#expiresAt.size;
  }

  /** False when this signed request was already recorded and has not expired. */
  record(request: Pick<ApiRequest, 'secretId' | 'timestamp' | 'nonce' | 'proof'>, nowMs: number = Date.now()): boolean {
    this.#evictExpired(nowMs);
    const key = [request.secretId, request.timestamp, request.nonce ?? '', request.proof.signature].join('\n');
    const expiresAt = this.#expiresAt.get(key);
    if (expiresAt !== undefined && expiresAt > nowMs) return false;
    while (this.#expiresAt.size >= this.maxEntries) {
      const oldest = this.#expiresAt.keys().next();
      if (oldest.done) break;
      this.#expiresAt.delete(oldest.value);
    }
    this.#expiresAt.set(key, (request.timestamp + this.windowSeconds) * 1000);
    return true;
  }

  // Insertion order is close to expiry order (timestamps sit within the window), so popping
  // expired entries from the front is enough; a straggler only costs memory until it surfaces.
  #evictExpired(nowMs: number): void {
    for (const [key, expiresAt] of this.#expiresAt) {
      if (expiresAt > nowMs) break;
      this.#expiresAt.delete(key);
    }
  }
}
