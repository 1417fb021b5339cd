import type { Router } from 'express';
import { sourceIpOf } from '../net.js';
import { CLOUDAUDIT, type ConsoleContext } from './context.js';
import { authed, str } from './http.js';
import * as views from './views.js';
import type { ApiFailure, AuditFilters } from './views.js';

// Event history (CloudAudit's LookUpEvents as the signed-in user) and the deletion alarms.

export function auditRoutes(router: Router, { deps, page, call }: ConsoleContext): void {
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
      {
        StartTime: Number.isNaN(startMs) ? f.start : Math.floor(startMs / 1000),
        EndTime: Number.isNaN(endMs) ? f.end : Math.floor(endMs / 1000),
        MaxResults: 20,
        ...(attrs.length ? { LookupAttributes: attrs } : {}),
        ...(next ? { NextToken: next } : {}),
      },
      undefined,
      CLOUDAUDIT,
    );
    const body = views.auditPage({
      filters: f,
      events: r.ok ? ((r.data.Events as Array<Record<string, unknown>>) ?? []) : [],
      nextToken: r.ok ? String(r.data.NextToken ?? '') : '',
      failure: r.ok ? undefined : r.failure,
    });
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
      // A refusal is shown like the API's; anything else is the error handler's.
      const mapped = deps.mapError(err);
      if (mapped.internal) throw err;
      failure = { code: mapped.code, message: mapped.message, requestId: '' };
    }
    const alarms = failure ? [] : (await deps.alarms.list(identity.accountUin, 200)).filter((a) => !keyId || a.keyId.includes(keyId));
    page(req, res, 'Alarms', 'alarms', views.alarmsPage({ alarms, keyId, failure, webhook: deps.alarms.webhookConfigured }), failure ? 403 : 200);
  });
}
