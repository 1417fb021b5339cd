import type { Region } from '../config.js';
import { html, type Html } from './html.js';
import { type ApiFailure, failureBox, formatTime, regionLabel } from './views.js';

// The white-box key pages (docs/console.md#whitebox): the list with the create dialog, a
// key's details with its fingerprints, the creation result with both table files, and the delete
// confirmation. Pure functions from the API's answers to HTML, as views.ts.

export type WhiteBoxKeyInfo = Record<string, unknown> & { KeyId: string; Alias: string; Status: string; Algorithm: string; CreateTime: number; Description?: string };

const csrfField = (csrf: string) => html`<input type="hidden" name="_csrf" value="${csrf}">`;
const regionField = (region: string) => html`<input type="hidden" name="region" value="${region}">`;
const inRegion = (region: string) => `region=${encodeURIComponent(region)}`;
export const whiteBoxUrl = (keyId: string, region: string) => `/console/whitebox/${encodeURIComponent(keyId)}?${inRegion(region)}`;

/** The warning every white-box page carries (docs/whitebox.md#cannot-promise). */
export function tableWarning(): Html {
  return html`<div class="note" id="whitebox-warning"><strong>A white-box key file is as good as the key itself.</strong>
  Whoever has the EncryptKey or DecryptKey file can encrypt or decrypt with it, and can extract the key from it in minutes to hours with public tools.
  <strong>A file cannot be revoked once copied:</strong> disabling or deleting the key stops EncryptByWhiteBox here, but every copy keeps working.
  Binding to device fingerprints only keeps a new DecryptKey from working on a host that cannot present a listed identity; identities are not secret.
  Handle these files as you would the key.</div>`;
}

const statusCell = (k: WhiteBoxKeyInfo) => html`<span class="state state-${k.Status}">${k.Status}</span>`;

function toggleForm(k: WhiteBoxKeyInfo, csrf: string, region: string, back: 'list' | 'details'): Html {
  const op = k.Status === 'Enabled' ? 'disable' : 'enable';
  return html`<form method="post" action="/console/whitebox/${k.KeyId}/status">${csrfField(csrf)}${regionField(region)}<input type="hidden" name="op" value="${op}"><input type="hidden" name="back" value="${back}"><button type="submit" class="link" data-op="${op}">${op === 'enable' ? 'Enable' : 'Disable'}</button></form>`;
}

