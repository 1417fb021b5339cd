import { keyUsageEntry } from '../domain/key-usages.js';
import type { Region } from '../config.js';
import { pem } from '../crypto/pem.js';
import { KEY_STATES } from '../domain/key-state.js';
import { html, type Html } from './html.js';

// Server-rendered pages of the console, following the seed KMS guide's screens and wording
// (key list, "Create Key", key details with "Online Tools", "Schedule Key Deletion", event
// history). Pure functions from data to HTML; the routes (sign-in.ts, keys.ts, audit.ts) call
// the API and pass its answers in.

export type KeyMeta = Record<string, unknown> & { KeyId: string; Alias: string; KeyState: string; KeyUsage: string; CreateTime: number; Origin?: string; Description?: string };

export interface ApiFailure {
  code: string;
  message: string;
  requestId: string;
}

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

export interface PageContext {
  title: string;
  nav: 'keys' | 'whitebox' | 'audit' | 'alarms' | 'none';
  csrf: string;
  who: { userName: string; accountUin: string } | undefined;
  regions: Region[];
  region: string | undefined;
  flash: Flash[];
}

// Display names of the regions in the guide's region list; others show their id.
const REGION_NAMES: Record<string, string> = {
  'ap-guangzhou': 'Guangzhou',
  'ap-shanghai': 'Shanghai',
  'ap-beijing': 'Beijing',
  'ap-chengdu': 'Chengdu',
  'ap-chongqing': 'Chongqing',
  'ap-nanjing': 'Nanjing',
  'ap-hongkong': 'Hong Kong (China)',
  'ap-singapore': 'Singapore',
  'ap-seoul': 'Seoul',
  'ap-tokyo': 'Tokyo',
  'ap-shenzhen-fsi': 'Shenzhen Finance',
  'ap-shanghai-fsi': 'Shanghai Finance',
  'ap-beijing-fsi': 'Beijing Finance',
};

/** As the guide's region switcher writes them: "Beijing (SM-CRYPTO)", "Singapore(FIPS)". */
export function regionLabel(r: Region): string {
  const name = REGION_NAMES[r.name] ?? r.name;
  return r.standard === 'SM' ? `${name} (SM-CRYPTO)` : `${name}(FIPS)`;
}

const usageLabel = (u: string) => keyUsageEntry(u)?.label ?? u;

export function formatTime(unixS: unknown): string {
  const n = Number(unixS);
  if (!n) return '-';
  return new Date(n * 1000).toISOString().replace('T', ' ').slice(0, 19);
}

const csrfField = (csrf: string) => html`<input type="hidden" name="_csrf" value="${csrf}">`;
const regionField = (region: string | undefined) => html`<input type="hidden" name="region" value="${region ?? ''}">`;
const q = (params: Record<string, string | number | undefined>) =>
  Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
export const keyUrl = (keyId: string, region: string | undefined) => `/console/keys/${encodeURIComponent(keyId)}?${q({ region })}`;

export function failureBox(f: ApiFailure | undefined): Html {
  if (!f) return html``;
  return html`<div class="flash error" role="alert"><strong>${f.code}</strong>: ${f.message}${f.requestId ? html` <span class="muted">(RequestId ${f.requestId})</span>` : ''}</div>`;
}

