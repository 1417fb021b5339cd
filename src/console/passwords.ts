import { randomBytes, randomInt, scrypt, timingSafeEqual } from 'node:crypto';
import type { ConsoleIdentityLookup, ConsoleUserIdentity } from '../model/identity.js';

// Console passwords: set by an operator with `hsmkms console password`, kept only as
// a slow scrypt hash (RFC 7914; N=2^15, r=8, p=1 — OWASP's minimum for scrypt), never in logs.
// A password signs a user in to /console only; the API still needs a signed request.

const N = 2 ** 15;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MAXMEM = 128 * N * R * 2;
export const MIN_PASSWORD_LENGTH = 12;
const ALNUM = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEYLEN, { N: n, r, p, maxmem: Math.max(MAXMEM, 128 * n * r * 2) }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(password, salt, N, R, P);
  try {
    return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
  } finally {
    hash.fill(0);
  }
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await derive(password, Buffer.from(salt, 'base64'), Number(n), Number(r), Number(p));
  try {
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  } finally {
    actual.fill(0);
  }
}

export function generatePassword(length = 20): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}

export class PasswordError extends Error {
  readonly code = 'InvalidArgument';
}

// Computed once so an unknown user costs the same scrypt as a known one.
let dummyHash: Promise<string> | undefined;

export class ConsolePasswords {
  constructor(private readonly repo: ConsoleIdentityLookup) {}

  /** Sets a user's console password (null removes it). */
  async set(accountUin: string, userName: string, password: string | null): Promise<void> {
    if (password !== null && password.length < MIN_PASSWORD_LENGTH) throw new PasswordError(`a console password needs at least ${MIN_PASSWORD_LENGTH} characters`);
    if (password !== null && password.length > 256) throw new PasswordError('a console password has at most 256 characters');
    const hash = password === null ? null : await hashPassword(password);
    if (!(await this.repo.setConsolePasswordHash(accountUin, userName, hash))) throw new PasswordError(`user ${userName} not found in account ${accountUin}`);
  }

  /** The user when the password matches and the user is enabled; undefined otherwise (one answer for every failure). */
  async verify(accountUin: string, userName: string, password: string): Promise<(ConsoleUserIdentity & { passwordHash: string }) | undefined> {
    const user = await this.repo.findConsoleUser({ accountUin, name: userName });
    if (!user || user.passwordHash === null) {
      await verifyPassword(password, await (dummyHash ??= hashPassword(generatePassword())));
      return undefined;
    }
    const ok = await verifyPassword(password, user.passwordHash);
    if (!ok || user.userStatus !== 'Enabled') return undefined;
    return { ...user, passwordHash: user.passwordHash };
  }
}
