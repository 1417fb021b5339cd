import { clearProxy } from '../helpers/sdk-clients.js';
import { crashSuite } from './crashes.js';
import { faultSuites } from './faults.js';
import { fuzzSuite } from './fuzz.js';
import { secretScan } from './secrets.js';

// Issue 11: hostile input, faults and crashes lose nothing. One file, parts in a fixed order,
// so the secret scan reads what every part left behind. Needs `npm run build` (servers run
// from dist/). HSMKMS_FUZZ_RUNS (default 100000) sets the fuzz volume.

clearProxy();
fuzzSuite();
faultSuites();
crashSuite();
secretScan();
