import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

// Every secret a test used (plaintexts, data keys, SecretKeys, PINs) and every place the service
// or the test wrote to (logs, database files, the test's own output). `scan` looks for each
// secret in each place, in the encodings a leak would take: raw bytes, base64, hex, UTF-8 text.

export interface Leak {
  secret: string;
  where: string;
  encoding: string;
}

/** Shorter secrets would match by chance; the suite's secrets are all ≥ 16 bytes. */
const MIN_SECRET_BYTES = 12;

export class SecretLedger {
  readonly #secrets = new Map<string, Buffer>();
  readonly #texts: Array<{ where: string; text: () => string }> = [];
  readonly #files = new Set<string>();
  readonly #dirs = new Set<string>();

  /** A secret: bytes (plaintext, data key) or text (SecretKey, PIN). */
  addSecret(label: string, value: Buffer | string): void {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
    if (bytes.length >= MIN_SECRET_BYTES) this.#secrets.set(label, bytes);
  }

  /** A base64 secret as the API carries it (Plaintext, data key): its decoded bytes. */
  addBase64Secret(label: string, base64: string): void {
    this.addSecret(label, Buffer.from(base64, 'base64'));
  }

  addText(where: string, text: string | (() => string)): void {
    this.#texts.push({ where, text: typeof text === 'string' ? () => text : text });
  }

  addFile(file: string): void {
    this.#files.add(file);
  }

  /** The database and log files under a data dir (not the PIN files setup writes on purpose). */
  addDataDir(dir: string): void {
    this.#dirs.add(dir);
  }

  get secretCount(): number {
    return this.#secrets.size;
  }

  places(): string[] {
    const out = [...this.#files];
    for (const dir of this.#dirs) {
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        if (/\.(sqlite|sqlite-wal|sqlite-shm|log|ndjson|jsonl)$/.test(name)) out.push(path.join(dir, name));
      }
    }
    return out.filter((f) => existsSync(f) && statSync(f).isFile());
  }

  scan(): { leaks: Leak[]; bytesScanned: number; placesScanned: number } {
    const leaks: Leak[] = [];
    let bytesScanned = 0;
    const haystacks: Array<{ where: string; data: Buffer }> = [
      ...this.places().map((f) => ({ where: f, data: readFileSync(f) })),
      ...this.#texts.map((t) => ({ where: t.where, data: Buffer.from(t.text(), 'utf8') })),
    ];
    for (const { where, data } of haystacks) {
      bytesScanned += data.length;
      for (const [label, secret] of this.#secrets) {
        // one finding per secret and place: the first encoding that matches
        const hit = encodings(secret).find(([, needle]) => data.includes(needle));
        if (hit) leaks.push({ secret: label, where, encoding: hit[0] });
      }
    }
    return { leaks, bytesScanned, placesScanned: haystacks.length };
  }
}

function encodings(secret: Buffer): Array<[string, Buffer]> {
  const b64 = secret.toString('base64');
  return [
    ['raw', secret],
    // the base64 text without its padding, and without the last (partial) group, which depends on alignment
    ['base64', Buffer.from(b64.replace(/=+$/, '').slice(0, Math.floor((secret.length * 4) / 3 / 4) * 4))],
    ['base64url', Buffer.from(secret.toString('base64url').slice(0, Math.floor((secret.length * 4) / 3 / 4) * 4))],
    ['hex', Buffer.from(secret.toString('hex'))],
    ['HEX', Buffer.from(secret.toString('hex').toUpperCase())],
  ];
}
