import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { whiteboxDecryptCbc, whiteboxEncryptCbc } from '../crypto/whitebox/client.js';

// `hsmkms whitebox decrypt|encrypt` (README "CLI", docs/whitebox.md#client-runtime): the client
// runtime with the key file alone. Nothing here reads the configuration, the data dir, the token
// or the database, so it runs on a device that has only its table file; bin/hsmkms.js sends
// `whitebox` here without loading the server's modules (a quarter of the start-up time).

export interface WhiteboxCliOptions {
  keyFile: string;
  iv: string;
  fingerprint?: string;
}

// Padded standard base64 (what the API and the SDKs write); line breaks and blanks are ignored.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function strictBase64(text: string, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact === '') throw new Error(`${what} is empty`);
  if (!BASE64.test(compact)) throw new Error(`${what} is not base64 (standard alphabet, padded)`);
  return Buffer.from(compact, 'base64');
}

function readKeyFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`--key-file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'cannot be read'}`);
  }
  const compact = text.replace(/\s+/g, '');
  strictBase64(compact, `--key-file ${file}`);
  return compact;
}

/** Decrypts (DecryptKey) or encrypts (EncryptKey) `input`, base64 in and out: CBC with PKCS#7. */
export function runWhitebox(op: 'decrypt' | 'encrypt', opts: WhiteboxCliOptions, input: string): string {
  const iv = strictBase64(opts.iv, '--iv');
  if (iv.length !== 16) throw new Error(`--iv must be 16 bytes, base64 (got ${iv.length})`);
  const tables = readKeyFile(opts.keyFile);
  const data = strictBase64(input, op === 'decrypt' ? 'the ciphertext on standard input' : 'the plaintext on standard input');
  const out = op === 'decrypt' ? whiteboxDecryptCbc(tables, iv, data, opts.fingerprint) : whiteboxEncryptCbc(tables, iv, data, opts.fingerprint);
  try {
    return out.toString('base64');
  } finally {
    out.fill(0);
    data.fill(0);
  }
}

/** The `whitebox` command and its two subcommands, on `program` (main.ts's full CLI, or `main` below). */
export function addWhiteboxCommands(program: Command): void {
  const whitebox = program
    .command('whitebox')
    .description('the white-box client runtime: AES-256-CBC / SM4-CBC (PKCS#7) through a table file alone, no token, server or data dir (docs/whitebox.md)');
  for (const op of ['decrypt', 'encrypt'] as const) {
    whitebox
      .command(op)
      .description(
        op === 'decrypt'
          ? 'read the ciphertext (base64) on stdin, print the plaintext (base64); --key-file holds the DecryptKey'
          : 'read the plaintext (base64) on stdin, print the ciphertext (base64); --key-file holds the EncryptKey',
      )
      .requiredOption('--key-file <file>', `a file with the ${op === 'decrypt' ? 'DecryptKey' : 'EncryptKey'} (base64, as the API returns it)`)
      .requiredOption('--iv <base64>', 'the 16-byte IV, base64 (EncryptByWhiteBox returns it)')
      .option('--fingerprint <identity>', 'this device’s fingerprint identity, for tables bound to device fingerprints')
      .action((opts: WhiteboxCliOptions) => {
        process.stdout.write(`${runWhitebox(op, opts, readFileSync(0, 'utf8'))}\n`);
      });
  }
}

/** `hsmkms whitebox …` on its own (bin/hsmkms.js): every failure is one line on stderr and exit status 1. */
export async function main(argv: string[]): Promise<void> {
  // commander's own complaints (a missing option, an unknown command) become the one line too.
  const program = new Command('hsmkms').exitOverride().configureOutput({ writeErr: () => undefined });
  addWhiteboxCommands(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: unknown; exitCode?: number; message?: string };
    if (typeof e.code !== 'string' || !e.code.startsWith('commander.')) throw err;
    if (e.exitCode === 0) process.exit(0);
    if (e.code === 'commander.help') throw new Error('whitebox needs a command: decrypt or encrypt (hsmkms whitebox --help)');
    throw new Error(String(e.message).replace(/^error: /, ''));
  }
}
