import type { Request, Response, Router } from 'express';
import type { ConsoleContext } from './context.js';
import { authed, str } from './http.js';
import * as views from './views.js';
import type { ApiFailure } from './views.js';
import * as wb from './whitebox-views.js';

// The white-box key pages: list and create, enable/disable, delete (Disabled keys, after a
// confirmation), the DecryptKey as a file download, and the device fingerprints. Each action is
// one API call as the signed-in user, so CAM and the audit trail see the console like any client.

const PAGE_SIZE = 10;

export function whiteBoxRoutes(router: Router, { page, call, regionOf, flash, failText }: ConsoleContext): void {
  const keyIdParam = (req: Request) => String(req.params.keyId ?? '');
  const toList = (res: Response, region: string) => res.redirect(303, `/console/whitebox?region=${encodeURIComponent(region)}`);
  const toDetails = (res: Response, keyId: string, region: string) => res.redirect(303, wb.whiteBoxUrl(keyId, region));

  const renderList = async (req: Request, res: Response, create?: Parameters<typeof wb.whiteBoxListPage>[0]['create'], status = 200) => {
    const region = regionOf(req, res);
    const pageNo = Math.max(1, Math.floor(Number(str(req.query.page)) || 1));
    const r = await call(req, res, 'DescribeWhiteBoxKeyDetails', { Offset: (pageNo - 1) * PAGE_SIZE, Limit: PAGE_SIZE }, region.name);
    const body = wb.whiteBoxListPage({
      region,
      csrf: authed(res).session.csrf,
      keys: r.ok ? ((r.data.KeyInfos as wb.WhiteBoxKeyInfo[]) ?? []) : [],
      total: r.ok ? Number(r.data.TotalCount ?? 0) : 0,
      page: pageNo,
      pageSize: PAGE_SIZE,
      failure: r.ok ? undefined : r.failure,
      create,
    });
    page(req, res, 'White-box keys', 'whitebox', body, status);
  };

  router.get('/whitebox', (req, res) => renderList(req, res));

  router.post('/whitebox/create', async (req, res) => {
    const region = regionOf(req, res);
    const alias = str(req.body.Alias).trim();
    const description = str(req.body.Description);
    const r = await call(req, res, 'CreateWhiteBoxKey', { Alias: alias, Algorithm: str(req.body.Algorithm), ...(description ? { Description: description } : {}) }, region.name);
    if (!r.ok) return renderList(req, res, { open: true, failure: r.failure, alias, description }, 400);
    // The EncryptKey exists only in this answer: the page offers both files now (no-store, as every console page).
    page(
      req,
      res,
      'White-box key created',
      'whitebox',
      wb.whiteBoxCreatedPage({ keyId: String(r.data.KeyId), alias, encryptKey: String(r.data.EncryptKey), decryptKey: String(r.data.DecryptKey), region: region.name }),
    );
  });

  router.post('/whitebox/:keyId/status', async (req, res) => {
    const region = regionOf(req, res);
    const op = str(req.body.op) === 'enable' ? 'EnableWhiteBoxKey' : 'DisableWhiteBoxKey';
    const r = await call(req, res, op, { KeyId: keyIdParam(req) }, region.name);
    if (r.ok) flash(res, 'ok', `White-box key ${keyIdParam(req)} is ${op === 'EnableWhiteBoxKey' ? 'enabled' : 'disabled'}.`);
    else flash(res, 'error', failText(r.failure));
    if (str(req.body.back) === 'details') return toDetails(res, keyIdParam(req), region.name);
    toList(res, region.name);
  });

  const renderDetails = async (req: Request, res: Response, failure?: ApiFailure, status = 200) => {
    const region = regionOf(req, res);
    const keyId = keyIdParam(req);
    const r = await call(req, res, 'DescribeWhiteBoxKey', { KeyId: keyId }, region.name);
    if (!r.ok) return page(req, res, 'White-box key', 'whitebox', views.messagePage('White-box key', failText(r.failure)), 400);
    const f = await call(req, res, 'DescribeWhiteBoxDeviceFingerprints', { KeyId: keyId }, region.name);
    const fingerprints = f.ok ? ((f.data.DeviceFingerprints as Array<{ Identity: string; Description?: string }>) ?? []) : [];
    const key = r.data.KeyInfo as wb.WhiteBoxKeyInfo;
    page(
      req,
      res,
      `White-box key ${key.Alias}`,
      'whitebox',
      wb.whiteBoxDetailsPage({ key, fingerprints, region, csrf: authed(res).session.csrf, failure: failure ?? (f.ok ? undefined : f.failure) }),
      status,
    );
  };

  router.get('/whitebox/:keyId', (req, res) => renderDetails(req, res));

  // A POST (with the CSRF token), answered with the file itself: the browser saves it and stays on the page.
  router.post('/whitebox/:keyId/decrypt-key', async (req, res) => {
    const region = regionOf(req, res);
    const keyId = keyIdParam(req);
    const r = await call(req, res, 'DescribeWhiteBoxDecryptKey', { KeyId: keyId }, region.name);
    if (!r.ok) return renderDetails(req, res, r.failure, 400);
    res.setHeader('Content-Disposition', `attachment; filename="whitebox-decrypt-key_${keyId.replace(/[^0-9a-f-]/g, '')}.txt"`);
    res.type('text/plain').send(String(r.data.DecryptKey));
  });

  router.post('/whitebox/:keyId/fingerprints', async (req, res) => {
    const region = regionOf(req, res);
    const DeviceFingerprints = str(req.body.Fingerprints)
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter(Boolean)
      .map((line) => {
        const [identity, ...rest] = line.split(/\s+/);
        const description = rest.join(' ');
        return { Identity: identity, ...(description ? { Description: description } : {}) };
      });
    const r = await call(req, res, 'OverwriteWhiteBoxDeviceFingerprints', { KeyId: keyIdParam(req), DeviceFingerprints }, region.name);
    if (!r.ok) return renderDetails(req, res, r.failure, 400);
    flash(
      res,
      'ok',
      DeviceFingerprints.length
        ? `The DecryptKey is now bound to ${DeviceFingerprints.length} device fingerprint(s); files downloaded before keep their old binding.`
        : 'The fingerprints were removed: a DecryptKey downloaded now works on any host.',
    );
    toDetails(res, keyIdParam(req), region.name);
  });

  const renderDelete = async (req: Request, res: Response, failure?: ApiFailure, status = 200) => {
    const region = regionOf(req, res);
    const r = await call(req, res, 'DescribeWhiteBoxKey', { KeyId: keyIdParam(req) }, region.name);
    if (!r.ok) return page(req, res, 'Delete White-box Key', 'whitebox', views.messagePage('Delete White-box Key', failText(r.failure)), 400);
    page(
      req,
      res,
      'Delete White-box Key',
      'whitebox',
      wb.whiteBoxDeletePage({ key: r.data.KeyInfo as wb.WhiteBoxKeyInfo, csrf: authed(res).session.csrf, region: region.name, failure }),
      status,
    );
  };

  router.get('/whitebox/:keyId/delete', (req, res) => renderDelete(req, res));

  router.post('/whitebox/:keyId/delete', async (req, res) => {
    const region = regionOf(req, res);
    const r = await call(req, res, 'DeleteWhiteBoxKey', { KeyId: keyIdParam(req) }, region.name);
    if (!r.ok) return renderDelete(req, res, r.failure, 400);
    flash(res, 'ok', `White-box key ${keyIdParam(req)} was deleted.`);
    toList(res, region.name);
  });
}
