import { timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { CredentialIdentity } from '../model/identity.js';
import type { Session } from './sessions.js';
import type { ApiFailure } from './views.js';

// The console's HTTP plumbing shared by its pages: cookies, form values, the signed-in user.

export const COOKIE = 'hsmkms_console';
export const LOGIN_COOKIE = 'hsmkms_console_login';

export type ApiResult = { ok: true; data: Record<string, unknown> } | { ok: false; failure: ApiFailure };

/**
 * The request's cookies. One that does not decode (`x=%`) is skipped, not an error: any site on
 * the same host name can set cookies the console receives, and one bad cookie must not take the
 * console, its sign-in page included, down for that browser (docs/reliability.md#console-cookies).
 */
export function cookies(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    try {
      out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      /* not ours, or mangled: ignored */
    }
  }
  return out;
}

export function setCookie(req: Request, res: Response, name: string, value: string, maxAgeS?: number): void {
  const attrs = [`${name}=${value}`, 'Path=/console', 'HttpOnly', 'SameSite=Strict'];
  if (req.secure) attrs.push('Secure');
  if (maxAgeS !== undefined) attrs.push(`Max-Age=${maxAgeS}`);
  res.append('Set-Cookie', attrs.join('; '));
}

export const str = (v: unknown) => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '');
export const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);
export const sameBytes = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** What the session gate (router.ts) leaves for the pages behind it. */
export interface Authed {
  session: Session;
  identity: CredentialIdentity;
}
export const authed = (res: Response) => res.locals as unknown as Authed;
