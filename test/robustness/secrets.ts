import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecretLedger } from '../helpers/secret-ledger.js';
import { figures, ledger, removeDataDirs, say } from './context.js';

// Runs last: every plaintext, data key, SecretKey and PIN the suite used, looked for in the
// servers' logs, the SQLite files (with WAL) and the suite's own output.
export function secretScan(): void {
  describe('secrets after the whole suite', () => {
    it('the scan finds a planted secret in each encoding (it can fail)', () => {
      const canary = randomBytes(32);
      const dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-canary-'));
      const probe = new SecretLedger();
      probe.addSecret('canary', canary);
      probe.addDataDir(dir);
      writeFileSync(path.join(dir, 'a.log'), `{"msg":"x","v":"${canary.toString('base64')}"}\n`);
      writeFileSync(path.join(dir, 'b.sqlite'), Buffer.concat([randomBytes(100), canary, randomBytes(100)]));
      probe.addText('output', `hex ${canary.toString('hex')}`);
      try {
        expect(
          probe
            .scan()
            .leaks.map((l) => `${path.basename(l.where)}:${l.encoding}`)
            .sort(),
        ).toEqual(['a.log:base64', 'b.sqlite:raw', 'output:hex']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('no plaintext, data key, SecretKey or PIN in logs, database files or test output', () => {
      const { leaks, bytesScanned, placesScanned } = ledger.scan();
      figures.secretScan = { secrets: ledger.secretCount, places: placesScanned, bytes: bytesScanned, leaks: leaks.length };
      say(
        `secret scan: ${JSON.stringify(figures.secretScan)} in ${ledger
          .places()
          .map((f) => path.relative(tmpdir(), f))
          .join(', ')} and the logs and output kept in memory`,
      );
      say(`figures: ${JSON.stringify(figures)}`);
      expect(ledger.secretCount).toBeGreaterThan(0);
      expect(leaks).toEqual([]);
      removeDataDirs();
    });
  });
}
