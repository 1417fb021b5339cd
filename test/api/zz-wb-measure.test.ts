import { randomBytes } from 'node:crypto';
import { it } from 'vitest';
import { ROOT, rootCallers, startTestServer } from '../helpers/api-server.js';
import { b64, clearProxy, cnKmsClient } from '../helpers/sdk-clients.js';

it('measure', async () => {
  clearProxy();
  let server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  const { hk, gz } = rootCallers(server);
  const t = async <T>(f: () => Promise<T>) => {
    const s = performance.now();
    const r = await f();
    return { ms: Math.round((performance.now() - s) * 10) / 10, r };
  };
  const out: Record<string, unknown> = {};
  const ids: Record<string, string> = {};
  for (const [alg, call] of [
    ['AES_256', hk],
    ['SM4', gz],
  ] as const) {
    const create: number[] = [];
    let size = 0;
    for (let i = 0; i < 5; i++) {
      const c = await t(() => call('CreateWhiteBoxKey', { Alias: `m-${alg}-${i}`, Algorithm: alg }));
      create.push(c.ms);
      size = JSON.stringify({ Response: c.r }).length;
      ids[alg] = c.r.KeyId as string;
    }
    const fp = Array.from({ length: 200 }, () => ({ Identity: [8, 14, 14, 14, 16].map((n) => randomBytes(n).toString('hex').slice(0, n)).join('-') }));
    await call('OverwriteWhiteBoxDeviceFingerprints', { KeyId: ids[alg], DeviceFingerprints: fp });
    const miss = await t(() => call('DescribeWhiteBoxDecryptKey', { KeyId: ids[alg] }));
    const hit = await t(() => call('DescribeWhiteBoxDecryptKey', { KeyId: ids[alg] }));
    const enc: number[] = [];
    for (let i = 0; i < 10; i++) enc.push((await t(() => call('EncryptByWhiteBox', { KeyId: ids[alg], PlainText: b64(randomBytes(4096)) }))).ms);
    const details = await t(() => call('DescribeWhiteBoxKeyDetails', {}));
    out[alg] = {
      create_ms: create,
      create_json_bytes: size,
      decryptkey_bound200_miss_ms: miss.ms,
      decryptkey_hit_ms: hit.ms,
      decryptkey_bound200_json_bytes: JSON.stringify({ Response: miss.r }).length,
      encrypt4k_ms: enc.sort((a, b) => a - b),
      details_5keys_json_bytes: JSON.stringify({ Response: details.r }).length,
    };
  }
  server = await server.restart();
  for (const [alg, region] of [
    ['AES_256', 'ap-hongkong'],
    ['SM4', 'ap-guangzhou'],
  ] as const) {
    const call = cnKmsClient({ endpoint: server.endpoint, secretId: ROOT.secretId, secretKey: ROOT.secretKey, region });
    const first = await t(() => call('DescribeWhiteBoxDecryptKey', { KeyId: ids[alg] }));
    (out[alg] as Record<string, unknown>).decryptkey_after_restart_ms = first.ms;
  }
  console.log(`MEASURE ${JSON.stringify(out)}`);
  await server.stop();
}, 300_000);
