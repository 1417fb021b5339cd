#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

main(process.argv).catch((err) => {
  // One line: the message, and the token's CKR name when a PKCS#11 call failed (HsmError.ckr).
  const message = err instanceof Error ? err.message : String(err);
  const ckr = typeof err?.ckr === 'string' && !message.includes(err.ckr) ? ` (${err.ckr})` : '';
  process.stderr.write(`hsmkms: ${message.split('\n')[0]}${ckr}\n`);
  process.exit(1);
});
