import { createHmac, timingSafeEqual } from 'node:crypto';

// The MAC primitives both signature versions use.

export function hmac(algorithm: 'sha1' | 'sha256', key: Buffer, message: string): Buffer {
  return createHmac(algorithm, key).update(message, 'utf8').digest();
}

export function safeEqual(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
