// The console's only static assets, served from /console/assets/ by the same server (no CDN,
// no build step): a stylesheet and one small ES module that enhances the server-rendered pages
// (every flow also works without it, except reading a file into the import form).

export const CONSOLE_CSS = `
:root { --fg:#1d2129; --muted:#6b7280; --line:#e5e7eb; --bg:#f5f7fa; --brand:#006eff; --ok:#0a7d32; --err:#c4191f; --warn:#b45309; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
header.top { display:flex; align-items:center; gap:1.5rem; padding:.6rem 1.5rem; background:#fff; border-bottom:1px solid var(--line); }
header.top .brand { font-weight:600; }
header.top nav a { margin-right:1rem; color:var(--fg); text-decoration:none; }
header.top nav a.current { color:var(--brand); font-weight:600; }
header.top .who { margin-left:auto; color:var(--muted); display:flex; gap:.75rem; align-items:center; }
main { padding:1.25rem 1.5rem; max-width:1280px; }
h1 { font-size:1.3rem; margin:.2rem 0 1rem; display:flex; gap:1rem; align-items:center; }
h2 { font-size:1.05rem; margin:1.5rem 0 .6rem; }
.panel { background:#fff; border:1px solid var(--line); padding:1rem 1.25rem; margin-bottom:1rem; }
table { border-collapse:collapse; width:100%; background:#fff; }
th, td { text-align:left; padding:.5rem .6rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#fafafa; font-weight:600; }
td.ops form { display:inline; }
a { color:var(--brand); }
button, .button { font:inherit; padding:.35rem .9rem; border:1px solid #c9cdd4; background:#fff; color:var(--fg); cursor:pointer; text-decoration:none; display:inline-block; }
button.primary, .button.primary { background:var(--brand); border-color:var(--brand); color:#fff; }
button.danger { background:var(--err); border-color:var(--err); color:#fff; }
button.link { border:none; background:none; color:var(--brand); padding:0 .3rem; }
button:disabled { opacity:.5; cursor:not-allowed; }
input, select, textarea { font:inherit; padding:.35rem .5rem; border:1px solid #c9cdd4; background:#fff; }
textarea { width:100%; min-height:6rem; font-family:ui-monospace, monospace; }
label { display:block; margin:.6rem 0 .2rem; font-weight:500; }
.toolbar { display:flex; gap:.6rem; align-items:center; flex-wrap:wrap; margin-bottom:.8rem; }
.toolbar .grow { flex:1; }
.flash { padding:.6rem 1rem; margin-bottom:1rem; border:1px solid; }
.flash.ok { color:var(--ok); border-color:#a7d8b5; background:#effaf2; }
.flash.error { color:var(--err); border-color:#f0b4b6; background:#fdf1f1; }
.note { padding:.6rem 1rem; margin:.6rem 0; border-left:4px solid var(--warn); background:#fff8eb; }
.state { font-weight:600; }
.state-Enabled { color:var(--ok); } .state-Disabled { color:var(--muted); } .state-PendingDelete { color:var(--err); } .state-PendingImport { color:var(--warn); }
.result { background:#f2f3f5; padding:.6rem; font-family:ui-monospace, monospace; word-break:break-all; min-height:3rem; white-space:pre-wrap; }
dl.info { display:grid; grid-template-columns: 12rem 1fr; gap:.4rem 1rem; margin:0; }
dl.info dt { color:var(--muted); } dl.info dd { margin:0; }
dialog { border:1px solid var(--line); padding:1.25rem 1.5rem; min-width:32rem; }
dialog::backdrop { background:rgba(0,0,0,.3); }
.pager { display:flex; gap:.6rem; align-items:center; margin-top:.8rem; }
.muted { color:var(--muted); }
.login { max-width:28rem; margin:4rem auto; }
.tabs { display:flex; gap:1rem; margin-bottom:1rem; }
details.event > summary { cursor:pointer; list-style:none; }
details.event > summary::-webkit-details-marker { display:none; }
.events { background:#fff; border:1px solid var(--line); }
.event-grid { display:grid; grid-template-columns: 1.2rem 11rem 8rem 13rem 7rem minmax(10rem, 1fr) 18rem; gap:.6rem; padding:.5rem .6rem; border-bottom:1px solid var(--line); overflow-wrap:anywhere; }
.event-head { background:#fafafa; font-weight:600; }
.event-grid .tri::before { content:"\\25B8"; }
details[open] > summary.event-grid .tri::before { content:"\\25BE"; }
details.event > dl, details.event > details { padding:.4rem 1rem .4rem 2rem; }
.event-empty { padding:.5rem .6rem; }
pre { white-space:pre-wrap; word-break:break-all; margin:.4rem 0; }
`;

export const CONSOLE_JS = `
// Progressive enhancement only: the server renders every page and every form posts without this.
for (const select of document.querySelectorAll('select[data-autosubmit]')) {
  select.addEventListener('change', () => select.form.requestSubmit());
}
for (const button of document.querySelectorAll('[data-open-dialog]')) {
  button.addEventListener('click', () => document.getElementById(button.dataset.openDialog).showModal());
}
for (const button of document.querySelectorAll('[data-close-dialog]')) {
  button.addEventListener('click', () => button.closest('dialog').close());
}
for (const dialog of document.querySelectorAll('dialog[data-open-now]')) {
  if (dialog.open) dialog.close();
  dialog.showModal();
}
for (const all of document.querySelectorAll('input[data-select-all]')) {
  all.addEventListener('change', () => {
    for (const box of document.querySelectorAll('input[name="keyIds"]')) box.checked = all.checked;
  });
}
// External key material is for symmetric encryption/decryption only (KMS guide, creating a key).
for (const form of document.querySelectorAll('form[data-create-key]')) {
  const usage = form.querySelector('select[name="KeyUsage"]');
  const sync = () => {
    const external = form.querySelector('input[name="Type"]:checked')?.value === '2';
    for (const option of usage.options) option.disabled = external && option.value !== 'ENCRYPT_DECRYPT';
    if (external) usage.value = 'ENCRYPT_DECRYPT';
  };
  for (const radio of form.querySelectorAll('input[name="Type"]')) radio.addEventListener('change', sync);
  sync();
}
// A wrapped key material file (binary, as openssl writes it) into the form's base64 field.
for (const input of document.querySelectorAll('input[type="file"][data-base64-into]')) {
  input.addEventListener('change', async () => {
    const file = input.files[0];
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    let text = '';
    for (const b of bytes) text += String.fromCharCode(b);
    document.getElementById(input.dataset.base64Into).value = btoa(text);
  });
}
`;