export function whiteBoxListPage(v: {
  region: Region;
  csrf: string;
  keys: WhiteBoxKeyInfo[];
  total: number;
  page: number;
  pageSize: number;
  failure?: ApiFailure;
  create?: { open: boolean; failure?: ApiFailure; alias: string; description: string };
}): Html {
  const pages = Math.max(1, Math.ceil(v.total / v.pageSize));
  const link = (page: number) => `/console/whitebox?${inRegion(v.region.name)}&page=${page}`;
  const algorithm = v.region.standard === 'SM' ? 'SM4' : 'AES_256';
  return html`<h1>White-box keys <span class="muted" id="current-region">${regionLabel(v.region)}</span></h1>
${tableWarning()}
${failureBox(v.failure)}
<div class="toolbar"><button class="primary" type="button" data-open-dialog="whitebox-create-dialog" id="whitebox-create">Create</button></div>
<table id="whitebox-list">
  <thead><tr><th>Key ID/Name</th><th>Status</th><th>Algorithm</th><th>Fingerprints</th><th>Creation Time</th><th>Operation</th></tr></thead>
  <tbody>
  ${v.keys.length === 0 ? html`<tr><td colspan="6" class="muted">No white-box keys.</td></tr>` : ''}
  ${v.keys.map(
    (k) => html`<tr data-key-id="${k.KeyId}">
    <td><a href="${whiteBoxUrl(k.KeyId, v.region.name)}" class="key-link">${k.KeyId}</a><br><span class="alias">${k.Alias}</span></td>
    <td>${statusCell(k)}</td>
    <td>${k.Algorithm}</td>
    <td>${k.DeviceFingerprintBind ? 'Bound' : 'None'}</td>
    <td>${formatTime(k.CreateTime)}</td>
    <td class="ops">${toggleForm(k, v.csrf, v.region.name, 'list')}${k.Status === 'Disabled' ? html`<a href="/console/whitebox/${k.KeyId}/delete?${inRegion(v.region.name)}" data-op="delete">Delete</a>` : ''}</td>
  </tr>`,
  )}
  </tbody>
</table>
<div class="pager" id="pager">
  <span id="total">Total ${v.total} white-box keys</span>
  ${v.page > 1 ? html`<a href="${link(v.page - 1)}" id="prev-page">Previous</a>` : ''}
  <span id="page-of">Page ${v.page} of ${pages}</span>
  ${v.page < pages ? html`<a href="${link(v.page + 1)}" id="next-page">Next</a>` : ''}
</div>

<dialog id="whitebox-create-dialog" ${v.create?.open ? html`open data-open-now` : ''}>
  <h2>Create White-box Key</h2>
  ${failureBox(v.create?.failure)}
  <form method="post" action="/console/whitebox/create" id="whitebox-create-form">
    ${csrfField(v.csrf)}${regionField(v.region.name)}
    <label for="wb-alias">Key Name</label>
    <input id="wb-alias" name="Alias" required maxlength="60" size="40" value="${v.create?.alias ?? ''}">
    <div class="muted">Required and unique within the region: letters, numbers, _ and -, beginning with a letter or number.</div>
    <label for="wb-description">Description</label>
    <textarea id="wb-description" name="Description" maxlength="1024" style="min-height:3rem;font-family:inherit">${v.create?.description ?? ''}</textarea>
    <label for="wb-algorithm">Algorithm</label>
    <select id="wb-algorithm" name="Algorithm"><option value="${algorithm}" selected>${algorithm}</option></select>
    <div class="note">The algorithm follows the region's standard (${v.region.standard}). After creation the EncryptKey and DecryptKey files are offered for download once; the DecryptKey can be downloaded again from the key's page.</div>
    <p><button class="primary" type="submit" id="whitebox-create-ok">OK</button> <button type="button" data-close-dialog>Cancel</button></p>
  </form>
</dialog>`;
}

/** The files as the CLI's --key-file reads them: the base64 text. */
const fileUrl = (base64: string) => `data:text/plain;base64,${Buffer.from(base64).toString('base64')}`;

export function whiteBoxCreatedPage(v: { keyId: string; alias: string; encryptKey: string; decryptKey: string; region: string }): Html {
  return html`<h1>White-box key created</h1>
<div class="flash ok" role="status" id="whitebox-created">White-box key ${v.alias} (${v.keyId}) was created.</div>
${tableWarning()}
<div class="panel" id="whitebox-files">
  <p>Download the table files now: the EncryptKey is not offered again. Use them with <code>hsmkms whitebox decrypt|encrypt --key-file &lt;file&gt;</code>.</p>
  <p><a class="button" id="download-encrypt-key" download="whitebox-encrypt-key_${v.keyId}.txt" href="${fileUrl(v.encryptKey)}">Download EncryptKey</a>
     <a class="button" id="download-decrypt-key" download="whitebox-decrypt-key_${v.keyId}.txt" href="${fileUrl(v.decryptKey)}">Download DecryptKey</a></p>
  <p><a class="button primary" href="${whiteBoxUrl(v.keyId, v.region)}" id="to-details">Key details</a> <a class="button" href="/console/whitebox?${inRegion(v.region)}" id="back-to-list">Back to the list</a></p>
</div>`;
}

