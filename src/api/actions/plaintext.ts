import type { WrapAlgorithm } from '../../crypto/public-wrap.js';
import type { CryptoService } from '../../domain/crypto-ops.js';

// Plaintext on its way out to the caller, and base64 on its way in.

export const b64 = (s: string) => Buffer.from(s, 'base64');

/** base64 of a secret buffer, wiping the buffer (the string it becomes cannot be wiped). */
export function releaseBase64(secret: Buffer): string {
  try {
    return secret.toString('base64');
  } finally {
    secret.fill(0);
  }
}

/** The caller's EncryptionPublicKey, when given, checked before the operation that makes the plaintext: a refusal changes nothing. */
export function checkPlaintextOut(crypto: CryptoService, p: { EncryptionPublicKey?: string; EncryptionAlgorithm?: string }): void {
  if (p.EncryptionPublicKey) crypto.checkCallerKey({ publicKeyPem: p.EncryptionPublicKey, algorithm: p.EncryptionAlgorithm as WrapAlgorithm | undefined });
}

/** Plaintext for the caller: base64, or encrypted to its EncryptionPublicKey when given; wipes `plaintext`. */
export function plaintextOut(crypto: CryptoService, plaintext: Buffer, p: { EncryptionPublicKey?: string; EncryptionAlgorithm?: string }): string {
  if (!p.EncryptionPublicKey) return releaseBase64(plaintext);
  try {
    return crypto.wrapForCaller(plaintext, { publicKeyPem: p.EncryptionPublicKey, algorithm: p.EncryptionAlgorithm as WrapAlgorithm | undefined }).toString('base64');
  } finally {
    plaintext.fill(0);
  }
}
