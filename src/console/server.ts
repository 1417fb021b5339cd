import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import type { Config, Region } from '../config.js';
import type { AlarmService } from '../domain/alarms.js';
import type { IdentityService } from '../domain/identity.js';
import { algorithmsFor } from '../domain/service-info.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Logger } from '../log.js';
import type { CredentialIdentity, IdentityRepo } from '../store/identity-repo.js';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.js';
import type { Html } from './html.js';
import { ConsolePasswords } from './passwords.js';
import { SessionStore, type Session } from './sessions.js';
import * as views from './views.js';
import type { ApiFailure, AuditFilters, KeyMeta, PageContext } from './views.js';
import { timeOrderedUuid } from '../ids.js';

// The web console at /console (issue 9): server-rendered pages for people who manage keys
// without writing code. It holds no key logic and no authorization of its own: every action is
// one Tencent API call dispatched through the API router's pipeline for the signed-in user
// (`dispatch`: the signature step replaced by the session's identity; rate limits, validation,
// CAM, audit and error envelopes unchanged). Sessions are cookies (HttpOnly, SameSite=Strict)
// with a CSRF token in every form; the SecretKey or password is checked once at sign-in and
// never kept.

/** The API router's pipeline for an identity already authenticated (src/api/router.ts). */
export type Dispatch = (call: { identity: CredentialIdentity; version: string; action: string; region: string | undefined; params: Record<string, unknown>; sourceIp: string; language?: string }) => Promise<object>;

export interface ConsoleDeps {
  config: Config;
  logger: Logger;
  dispatch: Dispatch;
  identities: IdentityService;
  identityRepo: IdentityRepo;
  /** CAM for reading the audit trail (CloudAudit's LookUpEvents): throws when not allowed. */
  authorizeAuditRead: (identity: CredentialIdentity, sourceIp: string) => Promise<void>;
  alarms: AlarmService;
  audit: AuditLog;
  rootUin: string;
  tokenSupports: (mechanism: string) => boolean;
  /** The API's freshness wait (domain/cache.ts EpochWatch): sign-in reads cached credentials too. */
  fresh?: () => Promise<void>;
}

const KMS = '2019-01-18';
const CLOUDAUDIT = '2019-03-19';
const COOKIE = 'hsmkms_console';
const LOGIN_COOKIE = 'hsmkms_console_login';
const PAGE_SIZE = 10;
const STATE_CODES: Record<string, number> = { Enabled: 1, Disabled: 2, PendingDelete: 3, PendingImport: 4, Archived: 5 };
// Failed sign-ins per source address before it must wait (a slow hash alone is not enough).
const MAX_FAILED_LOGINS = 10;
const FAILED_LOGIN_WINDOW_MS = 5 * 60_000;

type ApiResult = { ok: true; data: Record<string, unknown> } | { ok: false; failure: ApiFailure };

function cookies(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

function setCookie(req: Request, res: Response, name: string, value: string, maxAgeS?: number): void {
  const attrs = [`${name}=${value}`, 'Path=/console', 'HttpOnly', 'SameSite=Strict'];
  if (req.secure) attrs.push('Secure');
  if (maxAgeS !== undefined) attrs.push(`Max-Age=${maxAgeS}`);
  res.append('Set-Cookie', attrs.join('; '));
}

const sourceIpOf = (req: Request) => {
  const ip = req.socket.remoteAddress ?? '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
};
const str = (v: unknown) => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '');
const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);
const sameBytes = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

