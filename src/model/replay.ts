// Signature-v1 replay protection (docs/contract/protocol.md#clock-skew): the store of requests
// already received, shared by every worker and node (types shared by the API and the store).

/** One signed v1 request as the replay store knows it. */
export interface V1NonceEntry {
  /** The credential that signed it: each SecretId has its own bound. */
  readonly secretId: string;
  /** A digest of SecretId, Timestamp, Nonce and Signature: the same only for a byte-for-byte replay. */
  readonly digest: string;
  /** Until when the request could be accepted again (its Timestamp leaves the window after this). */
  readonly expiresAtMs: number;
}

/** `first`: recorded now; `replayed`: already recorded; `full`: its SecretId's bound is reached, nothing recorded. */
export type NonceVerdict = 'first' | 'replayed' | 'full';

export interface V1NonceStore {
  /** Records the request unless it was recorded before; an unexpired entry is never dropped. */
  record(entry: V1NonceEntry, nowMs: number): Promise<NonceVerdict>;
}
