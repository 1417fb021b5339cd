// node dist/bench/whitebox.js (after npx tsc -p tsconfig.json) — white-box table sets
// (src/crypto/whitebox, docs/whitebox.md): generation time per set, serialized sizes, and the
// client's 4 KiB CBC decryption cold (a fresh process: parse, expand, first message) and warm.
//
// Output, one JSON line each:
//   {"case":"generate","algorithm","direction","first_ms","median_ms","min_ms","max_ms","runs"}
//       first_ms is the first generation in this process (JIT cold); the others cover the rest
//   {"case":"size","algorithm","direction","tables_bytes","bytes","base64_chars","bound_200_bytes","bound_200_base64_chars"}
//   {"case":"decrypt-4k","algorithm","processes","load_ms","first_ms","cold_total_ms","warm_median_ms","warm_min_ms","warm_max_ms"}
//       medians over BENCH_PROCESSES fresh processes (default 5): load_ms = loadTables of the
//       base64 DecryptKey, first_ms = the first 4 KiB decryption after it, cold_total_ms = both;
//       warm = median, min and max of the medians of 50 further decryptions in each process
//   {"case":"encrypt-4k","algorithm","warm_median_ms"}  EncryptKey, this process, after 20 runs
//   {"case":"service","algorithm","create_first_ms","create_median_ms","create_answer_bytes",
//    "decrypt_key_regenerate_ms","decrypt_key_cached_ms","decrypt_key_bound_200_answer_bytes","encrypt_4k_median_ms","runs"}
//       the service's own use cases on a fresh SoftHSM2 token and SQLite file (no HTTP): CreateWhiteBoxKey
//       (two sets, sealing), DescribeWhiteBoxDecryptKey after an overwrite with 200 fingerprints
//       (unseal and regenerate) and again (cached), EncryptByWhiteBox of 4 KiB; answer sizes are
//       the JSON the API would send. BENCH_SERVICE=0 leaves this out.
// BENCH_RUNS (default 5) is the number of generations per algorithm and direction.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  WhiteboxAlgorithm,
  WhiteboxDirection,
  WHITEBOX_ALGORITHMS,
  describeTableSet,
  generateTables,
  loadTables,
  referenceEncryptCbc,
  whiteboxDecryptCbc,
  whiteboxEncryptCbc,
} from '../src/crypto/whitebox/index.js';
import { median } from './stats.js';

const RUNS = Number(process.env.BENCH_RUNS || 5);
const PROCESSES = Number(process.env.BENCH_PROCESSES || 5);
const WARM = 50;
const round3 = (x: number) => Number(x.toFixed(3));
const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

interface ChildInput {
  decryptKey: string;
  iv: string;
  ciphertext: string;
  plaintext: string;
}

/** In a fresh process: load the DecryptKey, decrypt 4 KiB once (cold), then WARM more times. */
function child(file: string): void {
  const input = JSON.parse(readFileSync(file, 'utf8')) as ChildInput;
  const iv = Buffer.from(input.iv, 'base64');
  const ct = Buffer.from(input.ciphertext, 'base64');
  const expected = Buffer.from(input.plaintext, 'base64');
  const t0 = performance.now();
  const tables = loadTables(input.decryptKey);
  const t1 = performance.now();
  const first = whiteboxDecryptCbc(tables, iv, ct);
  const t2 = performance.now();
  if (!first.equals(expected)) throw new Error('white-box decryption gave the wrong plaintext');
  const warm: number[] = [];
  for (let i = 0; i < WARM; i++) {
    const s = performance.now();
    whiteboxDecryptCbc(tables, iv, ct);
    warm.push(performance.now() - s);
  }
  process.stdout.write(JSON.stringify({ load_ms: t1 - t0, first_ms: t2 - t1, warm_ms: median(warm) }));
}

