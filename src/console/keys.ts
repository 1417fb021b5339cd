import type { Request, Response, Router } from 'express';
import type { Region } from '../config.js';
import { KEY_STATE_NUMBERS } from '../domain/key-state.js';
import { usagesOffered } from '../domain/key-usages.js';
import type { ConsoleContext } from './context.js';
import { authed, list, str } from './http.js';
import * as views from './views.js';
import type { ApiFailure, KeyMeta } from './views.js';

// The key pages: the list and the create dialog, enabling and disabling (single and batch, with
// a confirmation), a key's details with its edits, online tools and external material, and
// scheduling or cancelling its deletion. Each action is one API call as the signed-in user.

const PAGE_SIZE = 10;

/** ListKeyDetail's KeyState for a state name from the query; 0 (every state) for anything else. */
const stateNumber = (state: string) => (Object.hasOwn(KEY_STATE_NUMBERS, state) ? KEY_STATE_NUMBERS[state as keyof typeof KEY_STATE_NUMBERS] : 0);

export function keyRoutes(router: Router, { deps, page, call, regionOf, flash, failText }: ConsoleContext): void {
  const keyIdParam = (req: Request) => String(req.params.keyId ?? '');

  router.get('/', (_req, res) => res.redirect(302, '/console/keys'));

  // Key list and the create dialog.
  const usagesOf = (region: Region) => usagesOffered(region, deps.capabilities());

  const renderList = async (req: Request, res: Response, create?: views.KeyListView['create'], status = 200) => {
    const region = regionOf(req, res);
    const search = str(req.query.q).trim();
    const state = str(req.query.state);
    const pageNo = Math.max(1, Math.floor(Number(str(req.query.page)) || 1));
    const r = await call(
      req,
      res,
      'ListKeyDetail',
      { Offset: (pageNo - 1) * PAGE_SIZE, Limit: PAGE_SIZE, OrderType: 0, KeyState: stateNumber(state), KeyUsage: 'ALL', ...(search ? { SearchKeyAlias: search } : {}) },
      region.name,
    );
    const body = views.keyListPage({
      region,
      csrf: authed(res).session.csrf,
      keys: r.ok ? ((r.data.KeyMetadatas as KeyMeta[]) ?? []) : [],
      total: r.ok ? Number(r.data.TotalCount ?? 0) : 0,
      search,
      state: stateNumber(state) ? state : '',
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
      return renderList(
        req,
        res,
        {
          open: true,
          failure: r.failure,
          values: { Alias: str(b.Alias), Description: description, KeyUsage: str(b.KeyUsage), Type: str(b.Type), TagKey: tagKeys, TagValue: tagValues },
        },
        400,
      );
    }
    flash(
      res,
      'ok',
      `Key ${String(r.data.Alias)} (${String(r.data.KeyId)}) created${r.data.KeyState === 'PendingImport' ? '; it waits for its key material (PendingImport)' : ''}.`,
    );
    res.redirect(303, `/console/keys?region=${encodeURIComponent(region.name)}`);
  });

  // Enable / disable, single and batch, with a confirmation.
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

  // Key details, edits, online tools, external material.
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
      ? await call(
          req,
          res,
          'EnableKeyRotation',
          { KeyId: keyIdParam(req), ...(str(req.body.RotateDays) ? { RotateDays: Number.isFinite(days) ? days : str(req.body.RotateDays) } : {}) },
          region.name,
        )
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
      ? {
          kind: 'encrypt',
          input: text,
          text: String(r.data.CiphertextBlob),
          download: { name: `ciphertext_${keyIdParam(req)}.txt`, dataUrl: `data:text/plain;base64,${Buffer.from(String(r.data.CiphertextBlob)).toString('base64')}` },
        }
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
      ? {
          kind: 'decrypt',
          input: blob,
          text: String(r.data.Plaintext),
          download: { name: `plaintext_${keyIdParam(req)}.bin`, dataUrl: `data:application/octet-stream;base64,${String(r.data.Plaintext)}` },
        }
      : { kind: 'decrypt', input: blob, failure: r.failure };
    await renderDetails(req, res, { tool }, r.ok ? 200 : 400);
  });

  router.post('/keys/:keyId/public-key', async (req, res) => {
    const region = regionOf(req, res);
    const r = await call(req, res, 'GetPublicKey', { KeyId: keyIdParam(req) }, region.name);
    const tool: views.ToolResult = r.ok
      ? {
          kind: 'public-key',
          text: String(r.data.PublicKeyPem ?? r.data.PublicKey),
          download: {
            name: `publicKey_${keyIdParam(req)}.pem`,
            dataUrl: `data:application/x-pem-file;base64,${Buffer.from(String(r.data.PublicKeyPem ?? r.data.PublicKey)).toString('base64')}`,
          },
        }
      : { kind: 'public-key', failure: r.failure };
    await renderDetails(req, res, { tool }, r.ok ? 200 : 400);
  });

  router.post('/keys/:keyId/import-params', async (req, res) => {
    const region = regionOf(req, res);
    const WrappingAlgorithm = str(req.body.WrappingAlgorithm);
    const r = await call(
      req,
      res,
      'GetParametersForImport',
      { KeyId: keyIdParam(req), WrappingAlgorithm, WrappingKeySpec: str(req.body.WrappingKeySpec) || 'RSA_2048' },
      region.name,
    );
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

  // Schedule and cancel deletion.
  const renderDeletion = async (req: Request, res: Response, failure?: ApiFailure, days = '7', status = 200) => {
    const region = regionOf(req, res);
    const r = await call(req, res, 'DescribeKey', { KeyId: keyIdParam(req) }, region.name);
    if (!r.ok) return page(req, res, 'Schedule Key Deletion', 'keys', views.messagePage('Schedule Key Deletion', failText(r.failure)), 400);
    page(
      req,
      res,
      'Schedule Key Deletion',
      'keys',
      views.deletionPage({ key: r.data.KeyMetadata as KeyMeta, csrf: authed(res).session.csrf, region: region.name, failure, days }),
      status,
    );
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
}
