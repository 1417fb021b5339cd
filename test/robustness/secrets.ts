import { describe, expect, it } from 'vitest';
import { figures, ledger, removeDataDirs, say } from './context.js';

// Runs last: every plaintext, data key, SecretKey and PIN the suite used, looked for in the
// servers' logs, the SQLite files (with WAL) and the suite's own output.
export function secretScan(): void {
  describe('secrets after the whole suite', () => {
    it('no plaintext, data key, SecretKey or PIN in logs, database files or test output', () => {
      const { leaks, bytesScanned, placesScanned } = ledger.scan();
      figures.secretScan = { secrets: ledger.secretCount, places: placesScanned, bytes: bytesScanned, leaks: leaks.length };
      say(`secret scan: ${JSON.stringify(figures.secretScan)}`);
      say(`figures: ${JSON.stringify(figures)}`);
      expect(ledger.secretCount).toBeGreaterThan(0);
      expect(leaks).toEqual([]);
      removeDataDirs();
    });
  });
}
