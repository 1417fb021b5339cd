import { afterAll } from 'vitest';
import { clearProxy } from '../helpers/sdk-clients.js';
import { removeDataDirs } from './context.js';
import { crashSuite } from './crashes.js';
import { faultSuites } from './faults.js';
import { fuzzSuite } from './fuzz.js';
import { secretScan } from './secrets.js';

// Issue 11: hostile input, faults and crashes lose nothing. One file, parts in a fixed order,
// so the secret scan reads what every part left behind. Needs `npm run build` (servers run
// from dist/). HSMKMS_FUZZ_RUNS (default 100000) sets the fuzz volume, HSMKMS_FUZZ_SEED replays.

clearProxy();
fuzzSuite();
faultSuites();
crashSuite();
secretScan();
// also when `-t` skipped the scan, which removes them after reading
afterAll(removeDataDirs);