export function layout(ctx: PageContext, body: Html): string {
  const current = (n: PageContext['nav']) => (ctx.nav === n ? 'current' : '');
  const header = ctx.who
    ? html`<header class="top">
  <span class="brand">Key Management Service</span>
  <nav>
    <a class="${current('keys')}" href="/console/keys?${q({ region: ctx.region })}">Customer Managed CMK</a>
    <a class="${current('whitebox')}" href="/console/whitebox?${q({ region: ctx.region })}" id="nav-whitebox">White-box keys</a>
    <a class="${current('audit')}" href="/console/audit">Event history</a>
    <a class="${current('alarms')}" href="/console/alarms">Alarms</a>
  </nav>
  <form method="get" action="${ctx.nav === 'whitebox' ? '/console/whitebox' : '/console/keys'}" class="region-switcher">
    <label class="muted" for="region-select" style="display:inline;margin:0">Region</label>
    <select id="region-select" name="region" data-autosubmit aria-label="Region">
      ${ctx.regions.map((r) => html`<option value="${r.name}" ${r.name === ctx.region ? 'selected' : ''}>${regionLabel(r)}</option>`)}
    </select>
    <noscript><button>Go</button></noscript>
  </form>
  <span class="who"><span id="who">${ctx.who.userName} · account ${ctx.who.accountUin}</span>
    <form method="post" action="/console/logout">${csrfField(ctx.csrf)}<button type="submit" id="sign-out">Sign out</button></form>
  </span>
</header>`
    : html`<header class="top"><span class="brand">Key Management Service</span></header>`;
  return `<!doctype html>
${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${ctx.title} · hsmkms console</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script type="module" src="/console/assets/console.js"></script>
</head><body>
${header}
<main>
${ctx.flash.map((f) => html`<div class="flash ${f.kind}" role="${f.kind === 'error' ? 'alert' : 'status'}">${f.text}</div>`)}
${body}
</main>
</body></html>`}`;
}

export function loginPage(opts: { error?: string; notice?: string; secretId?: string; account?: string; userName?: string; loginCsrf: string }): Html {
  return html`<div class="login">
  <h1>Log in to the KMS Console</h1>
  ${opts.notice ? html`<div class="flash ok" role="status" id="login-notice">${opts.notice}</div>` : ''}
  ${opts.error ? html`<div class="flash error" role="alert" id="login-error">${opts.error}</div>` : ''}
  <div class="panel">
    <h2>API key</h2>
    <form method="post" action="/console/login/secret" id="login-secret">
      <input type="hidden" name="_login" value="${opts.loginCsrf}">
      <label for="secretId">SecretId</label><input id="secretId" name="secretId" autocomplete="username" required size="44" value="${opts.secretId ?? ''}">
      <label for="secretKey">SecretKey</label><input id="secretKey" name="secretKey" type="password" autocomplete="current-password" required size="44">
      <p><button class="primary" type="submit">Log in</button></p>
    </form>
  </div>
  <div class="panel">
    <h2>Console password</h2>
    <form method="post" action="/console/login/password" id="login-password">
      <input type="hidden" name="_login" value="${opts.loginCsrf}">
      <label for="account">Account UIN <span class="muted">(empty: this server's root account)</span></label><input id="account" name="account" inputmode="numeric" value="${opts.account ?? ''}">
      <label for="userName">User name <span class="muted">(root, or a sub-account)</span></label><input id="userName" name="userName" autocomplete="username" required value="${opts.userName ?? ''}">
      <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
      <p><button class="primary" type="submit">Log in</button></p>
    </form>
    <p class="muted">An operator sets console passwords with <code>hsmkms console password --user &lt;name&gt;</code>.</p>
  </div>
</div>`;
}

export interface KeyListView {
  region: Region;
  csrf: string;
  keys: KeyMeta[];
  total: number;
  search: string;
  state: string;
  page: number;
  pageSize: number;
  failure?: ApiFailure;
  usages: string[];
  create?: { open: boolean; failure?: ApiFailure; values: Record<string, string | string[] | undefined> };
}

function stateCell(k: KeyMeta): Html {
  const extra = k.KeyState === 'PendingDelete' && k.DeletionDate ? html`<br><span class="muted">deleted at ${formatTime(k.DeletionDate)}</span>` : '';
  return html`<span class="state state-${k.KeyState}">${k.KeyState}</span>${extra}`;
}

// The guide's rotation chapter: "click Enable Rotation in the 'Key Rotation' column" (symmetric
// keys generated by KMS; imported material does not rotate).
function rotationCell(k: KeyMeta, v: { csrf: string; region: string }): Html {
  if (k.KeyRotationEnabled) return html`Enabled`;
  if (k.KeyUsage !== 'ENCRYPT_DECRYPT' || k.Origin === 'EXTERNAL' || (k.KeyState !== 'Enabled' && k.KeyState !== 'Disabled')) return html`Disabled`;
  return html`Disabled <form method="post" action="/console/keys/${k.KeyId}/rotation">${csrfField(v.csrf)}${regionField(v.region)}<input type="hidden" name="enabled" value="1"><input type="hidden" name="back" value="list"><button type="submit" class="link" data-op="enable-rotation">Enable Rotation</button></form>`;
}

function rowOps(k: KeyMeta, v: { csrf: string; region: string }): Html {
  const batch = (op: 'enable' | 'disable', label: string) =>
    html`<form method="post" action="/console/keys/batch">${csrfField(v.csrf)}${regionField(v.region)}<input type="hidden" name="op" value="${op}"><input type="hidden" name="keyIds" value="${k.KeyId}"><button type="submit" class="link" data-op="${op}">${label}</button></form>`;
  const ops: Html[] = [];
  if (k.KeyState === 'Enabled') ops.push(batch('disable', 'Disable'));
  if (k.KeyState === 'Disabled') ops.push(batch('enable', 'Enable'));
  if (k.KeyState === 'PendingDelete') {
    ops.push(
      html`<form method="post" action="/console/keys/${k.KeyId}/cancel-deletion">${csrfField(v.csrf)}${regionField(v.region)}<button type="submit" class="link" data-op="cancel-deletion">Cancel Deletion</button></form>`,
    );
  } else {
    ops.push(html`<a href="/console/keys/${k.KeyId}/deletion?${q({ region: v.region })}" data-op="schedule-deletion">Schedule Deletion</a>`);
  }
  return html`${ops}`;
}

export function keyListPage(v: KeyListView): Html {
  const pages = Math.max(1, Math.ceil(v.total / v.pageSize));
  const link = (page: number) => `/console/keys?${q({ region: v.region.name, q: v.search, state: v.state, page })}`;
  const c = v.create?.values ?? {};
  const tagKeys = (Array.isArray(c.TagKey) ? c.TagKey : [c.TagKey ?? '']).concat(['', '']).slice(0, 3);
  const tagValues = (Array.isArray(c.TagValue) ? c.TagValue : [c.TagValue ?? '']).concat(['', '']).slice(0, 3);
  const usage = (c.KeyUsage as string | undefined) ?? 'ENCRYPT_DECRYPT';
  const external = c.Type === '2';
  return html`<h1>Customer Managed CMK <span class="muted" id="current-region">${regionLabel(v.region)}</span></h1>
${failureBox(v.failure)}
<div class="toolbar">
  <button class="primary" type="button" data-open-dialog="create-dialog" id="create-key">Create</button>
  <button type="submit" form="batch-form" name="op" value="enable" id="batch-enable">Enable</button>
  <button type="submit" form="batch-form" name="op" value="disable" id="batch-disable">Disable</button>
  <span class="grow"></span>
  <form method="get" action="/console/keys" class="toolbar" style="margin:0" id="filter-form">
    <input type="hidden" name="region" value="${v.region.name}">
    <select name="state" aria-label="Key status" id="state-filter">
      <option value="">All statuses</option>
      ${KEY_STATES.map((s) => html`<option value="${s}" ${s === v.state ? 'selected' : ''}>${s}</option>`)}
    </select>
    <input type="search" name="q" value="${v.search}" placeholder="Search by key name or ID" aria-label="Search by key name or ID" id="search" size="30">
    <button type="submit" id="search-button">Search</button>
  </form>
</div>
<form method="post" action="/console/keys/batch" id="batch-form">${csrfField(v.csrf)}${regionField(v.region.name)}</form>
<table id="key-list">
  <thead><tr><th><input type="checkbox" data-select-all aria-label="Select all"></th><th>Key ID/Name</th><th>Key Status</th><th>Key Usage</th><th>Key Material Source</th><th>Key Rotation</th><th>Creation Time</th><th>Operation</th></tr></thead>
  <tbody>
  ${v.keys.length === 0 ? html`<tr><td colspan="8" class="muted">No keys found.</td></tr>` : ''}
  ${v.keys.map(
    (k) => html`<tr data-key-id="${k.KeyId}">
    <td><input type="checkbox" name="keyIds" value="${k.KeyId}" form="batch-form" aria-label="Select ${k.Alias}"></td>
    <td><a href="${keyUrl(k.KeyId, v.region.name)}" class="key-link">${k.KeyId}</a><br><span class="alias">${k.Alias}</span></td>
    <td>${stateCell(k)}</td>
    <td>${usageLabel(k.KeyUsage)}</td>
    <td>${k.Origin === 'EXTERNAL' ? 'External' : 'KMS'}</td>
    <td>${rotationCell(k, { csrf: v.csrf, region: v.region.name })}</td>
    <td>${formatTime(k.CreateTime)}</td>
    <td class="ops">${rowOps(k, { csrf: v.csrf, region: v.region.name })}</td>
  </tr>`,
  )}
  </tbody>
</table>
<div class="pager" id="pager">
  <span id="total">Total ${v.total} keys</span>
  ${v.page > 1 ? html`<a href="${link(v.page - 1)}" id="prev-page">Previous</a>` : ''}
  <span id="page-of">Page ${v.page} of ${pages}</span>
  ${v.page < pages ? html`<a href="${link(v.page + 1)}" id="next-page">Next</a>` : ''}
</div>

<dialog id="create-dialog" ${v.create?.open ? html`open data-open-now` : ''}>
  <h2>Create Key</h2>
  ${failureBox(v.create?.failure)}
  <form method="post" action="/console/keys/create" data-create-key id="create-form">
    ${csrfField(v.csrf)}${regionField(v.region.name)}
    <label for="alias">Key Name</label>
    <input id="alias" name="Alias" required maxlength="60" size="40" value="${c.Alias ?? ''}">
    <div class="muted">Required and unique within the region. It can contain letters, numbers, _ and -, and cannot begin with "KMS-".</div>
    <label for="description">Description</label>
    <textarea id="description" name="Description" maxlength="1024" style="min-height:3rem;font-family:inherit">${c.Description ?? ''}</textarea>
    <label>Tag</label>
    ${tagKeys.map((tk, i) => html`<div><input name="TagKey" placeholder="Tag key" aria-label="Tag key ${i + 1}" value="${tk}"> <input name="TagValue" placeholder="Tag value" aria-label="Tag value ${i + 1}" value="${tagValues[i]}"></div>`)}
    <label for="key-usage">Key Usage</label>
    <select id="key-usage" name="KeyUsage">
      ${v.usages.map((u) => html`<option value="${u}" ${u === usage ? 'selected' : ''}>${usageLabel(u)}</option>`)}
    </select>
    <label>Key Material Source</label>
    <label style="display:inline;font-weight:normal"><input type="radio" name="Type" value="1" ${external ? '' : 'checked'} id="source-kms"> KMS</label>
    <label style="display:inline;font-weight:normal;margin-left:1rem"><input type="radio" name="Type" value="2" ${external ? 'checked' : ''} id="source-external"> External</label>
    <div class="note">Note: External key material is supported only for symmetric encryption and decryption.</div>
    <p><button class="primary" type="submit" id="create-ok">OK</button> <button type="button" data-close-dialog>Cancel</button></p>
  </form>
</dialog>`;
}

export function batchConfirmPage(v: {
  op: 'enable' | 'disable';
  keys: Array<{ KeyId: string; Alias: string; KeyState: string }>;
  failure?: ApiFailure;
  csrf: string;
  region: string;
}): Html {
  const verb = v.op === 'enable' ? 'Enable' : 'Disable';
  return html`<h1>${verb} keys</h1>
${failureBox(v.failure)}
<div class="panel" id="confirm">
  <p>The following ${v.keys.length === 1 ? 'key' : `${v.keys.length} keys`} will be ${v.op === 'enable' ? 'enabled' : 'disabled'}. ${v.op === 'disable' ? 'A disabled key cannot be used to encrypt or decrypt until it is enabled again.' : ''}</p>
  <table id="confirm-keys"><thead><tr><th>Key ID</th><th>Key Name</th><th>Current Status</th></tr></thead><tbody>
  ${v.keys.map((k) => html`<tr><td>${k.KeyId}</td><td>${k.Alias}</td><td><span class="state state-${k.KeyState}">${k.KeyState}</span></td></tr>`)}
  </tbody></table>
  <form method="post" action="/console/keys/batch/confirm" style="margin-top:1rem">
    ${csrfField(v.csrf)}${regionField(v.region)}<input type="hidden" name="op" value="${v.op}">
    ${v.keys.map((k) => html`<input type="hidden" name="keyIds" value="${k.KeyId}">`)}
    <button class="primary" type="submit" id="confirm-ok" ${v.keys.length === 0 ? 'disabled' : ''}>OK</button>
    <a class="button" href="/console/keys?${q({ region: v.region })}">Cancel</a>
  </form>
</div>`;
}

export function batchResultPage(v: { op: 'enable' | 'disable'; keys: Array<{ KeyId: string; Alias: string; KeyState: string }>; failure?: ApiFailure; region: string }): Html {
  const verb = v.op === 'enable' ? 'Enable' : 'Disable';
  return html`<h1>${verb} keys: ${v.failure ? 'failed' : 'done'}</h1>
${v.failure ? failureBox(v.failure) : html`<div class="flash ok" role="status">${v.keys.length === 1 ? 'The key was' : `All ${v.keys.length} keys were`} ${v.op === 'enable' ? 'enabled' : 'disabled'}.</div>`}
<table id="result-keys"><thead><tr><th>Key ID</th><th>Key Name</th><th>Status now</th></tr></thead><tbody>
${v.keys.map((k) => html`<tr><td>${k.KeyId}</td><td>${k.Alias}</td><td><span class="state state-${k.KeyState}">${k.KeyState}</span></td></tr>`)}
</tbody></table>
<p><a class="button primary" href="/console/keys?${q({ region: v.region })}" id="back-to-list">Back to the key list</a></p>`;
}

export interface ToolResult {
  kind: 'encrypt' | 'decrypt' | 'public-key';
  text?: string;
  download?: { name: string; dataUrl: string };
  failure?: ApiFailure;
  input?: string;
}

export interface ImportStep {
  failure?: ApiFailure;
  params?: { PublicKey: string; ImportToken: string; ParametersValidTo: number; WrappingAlgorithm: string };
  importToken?: string;
  material?: string;
}

export function keyDetailsPage(v: {
  key: KeyMeta;
  rotation: { enabled: boolean; rotateDays?: number; nextRotateTime?: number } | undefined;
  region: Region;
  csrf: string;
  failure?: ApiFailure;
  tool?: ToolResult;
  importStep?: ImportStep;
}): Html {
  const k = v.key;
  const id = k.KeyId;
  const post = (path: string) => `/console/keys/${encodeURIComponent(id)}/${path}`;
  const hidden = html`${csrfField(v.csrf)}${regionField(v.region.name)}`;
  const symmetric = k.KeyUsage === 'ENCRYPT_DECRYPT';
  const tool = v.tool;
  const toolResult = (kind: ToolResult['kind']) =>
    tool?.kind === kind
      ? html`${failureBox(tool.failure)}${tool.text !== undefined ? html`<div class="result" id="${kind}-result">${tool.text}</div>` : ''}${tool.download ? html`<p><a class="button" id="${kind}-download" href="${tool.download.dataUrl}" download="${tool.download.name}">Download</a></p>` : ''}`
      : html`<div class="result muted" id="${kind}-result"></div>`;
  const imp = v.importStep;
  return html`<h1>Key details <span class="muted">${k.Alias}</span></h1>
${failureBox(v.failure)}
<p><a href="/console/keys?${q({ region: v.region.name })}">← Back to the key list</a></p>
<div class="panel" id="key-info">
  <h2>Key Information</h2>
  <dl class="info">
    <dt>Key ID</dt><dd id="info-key-id">${id}</dd>
    <dt>Key Name</dt><dd><span id="info-alias">${k.Alias}</span>
      <details><summary>Modify</summary><form method="post" action="${post('alias')}" id="alias-form">${hidden}<input name="Alias" value="${k.Alias}" maxlength="60" aria-label="New key name"> <button class="primary" type="submit">OK</button></form></details></dd>
    <dt>Region</dt><dd id="info-region">${regionLabel(v.region)}</dd>
    <dt>Creation Time</dt><dd>${formatTime(k.CreateTime)}</dd>
    <dt>Description</dt><dd><span id="info-description">${k.Description || '-'}</span>
      <details><summary>Modify</summary><form method="post" action="${post('description')}" id="description-form">${hidden}<textarea name="Description" maxlength="1024" aria-label="New description" style="min-height:3rem;font-family:inherit">${k.Description ?? ''}</textarea> <button class="primary" type="submit">OK</button></form></details></dd>
    <dt>Key Usage</dt><dd id="info-usage">${usageLabel(k.KeyUsage)}</dd>
    <dt>Key Status</dt><dd id="info-state">${stateCell(k)}</dd>
    <dt>Key Material Source</dt><dd>${k.Origin === 'EXTERNAL' ? 'External' : 'KMS'}${k.Origin === 'EXTERNAL' && Number(k.ValidTo) ? html` · material valid to ${formatTime(k.ValidTo)}` : ''}</dd>
    <dt>Creator</dt><dd>${String(k.CreatorUin ?? '')}</dd>
    <dt>Key Rotation</dt><dd><span id="info-rotation">${v.rotation ? (v.rotation.enabled ? `Enabled, every ${v.rotation.rotateDays ?? 365} days; next ${formatTime(v.rotation.nextRotateTime)}` : 'Disabled') : '-'}</span>
      ${
        symmetric && k.Origin !== 'EXTERNAL'
          ? html`<details><summary>Modify</summary><form method="post" action="${post('rotation')}" id="rotation-form">${hidden}
        <label style="display:inline;font-weight:normal"><input type="checkbox" name="enabled" value="1" ${v.rotation?.enabled ? 'checked' : ''} id="rotation-enabled"> Enable rotation</label>
        <label style="display:inline;font-weight:normal;margin-left:1rem">every <input type="number" name="RotateDays" min="7" max="365" value="${v.rotation?.rotateDays ?? 365}" style="width:5rem" aria-label="Rotation period in days"> days</label>
        <button class="primary" type="submit">OK</button>
        <div class="muted">By default, key rotation is disabled. Once it is enabled, the CMK is rotated at the set period (annually by default).</div></form></details>`
          : ''
      }</dd>
  </dl>
  <div class="toolbar" style="margin-top:1rem">
    ${
      k.KeyState === 'Enabled' || k.KeyState === 'Disabled'
        ? html`<form method="post" action="/console/keys/batch">${hidden}<input type="hidden" name="op" value="${k.KeyState === 'Enabled' ? 'disable' : 'enable'}"><input type="hidden" name="keyIds" value="${id}"><button type="submit" id="details-toggle">${k.KeyState === 'Enabled' ? 'Disable' : 'Enable'}</button></form>`
        : ''
    }
    ${
      k.KeyState === 'PendingDelete'
        ? html`<form method="post" action="${post('cancel-deletion')}">${hidden}<input type="hidden" name="back" value="details"><button type="submit" id="details-cancel-deletion">Cancel Deletion</button></form>`
        : html`<a class="button" href="/console/keys/${id}/deletion?${q({ region: v.region.name })}" id="details-schedule-deletion">Schedule Deletion</a>`
    }
  </div>
</div>
${
  symmetric
    ? html`<div class="panel" id="online-tools">
  <h2>Online Tools</h2>
  <div class="tabs"><strong>Encryption</strong></div>
  <form method="post" action="${post('encrypt')}" id="encrypt-form">${hidden}
    <textarea name="Plaintext" aria-label="Data to encrypt" maxlength="4096" id="encrypt-input">${tool?.kind === 'encrypt' ? (tool.input ?? '') : ''}</textarea>
    <p><button class="primary" type="submit" id="encrypt-convert">Convert</button></p>
  </form>
  ${toolResult('encrypt')}
  <div class="tabs" style="margin-top:1.5rem"><strong>Decryption</strong></div>
  <form method="post" action="${post('decrypt')}" id="decrypt-form">${hidden}
    <textarea name="CiphertextBlob" aria-label="Data to decrypt" id="decrypt-input">${tool?.kind === 'decrypt' ? (tool.input ?? '') : ''}</textarea>
    <p><button class="primary" type="submit" id="decrypt-convert">Convert</button></p>
  </form>
  <div class="note">The decryption operation automatically calls the CMK used in the encryption. After decryption, the plaintext will be Base64-encoded for display.</div>
  ${toolResult('decrypt')}
</div>`
    : html`<div class="panel" id="public-key-panel">
  <h2>Public Key</h2>
  <form method="post" action="${post('public-key')}">${hidden}<button type="submit" id="public-key-get">Get Public Key</button></form>
  ${tool?.kind === 'public-key' ? toolResult('public-key') : ''}
</div>`
}
${
  k.Origin === 'EXTERNAL'
    ? html`<div class="panel" id="import-panel">
  <h2>Key material (External)</h2>
  <p>1. Download the wrapping public key and the import token (valid 24 hours). 2. Wrap your key material (${v.region.standard === 'SM' ? '128 bits, SM4' : '256 bits, AES-256'}) with the public key. 3. Upload the wrapped material with the import token.</p>
  ${failureBox(imp?.failure)}
  <form method="post" action="${post('import-params')}" id="import-params-form">${hidden}
    <label for="wrapping-algorithm">Wrapping algorithm</label>
    <select name="WrappingAlgorithm" id="wrapping-algorithm">
      ${['RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1', 'RSAES_PKCS1_V1_5'].map((a) => html`<option value="${a}" ${imp?.params?.WrappingAlgorithm === a ? 'selected' : ''}>${a}</option>`)}
    </select>
    <input type="hidden" name="WrappingKeySpec" value="RSA_2048">
    <button type="submit" id="import-params-get">Get wrapping public key and import token</button>
  </form>
  ${
    imp?.params
      ? html`<div id="import-params">
    <p>Wrapping key RSA_2048 (${imp.params.WrappingAlgorithm}), valid to <span id="params-valid-to">${formatTime(imp.params.ParametersValidTo)}</span> (UTC).</p>
    <p><a class="button" id="download-public-key" download="publicKey_${id}.pem" href="data:application/x-pem-file;base64,${Buffer.from(pem(Buffer.from(imp.params.PublicKey, 'base64'))).toString('base64')}">Download wrapping public key (PEM)</a>
       <a class="button" id="download-public-key-der" download="publicKey_${id}.der" href="data:application/octet-stream;base64,${imp.params.PublicKey}">(DER)</a>
       <a class="button" id="download-import-token" download="importToken_${id}.txt" href="data:text/plain;base64,${Buffer.from(imp.params.ImportToken).toString('base64')}">Download import token</a></p>
  </div>`
      : ''
  }
  <form method="post" action="${post('import')}" id="import-form">${hidden}
    <label for="material-file">Wrapped key material (file)</label>
    <input type="file" id="material-file" data-base64-into="material">
    <label for="material">or as base64</label>
    <textarea name="EncryptedKeyMaterial" id="material" required>${imp?.material ?? ''}</textarea>
    <label for="import-token">Import token</label>
    <textarea name="ImportToken" id="import-token" required>${imp?.importToken ?? imp?.params?.ImportToken ?? ''}</textarea>
    <label for="valid-to">Material expires <span class="muted">(optional, UTC; empty = never)</span></label>
    <input type="datetime-local" name="ValidTo" id="valid-to">
    <p><button class="primary" type="submit" id="import-submit">Import</button></p>
  </form>
</div>`
    : ''
}`;
}

export function deletionPage(v: { key: KeyMeta; csrf: string; region: string; failure?: ApiFailure; days: string }): Html {
  const k = v.key;
  return html`<h1>Schedule Key Deletion</h1>
${failureBox(v.failure)}
<div class="panel" id="deletion">
  <p>Key <strong>${k.Alias}</strong> (${k.KeyId}), status <span class="state state-${k.KeyState}" id="deletion-key-state">${k.KeyState}</span>.</p>
  ${k.KeyState === 'Enabled' ? html`<div class="note" id="disable-first">This key is enabled. If the key is enabled, please disable it first.</div>` : ''}
  <div class="note" id="deletion-warning">Note: the waiting period before the deletion can be set to 7-30 days. Once a key is deleted, it cannot be restored, and all the data encrypted by the key can no longer be decrypted. To prevent accidental deletion, the KMS automatic alarm will be triggered:
    <ol><li>Before a key is deleted, any attempt to call the key will trigger the alarm.</li><li>The alarm will be triggered every day in the last 3 days before a key is deleted.</li></ol></div>
  <form method="post" action="/console/keys/${k.KeyId}/deletion">
    ${csrfField(v.csrf)}${regionField(v.region)}
    <label for="pending-days">The key will be automatically deleted in <input type="number" name="PendingWindowInDays" id="pending-days" value="${v.days}" style="width:5rem"> days</label>
    <p><button class="danger" type="submit" id="deletion-confirm">Confirm</button> <a class="button" href="/console/keys?${q({ region: v.region })}">Cancel</a></p>
  </form>
</div>`;
}

export interface AuditFilters {
  start: string;
  end: string;
  EventName: string;
  Username: string;
  ResourceName: string;
  RequestId: string;
}

export function auditPage(v: { filters: AuditFilters; events: Array<Record<string, unknown>>; nextToken: string; failure?: ApiFailure }): Html {
  const f = v.filters;
  const input = (name: keyof AuditFilters, label: string, type = 'text') =>
    html`<label style="display:inline;font-weight:normal">${label} <input type="${type}" name="${name}" value="${f[name]}" aria-label="${label}" id="filter-${name}"></label>`;
  return html`<h1>Event history</h1>
<p class="muted">API events of this account (last 7 days by default; times in UTC). Click the triangle on the left of an event to view its details.</p>
${failureBox(v.failure)}
<form method="get" action="/console/audit" class="toolbar panel" id="audit-filters">
  ${input('start', 'From', 'date')} ${input('end', 'To', 'date')}
  ${input('EventName', 'Event name')} ${input('Username', 'Username')} ${input('ResourceName', 'Key ID')} ${input('RequestId', 'Request ID')}
  <button type="submit" id="audit-search">Search</button>
</form>
<div id="events" class="events">
<div class="event-grid event-head"><span></span><span>Event Time</span><span>Username</span><span>Event Name</span><span>Resource Type</span><span>Resource Name</span><span>Result</span></div>
${v.events.length === 0 ? html`<div class="muted event-empty">No events.</div>` : ''}
${v.events.map((e) => {
  let inner: Record<string, unknown> = {};
  try {
    inner = JSON.parse(String(e.CloudAuditEvent ?? '{}')) as Record<string, unknown>;
  } catch {
    inner = {};
  }
  const who = (inner.userIdentity ?? {}) as Record<string, unknown>;
  const res = (e.Resources ?? {}) as Record<string, unknown>;
  return html`<details class="event event-row"><summary class="event-grid">
    <span class="tri" aria-hidden="true"></span><span class="ev-time">${formatTime(e.EventTime)}</span><span class="ev-user">${e.Username}</span><strong class="ev-name">${e.EventName}</strong><span>${res.ResourceType}</span><span class="ev-resource">${res.ResourceName}</span><span class="ev-result">${inner.apiErrorCode ? `Fail (${String(inner.apiErrorCode)})` : 'Success'}</span></summary>
    <dl class="info event-detail">
      <dt>Event Time</dt><dd>${formatTime(e.EventTime)}</dd>
      <dt>Username</dt><dd>${e.Username}</dd>
      <dt>Event Name</dt><dd>${e.EventName}</dd>
      <dt>Event ID</dt><dd>${e.EventId}</dd>
      <dt>Request ID</dt><dd>${e.RequestID}</dd>
      <dt>Access key</dt><dd>${e.SecretId || '-'}</dd>
      <dt>Source IP</dt><dd>${e.SourceIPAddress}</dd>
      <dt>Region</dt><dd>${e.EventRegion || '-'}</dd>
      <dt>Account / principal</dt><dd>${String(who.accountId ?? '')} / ${String(who.principalId ?? '')}</dd>
      <dt>Error code</dt><dd>${inner.apiErrorCode ? String(inner.apiErrorCode) : '-'}</dd>
    </dl>
    <details class="view-event"><summary>View event</summary><pre>${JSON.stringify(inner, null, 2)}</pre></details>
  </details>`;
})}
</div>
${v.nextToken ? html`<div class="pager"><a id="audit-next" href="/console/audit?${q({ start: f.start, end: f.end, EventName: f.EventName, Username: f.Username, ResourceName: f.ResourceName, RequestId: f.RequestId, next: v.nextToken })}">Older events</a></div>` : ''}`;
}

export function alarmsPage(v: {
  alarms: Array<{
    alarmId: string;
    kind: string;
    region: string;
    keyId: string;
    createdAtMs: number;
    detail: Record<string, unknown>;
    deliveryStatus: string;
    attempts: number;
    lastError: string | null;
  }>;
  keyId: string;
  failure?: ApiFailure;
  webhook: boolean;
}): Html {
  return html`<h1>Alarms</h1>
<p class="muted">The KMS automatic alarms of this account: any attempt to use a key pending deletion, and each of the last 3 days before a key is deleted. ${v.webhook ? 'Each alarm is also sent to the configured webhook.' : 'No webhook is configured (KMS_ALARM_WEBHOOK_URL); alarms are only listed here.'}</p>
${failureBox(v.failure)}
<form method="get" action="/console/alarms" class="toolbar"><input type="search" name="keyId" value="${v.keyId}" placeholder="Key ID" aria-label="Key ID" id="alarm-key"><button type="submit" id="alarm-search">Search</button></form>
<table id="alarms"><thead><tr><th>Time (UTC)</th><th>Alarm</th><th>Region</th><th>Key ID</th><th>Detail</th><th>Delivery</th></tr></thead><tbody>
${v.alarms.length === 0 ? html`<tr><td colspan="6" class="muted">No alarms.</td></tr>` : ''}
${v.alarms.map(
  (
    a,
  ) => html`<tr class="alarm-row"><td>${new Date(a.createdAtMs).toISOString().replace('T', ' ').slice(0, 19)}</td><td class="alarm-kind">${a.kind === 'PendingDeleteKeyUsed' ? 'Key pending deletion was used' : 'Key deletion imminent'}</td><td>${a.region}</td><td class="alarm-key">${a.keyId}</td>
  <td>${Object.entries(a.detail).map(([k, val]) => html`<div><span class="muted">${k}</span> ${String(val)}</div>`)}</td><td>${a.deliveryStatus}${a.attempts ? ` (${a.attempts} attempts)` : ''}${a.lastError ? html`<br><span class="muted">${a.lastError}</span>` : ''}</td></tr>`,
)}
</tbody></table>`;
}

export function messagePage(title: string, text: string): Html {
  return html`<h1>${title}</h1><div class="flash error" role="alert">${text}</div><p><a href="/console/keys">Back to the console</a></p>`;
}
