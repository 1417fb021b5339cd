#!/usr/bin/env node
// The white-box client runtime runs on devices with only a table file: its entry point loads
// nothing of the server (token layer, database drivers, HTTP).
const { main } = await import(process.argv[2] === 'whitebox' ? '../dist/src/cli/whitebox.js' : '../dist/src/cli/main.js');

main(process.argv).catch((err) => {
  // One line: the message, and the token's CKR name when a PKCS#11 call failed (HsmError.ckr).
  const message = err instanceof Error ? err.message : String(err);
  const ckr = typeof err?.ckr === 'string' && !message.includes(err.ckr) ? ` (${err.ckr})` : '';
  process.stderr.write(`hsmkms: ${message.split('\n')[0]}${ckr}\n`);
  process.exit(1);
});