function main(): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-wb-bench-'));
  try {
    for (const algorithm of [WhiteboxAlgorithm.AES_256, WhiteboxAlgorithm.SM4]) {
      const spec = WHITEBOX_ALGORITHMS[algorithm];
      const key = randomBytes(spec.keyBytes);
      const keyId = randomUUID();
      const sets = new Map<WhiteboxDirection, Buffer>();
      for (const direction of [WhiteboxDirection.ENCRYPT, WhiteboxDirection.DECRYPT]) {
        const times: number[] = [];
        let blob: Buffer = Buffer.alloc(0);
        for (let i = 0; i < RUNS; i++) {
          const s = performance.now();
          blob = generateTables({ algorithm, direction, key, keyId });
          times.push(performance.now() - s);
        }
        sets.set(direction, blob);
        const name = direction === WhiteboxDirection.ENCRYPT ? 'E_K' : 'D_K';
        const rest = times.length > 1 ? times.slice(1) : times;
        emit({
          case: 'generate',
          algorithm: spec.name,
          direction: name,
          first_ms: round3(times[0]!),
          median_ms: round3(median(rest)),
          min_ms: round3(Math.min(...rest)),
          max_ms: round3(Math.max(...rest)),
          runs: RUNS,
        });
        const ids = Array.from(
          { length: 200 },
          () =>
            `${randomBytes(4).toString('hex')}-${randomBytes(7).toString('hex')}-${randomBytes(7).toString('hex')}-${randomBytes(7).toString('hex')}-${randomBytes(8).toString('hex')}`,
        );
        const bound = generateTables({ algorithm, direction, key, keyId, fingerprints: ids });
        emit({
          case: 'size',
          algorithm: spec.name,
          direction: name,
          tables_bytes: describeTableSet(blob).tablesLength,
          bytes: blob.length,
          base64_chars: blob.toString('base64').length,
          bound_200_bytes: bound.length,
          bound_200_base64_chars: bound.toString('base64').length,
        });
      }

      const iv = randomBytes(16);
      const plaintext = randomBytes(4096);
      const ciphertext = referenceEncryptCbc(algorithm, key, iv, plaintext);
      const file = path.join(dir, `${spec.name}.json`);
      const input: ChildInput = {
        decryptKey: sets.get(WhiteboxDirection.DECRYPT)!.toString('base64'),
        iv: iv.toString('base64'),
        ciphertext: ciphertext.toString('base64'),
        plaintext: plaintext.toString('base64'),
      };
      writeFileSync(file, JSON.stringify(input));
      const runs: { load_ms: number; first_ms: number; warm_ms: number }[] = [];
      for (let i = 0; i < PROCESSES; i++) {
        const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', file], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`bench child failed: ${r.stderr}`);
        runs.push(JSON.parse(r.stdout));
      }
      const warm = runs.map((r) => r.warm_ms);
      emit({
        case: 'decrypt-4k',
        algorithm: spec.name,
        processes: PROCESSES,
        load_ms: round3(median(runs.map((r) => r.load_ms))),
        first_ms: round3(median(runs.map((r) => r.first_ms))),
        cold_total_ms: round3(median(runs.map((r) => r.load_ms + r.first_ms))),
        warm_median_ms: round3(median(warm)),
        warm_min_ms: round3(Math.min(...warm)),
        warm_max_ms: round3(Math.max(...warm)),
      });

      const enc = loadTables(sets.get(WhiteboxDirection.ENCRYPT)!);
      const times: number[] = [];
      for (let i = 0; i < 20 + WARM; i++) {
        const s = performance.now();
        const c = whiteboxEncryptCbc(enc, iv, plaintext);
        if (i >= 20) times.push(performance.now() - s);
        if (i === 0 && !c.equals(ciphertext)) throw new Error('white-box encryption differs from the reference');
      }
      emit({ case: 'encrypt-4k', algorithm: spec.name, warm_median_ms: round3(median(times)) });
      key.fill(0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The white-box use cases of the service itself, on a SoftHSM2 token of their own. */
async function service(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'hsmkms-wb-bench-service-'));
  try {
    const { loadConfig } = await import('../src/config.js');
    const { createLogger } = await import('../src/log.js');
    const { provisionSoftHsm } = await import('../src/pkcs11/softhsm.js');
    const { openServices, closeServices } = await import('../src/app.js');
    const config = loadConfig({
      ...process.env,
      KMS_DATA_DIR: dataDir,
      SOFTHSM2_CONF: path.join(dataDir, 'softhsm2.conf'),
      KMS_PKCS11_PIN: 'bench-whitebox-pin',
      KMS_DATABASE_URL: '',
    });
    provisionSoftHsm({ dataDir, conf: config.softhsmConf, label: config.tokenLabel, pin: config.pin, pinFile: config.pinFile });
    process.env.SOFTHSM2_CONF = config.softhsmConf;
    const s = await openServices(config, createLogger('silent'));
    const answer = (fields: Record<string, unknown>) => JSON.stringify({ Response: { ...fields, RequestId: randomUUID() } }).length;
    try {
      for (const [name, standard] of [
        ['AES_256', 'FIPS'],
        ['SM4', 'SM'],
      ] as const) {
        const region = config.regions.find((r) => r.standard === standard && s.whiteBoxKeys.offeredIn(r));
        if (!region) throw new Error(`no region offers white-box ${name} (KMS_REGIONS, KMS_WHITEBOX_REGIONS)`);
        const caller = { accountUin: s.rootUin, userUin: s.rootUin, region };
        const creates: number[] = [];
        let keyId = '';
        let createBytes = 0;
        for (let i = 0; i < RUNS; i++) {
          const t = performance.now();
          const r = await s.whiteBoxKeys.create(caller, { alias: `bench-${name}-${i}`, algorithm: name });
          creates.push(performance.now() - t);
          keyId = r.key.keyId;
          createBytes = answer({ EncryptKey: r.encryptKey, DecryptKey: r.decryptKey, KeyId: keyId, TagCode: 0, TagMsg: '' });
        }
        const fingerprints = Array.from({ length: 200 }, () => ({
          identity: [8, 14, 14, 14, 16].map((n) => randomBytes(n).toString('hex').slice(0, n)).join('-'),
          description: '',
        }));
        const regenerate: number[] = [];
        const cached: number[] = [];
        let boundBytes = 0;
        for (let i = 0; i < RUNS; i++) {
          await s.whiteBoxKeys.overwriteFingerprints(caller, keyId, fingerprints);
          let t = performance.now();
          const d = await s.whiteBoxKeys.decryptKey(caller, keyId);
          regenerate.push(performance.now() - t);
          t = performance.now();
          await s.whiteBoxKeys.decryptKey(caller, keyId);
          cached.push(performance.now() - t);
          boundBytes = answer({ DecryptKey: d });
        }
        const encrypts: number[] = [];
        for (let i = 0; i < 20; i++) {
          const t = performance.now();
          await s.whiteBoxKeys.encrypt(caller, keyId, randomBytes(4096));
          encrypts.push(performance.now() - t);
        }
        emit({
          case: 'service',
          algorithm: name,
          create_first_ms: round3(creates[0]!),
          create_median_ms: round3(median(creates.slice(1))),
          create_answer_bytes: createBytes,
          decrypt_key_regenerate_ms: round3(median(regenerate)),
          decrypt_key_cached_ms: round3(median(cached)),
          decrypt_key_bound_200_answer_bytes: boundBytes,
          encrypt_4k_median_ms: round3(median(encrypts)),
          runs: RUNS,
        });
      }
    } finally {
      await closeServices(s);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') child(process.argv[3]!);
else {
  main();
  if (process.env.BENCH_SERVICE !== '0') await service();
}
