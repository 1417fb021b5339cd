import type { TokenCapabilities } from '../crypto/port.js';
import type { Request, Response } from 'express';
import type { AuditLog } from '../audit/audit-log.js';
import type { Config, Region } from '../config.js';
import type { AlarmService } from '../domain/alarms.js';
import type { IdentityService } from '../domain/identity.js';
import type { Logger } from '../log.js';
import { sourceIpOf } from '../net.js';
import type { AttemptCounter } from '../model/attempts.js';
import type { AuthenticatedCall, ConsoleIdentityLookup, CredentialIdentity } from '../model/identity.js';
import type { Html } from './html.js';
import { authed, str, type ApiResult } from './http.js';
import type { Session, SessionStore } from './sessions.js';
import * as views from './views.js';
import type { ApiFailure, PageContext } from './views.js';

// What the console's pages share: their dependencies (passed in by app.ts) and the page
// helpers — rendering, one API call as the signed-in user, the region, flash messages.

/** The API router's pipeline for an identity already authenticated (src/api/router.ts). */
export type Dispatch = (call: AuthenticatedCall) => Promise<object>;

export interface ConsoleDeps {
  config: Config;
  logger: Logger;
  dispatch: Dispatch;
  identities: IdentityService;
  identityRepo: ConsoleIdentityLookup;
  /** CAM for reading the audit trail (CloudAudit's LookUpEvents): throws when not allowed. */
  authorizeAuditRead: (identity: CredentialIdentity, sourceIp: string) => Promise<void>;
  /** The API's error answer (api/errors.ts mapError), for errors met outside the API pipeline. */
  mapError: (err: unknown) => { code: string; message: string; internal: boolean };
  alarms: AlarmService;
  audit: AuditLog;
  rootUin: string;
  /** What the token offers (the create dialog's key usages). */
  capabilities: () => TokenCapabilities;
  /** The API's freshness wait (domain/cache.ts EpochWatch): sign-in reads cached credentials too. */
  fresh?: () => Promise<void>;
  /** Sign-in attempts per address and per user, shared by every worker and node (the database's). */
  signInAttempts: AttemptCounter;
}

export const KMS = '2019-01-18';
export const CLOUDAUDIT = '2019-03-19';

export interface ConsoleContext {
  deps: ConsoleDeps;
  sessions: SessionStore;
  send(res: Response, ctx: Partial<PageContext> & { title: string }, body: Html, session?: Session, status?: number): void;
  /** A page for the signed-in user. */
  page(req: Request, res: Response, title: string, nav: PageContext['nav'], body: Html, status?: number): void;
  /** One API call as the signed-in user, through the API's own pipeline. */
  call(req: Request, res: Response, action: string, params: Record<string, unknown>, region: string | undefined, version?: string): Promise<ApiResult>;
  /** The region of this request (query or form), remembered in the session as the default. */
  regionOf(req: Request, res: Response): Region;
  flash(res: Response, kind: 'ok' | 'error', text: string): void;
  failText(f: ApiFailure): string;
}

export function consoleContext(deps: ConsoleDeps, sessions: SessionStore): ConsoleContext {
  const regions = new Map(deps.config.regions.map((r) => [r.name, r]));

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

  const call = async (req: Request, res: Response, action: string, params: Record<string, unknown>, region: string | undefined, version = KMS): Promise<ApiResult> => {
    const envelope = (await deps.dispatch({ identity: authed(res).identity, version, action, region, params, sourceIp: sourceIpOf(req) })) as {
      Response: Record<string, unknown> & { Error?: { Code: string; Message: string }; RequestId: string };
    };
    const r = envelope.Response;
    if (r.Error) return { ok: false, failure: { code: r.Error.Code, message: r.Error.Message, requestId: r.RequestId } };
    return { ok: true, data: r };
  };

  const regionOf = (req: Request, res: Response): Region => {
    const s = authed(res).session;
    const asked = str(req.query.region) || str(req.body?.region);
    const r = regions.get(asked) ?? regions.get(s.region ?? '') ?? deps.config.regions[0]!;
    s.region = r.name;
    return r;
  };
  const flash = (res: Response, kind: 'ok' | 'error', text: string) => authed(res).session.flash.push({ kind, text });
  const failText = (f: ApiFailure) => `${f.code}: ${f.message} (RequestId ${f.requestId})`;
  const page = (_req: Request, res: Response, title: string, nav: PageContext['nav'], body: Html, status = 200) =>
    send(res, { title, nav, region: authed(res).session.region }, body, authed(res).session, status);

  return { deps, sessions, send, page, call, regionOf, flash, failText };
}