export function whiteBoxDetailsPage(v: {
  key: WhiteBoxKeyInfo;
  fingerprints: Array<{ Identity: string; Description?: string }>;
  region: Region;
  csrf: string;
  failure?: ApiFailure;
}): Html {
  const k = v.key;
  const post = (path: string) => `/console/whitebox/${encodeURIComponent(k.KeyId)}/${path}`;
  const hidden = html`${csrfField(v.csrf)}${regionField(v.region.name)}`;
  const lines = v.fingerprints.map((f) => (f.Description ? `${f.Identity} ${f.Description}` : f.Identity)).join('\n');
  return html`<h1>White-box key <span class="muted">${k.Alias}</span></h1>
${failureBox(v.failure)}
<p><a href="/console/whitebox?${inRegion(v.region.name)}">← Back to the white-box keys</a></p>
${tableWarning()}
<div class="panel" id="whitebox-info">
  <h2>Key Information</h2>
  <dl class="info">
    <dt>Key ID</dt><dd id="info-key-id">${k.KeyId}</dd>
    <dt>Key Name</dt><dd id="info-alias">${k.Alias}</dd>
    <dt>Region</dt><dd>${regionLabel(v.region)}</dd>
    <dt>Algorithm</dt><dd id="info-algorithm">${k.Algorithm}</dd>
    <dt>Status</dt><dd id="info-status">${statusCell(k)}</dd>
    <dt>Creation Time</dt><dd>${formatTime(k.CreateTime)}</dd>
    <dt>Description</dt><dd>${k.Description || '-'}</dd>
    <dt>Creator</dt><dd>${String(k.CreatorUin ?? '')}</dd>
  </dl>
  <div class="toolbar" style="margin-top:1rem">
    ${toggleForm(k, v.csrf, v.region.name, 'details')}
    <form method="post" action="${post('decrypt-key')}">${hidden}<button type="submit" id="download-decrypt-key">Download DecryptKey</button></form>
    ${k.Status === 'Disabled' ? html`<a class="button" href="${post('delete')}?${inRegion(v.region.name)}" id="details-delete">Delete</a>` : html`<span class="muted">Disable the key to delete it.</span>`}
  </div>
</div>
<div class="panel" id="fingerprints-panel">
  <h2>Device fingerprints</h2>
  <p>${v.fingerprints.length === 0 ? 'None: the DecryptKey works on any host.' : `${v.fingerprints.length} listed: a DecryptKey downloaded from now on works only where one of them is given (--fingerprint).`} Files downloaded before keep the binding they had.</p>
  <table id="fingerprint-list"><thead><tr><th>Identity</th><th>Description</th></tr></thead><tbody>
  ${v.fingerprints.length === 0 ? html`<tr><td colspan="2" class="muted">No fingerprints.</td></tr>` : ''}
  ${v.fingerprints.map((f) => html`<tr class="fingerprint"><td><code>${f.Identity}</code></td><td>${f.Description ?? ''}</td></tr>`)}
  </tbody></table>
  <form method="post" action="${post('fingerprints')}" id="fingerprints-form">${hidden}
    <label for="fingerprints">Overwrite the list: one per line, the identity, then an optional description (at most 200; empty removes them all)</label>
    <textarea name="Fingerprints" id="fingerprints">${lines}</textarea>
    <p><button class="primary" type="submit" id="fingerprints-save">Overwrite</button></p>
  </form>
</div>`;
}

export function whiteBoxDeletePage(v: { key: WhiteBoxKeyInfo; csrf: string; region: string; failure?: ApiFailure }): Html {
  const k = v.key;
  return html`<h1>Delete White-box Key</h1>
${failureBox(v.failure)}
<div class="panel" id="whitebox-delete">
  <p>White-box key <strong>${k.Alias}</strong> (${k.KeyId}), status ${statusCell(k)}.</p>
  ${k.Status === 'Enabled' ? html`<div class="note" id="disable-first">This key is enabled. Disable it first.</div>` : ''}
  <div class="note">The key is deleted at once and cannot be restored: EncryptByWhiteBox and the DecryptKey download stop. Table files already copied keep working.</div>
  <form method="post" action="/console/whitebox/${k.KeyId}/delete">${csrfField(v.csrf)}${regionField(v.region)}
    <p><button class="danger" type="submit" id="whitebox-delete-confirm">Delete</button> <a class="button" href="/console/whitebox?${inRegion(v.region)}">Cancel</a></p>
  </form>
</div>`;
}
