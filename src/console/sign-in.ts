import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response, Router } from 'express';
import { timeOrderedUuid } from '../ids.js';
import { sourceIpOf } from '../net.js';
import type { CredentialIdentity } from '../model/identity.js';
import type { ConsoleContext } from './context.js';
import { authed, COOKIE, cookies, LOGIN_COOKIE, sameBytes, setCookie, str } from './http.js';
import { ConsolePasswords } from './passwords.js';
import type { Session } from './sessions.js';
import * as views from './views.js';

// Signing in (with a SecretId and SecretKey, or a console password) and out. The SecretKey or
// password is checked once at sign-in and never kept; sign-ins are audit events.

// Failed sign-ins per source address before it must wait (a slow hash alone is not enough).
const MAX_FAILED_LOGINS = 10;
const FAILED_LOGIN_WINDOW_MS = 5 * 60_000;

/** The sign-in pages and forms, which need no session. */
export function signInRoutes(router: Router, { deps, sessions, send }: ConsoleContext): void {
  const passwords = new ConsolePasswords(deps.identityRepo);
  const failedLogins = new Map<string, { count: number; sinceMs: number }>();

  const loginPage = (req: Request, res: Response, opts: { error?: string; notice?: string; secretId?: string; account?: string; userName?: string } = {}, status = 200) => {
    let token = cookies(req)[LOGIN_COOKIE];
    if (!token || !/^[A-Za-z0-9_-]{43}$/.test(token)) {
      token = randomBytes(32).toString('base64url');
      setCookie(req, res, LOGIN_COOKIE, token);
    }
    send(res, { title: 'Log in' }, views.loginPage({ ...opts, loginCsrf: token }), undefined, status);
  };

  router.get('/login', (req, res) => {
    const reason = str(req.query.reason);
    const notice =
      reason === 'expired'
        ? 'Your session has expired. Please log in again.'
        : reason === 'signed-out'
          ? 'You have signed out.'
          : reason === 'revoked'
            ? 'Your API key or user is no longer enabled. Please log in again.'
            : undefined;
    loginPage(req, res, { notice });
  });

  const loginThrottled = (ip: string) => {
    const f = failedLogins.get(ip);
    if (!f) return false;
    if (Date.now() - f.sinceMs > FAILED_LOGIN_WINDOW_MS) {
      failedLogins.delete(ip);
      return false;
    }
    return f.count >= MAX_FAILED_LOGINS;
  };
  const loginFailed = (ip: string) => {
    if (failedLogins.size > 10_000) for (const [k, v] of failedLogins) if (Date.now() - v.sinceMs > FAILED_LOGIN_WINDOW_MS) failedLogins.delete(k);
    const f = failedLogins.get(ip);
    if (!f || Date.now() - f.sinceMs > FAILED_LOGIN_WINDOW_MS) failedLogins.set(ip, { count: 1, sinceMs: Date.now() });
    else f.count++;
  };
  // Sign-ins are audit events too (CloudAudit's ConsoleLogin), success or failure.
  const auditLogin = (req: Request, who: { accountUin: string; userUin: string; userName: string; secretId: string }, code: string | undefined) =>
    deps.audit.record(
      deps.audit.newEvent({
        eventName: 'ConsoleLogin',
        requestId: timeOrderedUuid(),
        ...who,
        sourceIp: sourceIpOf(req),
        region: '',
        resourceType: 'console',
        resourceName: '*',
        result: code ? 'Fail' : 'Success',
        errorCode: code ?? '',
        apiVersion: '',
      }),
    );
  const loginCsrfOk = (req: Request) => {
    const expected = cookies(req)[LOGIN_COOKIE];
    const given = str(req.body?._login);
    return !!expected && !!given && sameBytes(expected, given);
  };
  const startSession = (req: Request, res: Response, session: Session) => {
    setCookie(req, res, COOKIE, session.id);
    setCookie(req, res, LOGIN_COOKIE, '', 0);
    res.redirect(303, '/console/keys');
  };

  router.post('/login/secret', async (req, res) => {
    const ip = sourceIpOf(req);
    const secretId = str(req.body.secretId).trim();
    const secretKey = str(req.body.secretKey);
    if (!loginCsrfOk(req)) return loginPage(req, res, { error: 'The sign-in form expired; please try again.', secretId }, 403);
    if (loginThrottled(ip)) return loginPage(req, res, { error: 'Too many failed sign-ins from this address; try again in a few minutes.', secretId }, 429);
    let identity: CredentialIdentity | undefined;
    try {
      const auth = await deps.identities.authenticate(secretId);
      const given = Buffer.from(secretKey, 'utf8');
      try {
        if (given.length === auth.secretKey.length && timingSafeEqual(given, auth.secretKey)) identity = auth.identity;
      } finally {
        auth.secretKey.fill(0);
        given.fill(0);
      }
    } catch {
      identity = undefined;
    }
    if (!identity) {
      loginFailed(ip);
      await auditLogin(req, { accountUin: '', userUin: '', userName: '', secretId: /^[A-Za-z0-9]{1,64}$/.test(secretId) ? secretId : '' }, 'AuthFailure.SecretIdNotFound').catch(
        () => undefined,
      );
      return loginPage(req, res, { error: 'AuthFailure: the SecretId or SecretKey is incorrect, or the key or its user is disabled.', secretId }, 401);
    }
    try {
      await auditLogin(req, { accountUin: identity.accountUin, userUin: identity.userUin, userName: identity.isRoot ? 'root' : identity.userName, secretId }, undefined);
    } catch {
      return loginPage(req, res, { error: 'InternalError: the sign-in could not be audited; try again later.' }, 503);
    }
    failedLogins.delete(ip);
    startSession(req, res, sessions.create({ kind: 'secret', secretId }, { accountUin: identity.accountUin, userName: identity.isRoot ? 'root' : identity.userName }));
  });

  router.post('/login/password', async (req, res) => {
    const ip = sourceIpOf(req);
    const account = str(req.body.account).trim() || deps.rootUin;
    const userName = str(req.body.userName).trim();
    const password = str(req.body.password);
    const back = { account: str(req.body.account).trim(), userName };
    if (!loginCsrfOk(req)) return loginPage(req, res, { error: 'The sign-in form expired; please try again.', ...back }, 403);
    if (loginThrottled(ip)) return loginPage(req, res, { error: 'Too many failed sign-ins from this address; try again in a few minutes.', ...back }, 429);
    const user = userName && password ? await passwords.verify(account, userName, password) : undefined;
    if (!user) {
      loginFailed(ip);
      await auditLogin(
        req,
        { accountUin: /^\d{1,20}$/.test(account) ? account : '', userUin: '', userName: userName.slice(0, 64), secretId: '' },
        'AuthFailure.InvalidPassword',
      ).catch(() => undefined);
      return loginPage(req, res, { error: 'AuthFailure: the account, user name or password is incorrect, or the user is disabled.', ...back }, 401);
    }
    try {
      await auditLogin(req, { accountUin: user.accountUin, userUin: user.userUin, userName: user.userName, secretId: '' }, undefined);
    } catch {
      return loginPage(req, res, { error: 'InternalError: the sign-in could not be audited; try again later.' }, 503);
    }
    failedLogins.delete(ip);
    startSession(req, res, sessions.create({ kind: 'password', userUin: user.userUin, passwordHash: user.passwordHash }, { accountUin: user.accountUin, userName: user.userName }));
  });
}

/** Sign-out, behind the session gate. */
export function signOutRoute(router: Router, { sessions }: ConsoleContext): void {
  router.post('/logout', (req, res) => {
    sessions.destroy(authed(res).session.id);
    setCookie(req, res, COOKIE, '', 0);
    res.redirect(303, '/console/login?reason=signed-out');
  });
}
