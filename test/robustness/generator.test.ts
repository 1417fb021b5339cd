import fc from 'fast-check';
import { expect, it } from 'vitest';
import { validateKmsParams, type KmsAction } from '../../src/api/actions/index.js';
import { parseApiRequest } from '../../src/api/wire/index.js';
import { fieldsOf, fuzzCase, isReadOnlyAction } from '../helpers/fuzz-requests.js';

// The fuzz generator's safety rule, checked offline with the server's own parser and validator:
// a signed request for a state-changing action without id fields is always refused, so the fuzz
// cannot change keys (robustness.test.ts compares key snapshots before and after). Guards the
// rule for actions added to the registry (src/api/actions) later.

it('never produces an acceptable state-changing request without a key id', () => {
  const target = {
    host: '127.0.0.1:1',
    secretId: 'AKIDtest',
    secretKey: 'k'.repeat(32),
    regions: ['ap-hongkong'],
    keyIds: { 'ap-hongkong': ['0bb450ca-b6bc-43e8-b065-8b0b5954247a'] },
    blobs: [Buffer.alloc(80, 1).toString('base64')],
  };
  const seed = Number(process.env.HSMKMS_FUZZ_SEED ?? 1);
  let checked = 0;
  const accepted: string[] = [];
  for (const c of fc.sample(fuzzCase(target), { numRuns: 30_000, seed })) {
    if (c.family === 'auth' || c.family === 'size' || isReadOnlyAction(c.action)) continue;
    if (fieldsOf(c.action).some((f) => /KeyIds?$/.test(f.name))) continue;
    const headers = Object.fromEntries(Object.entries(c.request.headers).map(([k, v]) => [k.toLowerCase(), v]));
    let parsed: ReturnType<typeof parseApiRequest>;
    try {
      parsed = parseApiRequest({ method: c.request.method, url: c.request.path ?? '/', headers: { ...headers, host: target.host }, rawBody: Buffer.from(c.request.body ?? '') });
    } catch {
      continue; // refused before validation
    }
    checked++;
    try {
      validateKmsParams(parsed.action as KmsAction, parsed.params, parsed.signatureVersion === 'TC3' && c.request.method === 'POST' ? 'json' : 'flat');
      accepted.push(`${c.family} ${c.action} ${c.what}`);
    } catch {
      /* refused: as required */
    }
  }
  expect(checked).toBeGreaterThan(100);
  expect(accepted, `seed ${seed}`).toEqual([]);
});
