import express, { type Request, type Response, type Router } from 'express';
import { timeOrderedUuid } from '../ids.js';
import type { CredentialIdentity } from '../model/identity.js';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.js';
import { auditRoutes } from './audit.js';
import { consoleContext, type ConsoleDeps } from './context.js';
import { COOKIE, cookies, sameBytes, setCookie, type Authed } from './http.js';
import { keyRoutes } from './keys.js';
import { SessionStore, type Session } from './sessions.js';
import { signInRoutes, signOutRoute } from './sign-in.js';
import { whiteBoxRoutes } from './whitebox.js';
import * as views from './views.js';

// The web console at /console: server-rendered pages for people who manage keys without writing
// code. It holds no key logic and no authorization of its own: every action is one Tencent API
// call dispatched through the API router's pipeline for the signed-in user (`dispatch`: the
// signature step replaced by the session's identity; rate limits, validation, CAM, audit and
// error envelopes unchanged). Sessions are cookies (HttpOnly, SameSite=Strict) with a CSRF token
// in every form; the SecretKey or password is checked once at sign-in and never kept.

export type { ConsoleDeps, Dispatch } from './context.js';

/** The console: security headers, assets, the cross-origin check, sign-in, the session gate, the pages, the error page. */
export function consoleRouter(deps: ConsoleDeps): Router {
  const router = express.Router();
  const sessions = new SessionStore(deps.config.consoleSessionIdleSeconds * 1000, deps.config.consoleSessionMaxSeconds * 1000);
  const form = express.urlencoded({ extended: false, limit: '256kb', parameterLimit: 1000 });
  const app = consoleContext(deps, sessions);
  const { send } = app;

  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader(
      'Content-Security-Policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on form posts.
    res.setHeader('Referrer-Policy', 'same-origin');
    if (!deps.fresh) return next();
    deps.fresh().then(() => next(), next);
  });
  router.get('/assets/console.css', (_req, res) => void res.type('text/css').send(CONSOLE_CSS));
  router.get('/assets/console.js', (_req, res) => void res.type('text/javascript').send(CONSOLE_JS));

  // A form posted from another site is refused before anything else (SameSite=Strict already
  // keeps the cookie off it; this also covers the sign-in forms, which have no session yet).
  router.use((req, res, next) => {
    if (req.method !== 'POST') return next();
    // The host only: behind a TLS-terminating proxy the scheme seen here is not the browser's.
    const origin = req.headers.origin;
    let originHost: string | undefined;
    try {
      originHost = origin === undefined ? undefined : new URL(origin).host;
    } catch {
      originHost = '';
    }
    if (origin !== undefined && originHost !== req.headers.host) {
      res.status(403).type('text/plain').send('Cross-origin form refused.');
      return;
    }
    form(req, res, next);
  });

  signInRoutes(router, app);

  // Everything below needs a session.
  /** The identity behind a session, looked up again on every request. */
  const currentIdentity = async (s: Session): Promise<CredentialIdentity | undefined> => {
    if (s.principal.kind === 'secret') {
      const id = await deps.identityRepo.findCredentialIdentity(s.principal.secretId);
      return id && id.status === 'Enabled' && id.userStatus === 'Enabled' ? id : undefined;
    }
    const u = await deps.identityRepo.findConsoleUser({ uin: s.principal.userUin });
    if (u?.userStatus !== 'Enabled' || u.passwordHash === null || !sameBytes(u.passwordHash, s.principal.passwordHash)) return undefined;
    // A password session calls as the user itself, with no API key: the audit shows no SecretId.
    return {
      secretId: '',
      userUin: u.userUin,
      sealedSecretKey: Buffer.alloc(0),
      status: 'Enabled',
      createdAt: 0,
      accountUin: u.accountUin,
      appId: u.appId,
      userName: u.userName,
      isRoot: u.isRoot,
      userStatus: u.userStatus,
    };
  };

  router.use(async (req, res, next) => {
    const id = cookies(req)[COOKIE];
    const found = sessions.get(id);
    if (!('session' in found)) {
      if (id) setCookie(req, res, COOKIE, '', 0);
      if (req.method !== 'GET') {
        res.status(401);
      }
      res.redirect(req.method === 'GET' ? 302 : 303, found.expired ? '/console/login?reason=expired' : '/console/login');
      return;
    }
    const session = found.session;
    if (req.method === 'POST' && !SessionStore.csrfMatches(session, req.body?._csrf)) {
      send(res, { title: 'Refused' }, views.messagePage('Refused', 'The form could not be verified (CSRF token missing or wrong). Reload the page and try again.'), session, 403);
      return;
    }
    const identity = await currentIdentity(session);
    if (!identity) {
      sessions.destroy(session.id);
      setCookie(req, res, COOKIE, '', 0);
      res.redirect(303, '/console/login?reason=revoked');
      return;
    }
    Object.assign(res.locals, { session, identity } satisfies Authed);
    next();
  });

  signOutRoute(router, app);
  keyRoutes(router, app);
  whiteBoxRoutes(router, app);
  auditRoutes(router, app);

  router.use((err: unknown, req: Request, res: Response, _next: express.NextFunction) => {
    const requestId = timeOrderedUuid();
    const mapped = deps.mapError(err);
    deps.logger.error({ err, requestId, path: req.path }, 'console error');
    // As the API answers: an internal failure says only its code.
    const reason = mapped.internal ? 'the console could not complete this request' : mapped.message;
    res.status(500).type('text/plain').send(`${mapped.code}: ${reason} (RequestId ${requestId}).`);
  });

  return router;
}