export function consoleRouter(deps: ConsoleDeps): Router {
  const router = express.Router();
  const sessions = new SessionStore(deps.config.consoleSessionIdleSeconds * 1000, deps.config.consoleSessionMaxSeconds * 1000);
  const passwords = new ConsolePasswords(deps.identityRepo);
  const regions = new Map(deps.config.regions.map((r) => [r.name, r]));
  const failedLogins = new Map<string, { count: number; sinceMs: number }>();
  const form = express.urlencoded({ extended: false, limit: '256kb', parameterLimit: 1000 });

  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Security-Policy', "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
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

  const send = (res: Response, ctx: Partial<PageContext> & { title: string }, body: Html, session?: Session, status = 200) => {
    const page: PageContext = {
      nav: 'none',
      csrf: session?.csrf ?? '',
      who: session ? { userName: session.userName, accountUin: session.accountUin } : undefined,
      regions: deps.config.regions,
      region: session?.region,
      flash: session ? session.flash.splice(0) : [],
      ...ctx,
    };
    res.status(status).type('html').send(views.layout(page, body));
  };

  // ---- sign-in and sign-out -------------------------------------------------------------
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
    const notice = reason === 'expired' ? 'Your session has expired. Please log in again.' : reason === 'signed-out' ? 'You have signed out.' : reason === 'revoked' ? 'Your API key or user is no longer enabled. Please log in again.' : undefined;
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
      deps.audit.newEvent({ eventName: 'ConsoleLogin', requestId: timeOrderedUuid(), ...who, sourceIp: sourceIpOf(req), region: '', resourceType: 'console', resourceName: '*', result: code ? 'Fail' : 'Success', errorCode: code ?? '', apiVersion: '' }),
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
      await auditLogin(req, { accountUin: '', userUin: '', userName: '', secretId: /^[A-Za-z0-9]{1,64}$/.test(secretId) ? secretId : '' }, 'AuthFailure.SecretIdNotFound').catch(() => undefined);
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
      await auditLogin(req, { accountUin: /^\d{1,20}$/.test(account) ? account : '', userUin: '', userName: userName.slice(0, 64), secretId: '' }, 'AuthFailure.InvalidPassword').catch(() => undefined);
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

  // ---- everything below needs a session -----------------------------------------------------
  interface Authed {
    session: Session;
    identity: CredentialIdentity;
  }
  const authed = (res: Response) => res.locals as unknown as Authed;

  /** The identity behind a session, looked up again on every request. */
  const currentIdentity = async (s: Session): Promise<CredentialIdentity | undefined> => {
    if (s.principal.kind === 'secret') {
      const id = await deps.identityRepo.findCredentialIdentity(s.principal.secretId);
      return id && id.status === 'Enabled' && id.userStatus === 'Enabled' ? id : undefined;
    }
    const u = await deps.identityRepo.findConsoleUser({ uin: s.principal.userUin });
    if (!u || u.userStatus !== 'Enabled' || u.passwordHash === null || !sameBytes(u.passwordHash, s.principal.passwordHash)) return undefined;
    // A password session calls as the user itself, with no API key: the audit shows no SecretId.
    return { secretId: '', userUin: u.userUin, sealedSecretKey: Buffer.alloc(0), status: 'Enabled', createdAt: 0, accountUin: u.accountUin, appId: u.appId, userName: u.userName, isRoot: u.isRoot, userStatus: u.userStatus };
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

  router.post('/logout', (req, res) => {
    sessions.destroy(authed(res).session.id);
    setCookie(req, res, COOKIE, '', 0);
    res.redirect(303, '/console/login?reason=signed-out');
  });

  /** One API call as the signed-in user, through the API's own pipeline. */
  const call = async (req: Request, res: Response, action: string, params: Record<string, unknown>, region: string | undefined, version = KMS): Promise<ApiResult> => {
    const envelope = (await deps.dispatch({ identity: authed(res).identity, version, action, region, params, sourceIp: sourceIpOf(req) })) as { Response: Record<string, unknown> & { Error?: { Code: string; Message: string }; RequestId: string } };
    const r = envelope.Response;
    if (r.Error) return { ok: false, failure: { code: r.Error.Code, message: r.Error.Message, requestId: r.RequestId } };
    return { ok: true, data: r };
  };

  /** The region of this request (query or form), remembered in the session as the default. */
  const regionOf = (req: Request, res: Response): Region => {
    const s = authed(res).session;
    const asked = str(req.query.region) || str(req.body?.region);
    const r = regions.get(asked) ?? regions.get(s.region ?? '') ?? deps.config.regions[0]!;
    s.region = r.name;
    return r;
  };
  const flash = (res: Response, kind: 'ok' | 'error', text: string) => authed(res).session.flash.push({ kind, text });
  const failText = (f: ApiFailure) => `${f.code}: ${f.message} (RequestId ${f.requestId})`;
  const page = (req: Request, res: Response, title: string, nav: PageContext['nav'], body: Html, status = 200) => send(res, { title, nav, region: authed(res).session.region }, body, authed(res).session, status);
  const keyIdParam = (req: Request) => String(req.params.keyId ?? '');

  router.get('/', (_req, res) => res.redirect(302, '/console/keys'));

  // ---- key list and the create dialog -------------------------------------------------------
  const usagesOf = (region: Region) => {
    const a = algorithmsFor(region, deps.tokenSupports);
    return [...new Set([...a.symmetric, ...a.asymmetric, ...a.sign].map((e) => e.KeyUsage))];
  };

  const renderList = async (req: Request, res: Response, create?: views.KeyListView['create'], status = 200) => {
    const region = regionOf(req, res);
    const search = str(req.query.q).trim();
    const state = str(req.query.state);
    const pageNo = Math.max(1, Math.floor(Number(str(req.query.page)) || 1));
    const r = await call(req, res, 'ListKeyDetail', { Offset: (pageNo - 1) * PAGE_SIZE, Limit: PAGE_SIZE, OrderType: 0, KeyState: STATE_CODES[state] ?? 0, KeyUsage: 'ALL', ...(search ? { SearchKeyAlias: search } : {}) }, region.name);
    const body = views.keyListPage({
      region,
      csrf: authed(res).session.csrf,
      keys: r.ok ? ((r.data.KeyMetadatas as KeyMeta[]) ?? []) : [],
      total: r.ok ? Number(r.data.TotalCount ?? 0) : 0,
      search,
      state: STATE_CODES[state] ? state : '',
      page: pageNo,
      pageSize: PAGE_SIZE,
      failure: r.ok ? undefined : r.failure,
      usages: usagesOf(region),
      create,
    });
    page(req, res, 'Keys', 'keys', body, status);
  };

  router.get('/keys', (req, res) => renderList(req, res));

  router.post('/keys/create', async (req, res) => {
    const region = regionOf(req, res);
    const b = req.body as Record<string, unknown>;
    const tagKeys = list(b.TagKey);
    const tagValues = list(b.TagValue);
    const tags = tagKeys.map((k, i) => ({ TagKey: k.trim(), TagValue: (tagValues[i] ?? '').trim() })).filter((t) => t.TagKey !== '');
    const description = str(b.Description);
    const params: Record<string, unknown> = { Alias: str(b.Alias).trim(), KeyUsage: str(b.KeyUsage) || 'ENCRYPT_DECRYPT', Type: str(b.Type) === '2' ? 2 : 1 };
    if (description) params.Description = description;
    if (tags.length) params.Tags = tags;
    const r = await call(req, res, 'CreateKey', params, region.name);
    if (!r.ok) {
      return renderList(req, res, { open: true, failure: r.failure, values: { Alias: str(b.Alias), Description: description, KeyUsage: str(b.KeyUsage), Type: str(b.Type), TagKey: tagKeys, TagValue: tagValues } }, 400);
    }
    flash(res, 'ok', `Key ${String(r.data.Alias)} (${String(r.data.KeyId)}) created${r.data.KeyState === 'PendingImport' ? '; it waits for its key material (PendingImport)' : ''}.`);
    res.redirect(303, `/console/keys?region=${encodeURIComponent(region.name)}`);
  });

  // ---- enable / disable, single and batch, with a confirmation ------------------------------
  const describeMany = async (req: Request, res: Response, keyIds: string[], region: string) => {
    if (keyIds.length === 0) return { keys: [], failure: undefined };
    const r = await call(req, res, 'DescribeKeys', { KeyIds: keyIds }, region);
    if (!r.ok) return { keys: keyIds.map((KeyId) => ({ KeyId, Alias: '', KeyState: '?' })), failure: r.failure };
    const found = new Map(((r.data.KeyMetadatas as KeyMeta[]) ?? []).map((k) => [k.KeyId, k]));
    return { keys: keyIds.map((id) => found.get(id) ?? { KeyId: id, Alias: '', KeyState: 'not found' }), failure: undefined };
  };
  const opOf = (v: unknown) => (str(v) === 'enable' ? 'enable' : str(v) === 'disable' ? 'disable' : undefined);

  router.post('/keys/batch', async (req, res) => {
    const region = regionOf(req, res);
    const op = opOf(req.body.op);
    const keyIds = [...new Set(list(req.body.keyIds))];
    if (!op || keyIds.length === 0) {
      flash(res, 'error', 'Select the keys to enable or disable first.');
      return res.redirect(303, `/console/keys?region=${encodeURIComponent(region.name)}`);
    }
    const d = await describeMany(req, res, keyIds, region.name);
    page(req, res, 'Confirm', 'keys', views.batchConfirmPage({ op, keys: d.keys, failure: d.failure, csrf: authed(res).session.csrf, region: region.name }));
  });

  router.post('/keys/batch/confirm', async (req, res) => {
    const region = regionOf(req, res);
    const op = opOf(req.body.op);
    const keyIds = [...new Set(list(req.body.keyIds))];
    if (!op || keyIds.length === 0) return res.redirect(303, `/console/keys?region=${encodeURIComponent(region.name)}`);
    // One key: EnableKey/DisableKey, as the list's "Operation" column does; more: the batch APIs.
    const r =
      keyIds.length === 1
        ? await call(req, res, op === 'enable' ? 'EnableKey' : 'DisableKey', { KeyId: keyIds[0] }, region.name)
        : await call(req, res, op === 'enable' ? 'EnableKeys' : 'DisableKeys', { KeyIds: keyIds }, region.name);
    const d = await describeMany(req, res, keyIds, region.name);
    page(req, res, r.ok ? 'Done' : 'Failed', 'keys', views.batchResultPage({ op, keys: d.keys, failure: r.ok ? undefined : r.failure, region: region.name }), r.ok ? 200 : 400);
  });

  // ---- key details, edits, online tools, external material ----------------------------------
  const renderDetails = async (req: Request, res: Response, extra: { tool?: views.ToolResult; importStep?: views.ImportStep; failure?: ApiFailure } = {}, status = 200) => {
    const region = regionOf(req, res);
    const keyId = keyIdParam(req);
    const r = await call(req, res, 'DescribeKey', { KeyId: keyId }, region.name);
    if (!r.ok) {
      return page(req, res, 'Key', 'keys', views.messagePage('Key details', failText(r.failure)), 400);
    }
    const key = r.data.KeyMetadata as KeyMeta;
    const rotation = { enabled: !!key.KeyRotationEnabled, rotateDays: Number(key.RotateDays ?? 0) || undefined, nextRotateTime: Number(key.NextRotateTime ?? 0) || undefined };
    page(req, res, `Key ${key.Alias}`, 'keys', views.keyDetailsPage({ key, rotation, region, csrf: authed(res).session.csrf, ...extra }), status);
  };
  const toDetails = (res: Response, keyId: string, region: string) => res.redirect(303, views.keyUrl(keyId, region));

  router.get('/keys/:keyId', (req, res) => renderDetails(req, res));

  router.post('/keys/:keyId/alias', async (req, res) => {
    const region = regionOf(req, res);
    const r = await call(req, res, 'UpdateAlias', { KeyId: keyIdParam(req), Alias: str(req.body.Alias).trim() }, region.name);
    if (!r.ok) return renderDetails(req, res, { failure: r.failure }, 400);
    flash(res, 'ok', 'The key name was changed.');
    toDetails(res, keyIdParam(req), region.name);
  });

  router.post('/keys/:keyId/description', async (req, res) => {
    const region = regionOf(req, res);
    const r = await call(req, res, 'UpdateKeyDescription', { KeyId: keyIdParam(req), Description: str(req.body.Description) }, region.name);
    if (!r.ok) return renderDetails(req, res, { failure: r.failure }, 400);
    flash(res, 'ok', 'The description was changed.');
    toDetails(res, keyIdParam(req), region.name);
  });

  router.post('/keys/:keyId/rotation', async (req, res) => {
    const region = regionOf(req, res);
    const enable = str(req.body.enabled) === '1';
    const days = Number(str(req.body.RotateDays));
    const r = enable
      ? await call(req, res, 'EnableKeyRotation', { KeyId: keyIdParam(req), ...(str(req.body.RotateDays) ? { RotateDays: Number.isFinite(days) ? days : str(req.body.RotateDays) } : {}) }, region.name)
      : await call(req, res, 'DisableKeyRotation', { KeyId: keyIdParam(req) }, region.name);
    if (!r.ok && str(req.body.back) === 'list') {
      flash(res, 'error', failText(r.failure));
      return res.redirect(303, `/console/keys?region=${encodeURIComponent(region.name)}`);
    }
    if (!r.ok) return renderDetails(req, res, { failure: r.failure }, 400);
    flash(res, 'ok', enable ? `Key rotation is enabled for ${keyIdParam(req)}.` : `Key rotation is disabled for ${keyIdParam(req)}.`);
    if (str(req.body.back) === 'list') return res.redirect(303, `/console/keys?region=${encodeURIComponent(region.name)}`);
    toDetails(res, keyIdParam(req), region.name);
  });

  router.post('/keys/:keyId/encrypt', async (req, res) => {
    const region = regionOf(req, res);
    const text = str(req.body.Plaintext);
    const r = await call(req, res, 'Encrypt', { KeyId: keyIdParam(req), Plaintext: Buffer.from(text, 'utf8').toString('base64') }, region.name);
    const tool: views.ToolResult = r.ok
      ? { kind: 'encrypt', input: text, text: String(r.data.CiphertextBlob), download: { name: `ciphertext_${keyIdParam(req)}.txt`, dataUrl: `data:text/plain;base64,${Buffer.from(String(r.data.CiphertextBlob)).toString('base64')}` } }
      : { kind: 'encrypt', input: text, failure: r.failure };
    await renderDetails(req, res, { tool }, r.ok ? 200 : 400);
  });

  router.post('/keys/:keyId/decrypt', async (req, res) => {
    const region = regionOf(req, res);
    const blob = str(req.body.CiphertextBlob).trim();
    const r = await call(req, res, 'Decrypt', { CiphertextBlob: blob }, region.name);
    // The guide: "After decryption, the plaintext will be Base64-encoded for display"; the
    // download is the plaintext itself.
    const tool: views.ToolResult = r.ok
      ? { kind: 'decrypt', input: blob, text: String(r.data.Plaintext), download: { name: `plaintext_${keyIdParam(req)}.bin`, dataUrl: `data:application/octet-stream;base64,${String(r.data.Plaintext)}` } }
      : { kind: 'decrypt', input: blob, failure: r.failure };
    await renderDetails(req, res, { tool }, r.ok ? 200 : 400);
  });

  router.post('/keys/:keyId/public-key', async (req, res) => {
    const region = regionOf(req, res);
    const r = await call(req, res, 'GetPublicKey', { KeyId: keyIdParam(req) }, region.name);
    const tool: views.ToolResult = r.ok
      ? { kind: 'public-key', text: String(r.data.PublicKeyPem ?? r.data.PublicKey), download: { name: `publicKey_${keyIdParam(req)}.pem`, dataUrl: `data:application/x-pem-file;base64,${Buffer.from(String(r.data.PublicKeyPem ?? r.data.PublicKey)).toString('base64')}` } }
      : { kind: 'public-key', failure: r.failure };
    await renderDetails(req, res, { tool }, r.ok ? 200 : 400);
  });

  router.post('/keys/:keyId/import-params', async (req, res) => {
    const region = regionOf(req, res);
    const WrappingAlgorithm = str(req.body.WrappingAlgorithm);
    const r = await call(req, res, 'GetParametersForImport', { KeyId: keyIdParam(req), WrappingAlgorithm, WrappingKeySpec: str(req.body.WrappingKeySpec) || 'RSA_2048' }, region.name);
    const importStep: views.ImportStep = r.ok
      ? { params: { PublicKey: String(r.data.PublicKey), ImportToken: String(r.data.ImportToken), ParametersValidTo: Number(r.data.ParametersValidTo), WrappingAlgorithm } }
      : { failure: r.failure };
    await renderDetails(req, res, { importStep }, r.ok ? 200 : 400);
  });

  router.post('/keys/:keyId/import', async (req, res) => {
    const region = regionOf(req, res);
    const material = str(req.body.EncryptedKeyMaterial).replace(/\s+/g, '');
    const importToken = str(req.body.ImportToken).trim();
    const validToText = str(req.body.ValidTo).trim();
    const params: Record<string, unknown> = { KeyId: keyIdParam(req), EncryptedKeyMaterial: material, ImportToken: importToken };
    if (validToText) {
      const ms = Date.parse(`${validToText}Z`);
      params.ValidTo = Number.isNaN(ms) ? validToText : Math.floor(ms / 1000);
    }
    const r = await call(req, res, 'ImportKeyMaterial', params, region.name);
    if (!r.ok) return renderDetails(req, res, { importStep: { failure: r.failure, importToken, material } }, 400);
    flash(res, 'ok', 'The key material was imported.');
    toDetails(res, keyIdParam(req), region.name);
  });

  // ---- schedule and cancel deletion -----------------------------------------------------------
  const renderDeletion = async (req: Request, res: Response, failure?: ApiFailure, days = '7', status = 200) => {
    const region = regionOf(req, res);
    const r = await call(req, res, 'DescribeKey', { KeyId: keyIdParam(req) }, region.name);
    if (!r.ok) return page(req, res, 'Schedule Key Deletion', 'keys', views.messagePage('Schedule Key Deletion', failText(r.failure)), 400);
    page(req, res, 'Schedule Key Deletion', 'keys', views.deletionPage({ key: r.data.KeyMetadata as KeyMeta, csrf: authed(res).session.csrf, region: region.name, failure, days }), status);
  };

  router.get('/keys/:keyId/deletion', (req, res) => renderDeletion(req, res));

  router.post('/keys/:keyId/deletion', async (req, res) => {
    const region = regionOf(req, res);
    const daysText = str(req.body.PendingWindowInDays).trim();
    const days = /^\d{1,6}$/.test(daysText) ? Number(daysText) : daysText;
    const r = await call(req, res, 'ScheduleKeyDeletion', { KeyId: keyIdParam(req), PendingWindowInDays: days }, region.name);
    if (!r.ok) return renderDeletion(req, res, r.failure, daysText, 400);
    flash(res, 'ok', `Key ${keyIdParam(req)} will be deleted at ${views.formatTime(r.data.DeletionDate)} (UTC). You can cancel the deletion until then.`);
    res.redirect(303, `/console/keys?region=${encodeURIComponent(region.name)}`);
  });

  router.post('/keys/:keyId/cancel-deletion', async (req, res) => {
    const region = regionOf(req, res);
    const r = await call(req, res, 'CancelKeyDeletion', { KeyId: keyIdParam(req) }, region.name);
    if (r.ok) flash(res, 'ok', `The deletion of key ${keyIdParam(req)} was cancelled; the key is Disabled.`);
    else flash(res, 'error', failText(r.failure));
    if (str(req.body.back) === 'details') return toDetails(res, keyIdParam(req), region.name);
    res.redirect(303, `/console/keys?region=${encodeURIComponent(region.name)}`);
  });

  // ---- audit event history and alarms ----------------------------------------------------------
  const DAY_S = 86_400;
  const dateOnly = (unixS: number) => new Date(unixS * 1000).toISOString().slice(0, 10);

  router.get('/audit', async (req, res) => {
    const nowS = Math.floor(Date.now() / 1000);
    const f: AuditFilters = {
      start: str(req.query.start) || dateOnly(nowS - 6 * DAY_S),
      end: str(req.query.end) || dateOnly(nowS),
      EventName: str(req.query.EventName).trim(),
      Username: str(req.query.Username).trim(),
      ResourceName: str(req.query.ResourceName).trim(),
      RequestId: str(req.query.RequestId).trim(),
    };
    const startMs = Date.parse(`${f.start}T00:00:00Z`);
    const endMs = Date.parse(`${f.end}T23:59:59Z`);
    const attrs = (['EventName', 'Username', 'ResourceName', 'RequestId'] as const).filter((k) => f[k]).map((k) => ({ AttributeKey: k, AttributeValue: f[k] }));
    const next = str(req.query.next);
    const r = await call(
      req,
      res,
      'LookUpEvents',
      { StartTime: Number.isNaN(startMs) ? f.start : Math.floor(startMs / 1000), EndTime: Number.isNaN(endMs) ? f.end : Math.floor(endMs / 1000), MaxResults: 20, ...(attrs.length ? { LookupAttributes: attrs } : {}), ...(next ? { NextToken: next } : {}) },
      undefined,
      CLOUDAUDIT,
    );
    const body = views.auditPage({ filters: f, events: r.ok ? ((r.data.Events as Array<Record<string, unknown>>) ?? []) : [], nextToken: r.ok ? String(r.data.NextToken ?? '') : '', failure: r.ok ? undefined : r.failure });
    page(req, res, 'Event history', 'audit', body, r.ok ? 200 : 400);
  });

  // Alarms are not an API of their own: they are shown to whoever may read the audit trail
  // (root, or a sub-account allowed cloudaudit:LookUpEvents), decided by the same CAM engine.
  router.get('/alarms', async (req, res) => {
    const { identity } = authed(res);
    const keyId = str(req.query.keyId).trim();
    let failure: ApiFailure | undefined;
    try {
      await deps.authorizeAuditRead(identity, sourceIpOf(req));
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code !== 'Unauthorized') throw err;
      failure = { code: 'AuthFailure.UnauthorizedOperation', message: e.message ?? 'not authorized', requestId: '' };
    }
    const alarms = failure ? [] : (await deps.alarms.list(identity.accountUin, 200)).filter((a) => !keyId || a.keyId.includes(keyId));
    page(req, res, 'Alarms', 'alarms', views.alarmsPage({ alarms, keyId, failure, webhook: deps.alarms.webhookConfigured }), failure ? 403 : 200);
  });

  router.use((err: unknown, req: Request, res: Response, _next: express.NextFunction) => {
    const requestId = timeOrderedUuid();
    deps.logger.error({ err, requestId, path: req.path }, 'console error');
    res.status(500).type('text/plain').send(`InternalError: the console could not complete this request (RequestId ${requestId}).`);
  });

  return router;
}
