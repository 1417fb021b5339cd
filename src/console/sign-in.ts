import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
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

// Sign-in attempts per source address and per user in a window (a slow hash alone is not
// enough): counted before the key or password is checked, so concurrent guesses are counted one
// by one; a successful sign-in takes back its own attempt and nothing else, so one user's success
// does not clear another's guesses. The counters are the database's, shared by every worker and
// node (docs/console.md#sign-in-throttle).
const MAX_PER_ADDRESS = 10;
const MAX_PER_USER = 20;
const ATTEMPT_WINDOW_MS = 5 * 60_000;

/** A counter's scope: a fixed-size digest of the address or the user named (no user name kept in clear). */
const scopeOf = (kind: 'address' | 'user', name: string) => `${kind}:${hash('sha256', name, 'hex').slice(0, 48)}`;

/** The sign-in pages and forms, which need no session. */
export function signInRoutes(router: Router, { deps, sessions, send }: ConsoleContext): void {
  const passwords = new ConsolePasswords(deps.identityRepo);

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

  /**
   * Counts this attempt against its address and the user it names; 'throttled' past either
   * limit, else how to take the attempt back should it succeed.
   */
  const admit = async (ip: string, user: string): Promise<'throttled' | (() => Promise<void>)> => {
    const scopes = [scopeOf('address', ip), scopeOf('user', user)];
    const [byAddress, byUser] = await deps.signInAttempts.count(scopes, ATTEMPT_WINDOW_MS, Date.now());
    if (byAddress! > MAX_PER_ADDRESS || byUser! > MAX_PER_USER) return 'throttled';
    return () => deps.signInAttempts.uncount(scopes, ATTEMPT_WINDOW_MS, Date.now());
  };
  const THROTTLED = 'Too many sign-in attempts from this address or for this user; try again in a few minutes.';
  const UNCOUNTED = 'InternalError: the sign-in could not be counted; try again later.';
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
    let admitted: Awaited<ReturnType<typeof admit>>;
    try {
      admitted = await admit(ip, `secret:${secretId}`);
    } catch {
      return loginPage(req, res, { error: UNCOUNTED, secretId }, 503);
    }
    if (admitted === 'throttled') return loginPage(req, res, { error: THROTTLED, secretId }, 429);
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
    await admitted().catch(() => undefined);
    startSession(req, res, sessions.create({ kind: 'secret', secretId }, { accountUin: identity.accountUin, userName: identity.isRoot ? 'root' : identity.userName }));
  });

  router.post('/login/password', async (req, res) => {
    const ip = sourceIpOf(req);
    const account = str(req.body.account).trim() || deps.rootUin;
    const userName = str(req.body.userName).trim();
    const password = str(req.body.password);
    const back = { account: str(req.body.account).trim(), userName };
    if (!loginCsrfOk(req)) return loginPage(req, res, { error: 'The sign-in form expired; please try again.', ...back }, 403);
    let admitted: Awaited<ReturnType<typeof admit>>;
    try {
      admitted = await admit(ip, `password:${account}/${userName}`);
    } catch {
      return loginPage(req, res, { error: UNCOUNTED, ...back }, 503);
    }
    if (admitted === 'throttled') return loginPage(req, res, { error: THROTTLED, ...back }, 429);
    const user = userName && password ? await passwords.verify(account, userName, password) : undefined;
    if (!user) {
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
    await admitted().catch(() => undefined);
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
