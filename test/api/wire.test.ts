import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kmsActions } from '../../src/api/actions/index.js';
import { checkAgainstSdkResponse } from '../../src/api/actions/response-check.js';
import { parseRateLimits } from '../../src/api/rate-limit.js';
import { ROOT, startTestServer, type TestServer } from '../helpers/api-server.js';
import { REPO } from '../helpers/cli.js';
import { clearProxy, cnKmsClient, intlKmsClient, type ClientOptions, type KmsCaller, type ReqMethod, type SdkError, type SignMethod } from '../helpers/sdk-clients.js';
import { postRaw, tc3Headers, v1Form } from '../helpers/tc-sign.js';

// Tencent Cloud API 3.0 on the wire, driven by the official SDKs unmodified and by
// hand-signed requests for every rejection (docs/contract/protocol.md).

let server: TestServer;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

beforeAll(async () => {
  clearProxy();
  server = await startTestServer();
});

afterAll(async () => {
  await server?.stop();
});

const opts = (o: Partial<ClientOptions> = {}): ClientOptions => ({ endpoint: server.endpoint, secretId: ROOT.secretId, secretKey: ROOT.secretKey, region: 'ap-hongkong', ...o });

async function sdkError(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p;
  } catch (err) {
    const e = err as SdkError;
    expect(typeof e.code, `not an API error: ${String(err)}`).toBe('string');
    return e;
  }
  throw new Error('expected the call to fail');
}

const MATRIX: Array<{ sdk: 'cn' | 'intl'; signMethod?: SignMethod; reqMethod: ReqMethod }> = [
  { sdk: 'cn', signMethod: 'TC3-HMAC-SHA256', reqMethod: 'POST' },
  { sdk: 'cn', signMethod: 'TC3-HMAC-SHA256', reqMethod: 'GET' },
  { sdk: 'cn', signMethod: 'HmacSHA256', reqMethod: 'POST' },
  { sdk: 'cn', signMethod: 'HmacSHA1', reqMethod: 'GET' },
  { sdk: 'intl', signMethod: undefined, reqMethod: 'POST' }, // its default: HmacSHA256, v1
  { sdk: 'intl', signMethod: 'HmacSHA1', reqMethod: 'POST' },
  { sdk: 'intl', signMethod: 'HmacSHA256', reqMethod: 'GET' },
  { sdk: 'intl', signMethod: 'TC3-HMAC-SHA256', reqMethod: 'POST' },
  { sdk: 'intl', signMethod: 'TC3-HMAC-SHA256', reqMethod: 'GET' },
];

const client = (sdk: 'cn' | 'intl', o: Partial<ClientOptions> = {}): KmsCaller => (sdk === 'cn' ? cnKmsClient(opts(o)) : intlKmsClient(opts(o)));

describe.each(MATRIX)('$sdk SDK, $signMethod, $reqMethod', ({ sdk, signMethod, reqMethod }) => {
  const call = () => client(sdk, { signMethod, reqMethod });

  it('GetRegions lists the configured regions, shaped as the SDK model says', async () => {
    const r = await call()('GetRegions');
    expect(r.Regions).toEqual(['ap-guangzhou', 'ap-shanghai', 'ap-beijing', 'ap-hongkong', 'ap-singapore']);
    expect(r.RequestId).toMatch(UUID);
    expect(checkAgainstSdkResponse('GetRegions', r)).toEqual([]);
  });

  it('ListAlgorithms follows the region’s standard', async () => {
    const fips = await client(sdk, { signMethod, reqMethod, region: 'ap-hongkong' })('ListAlgorithms');
    expect(fips.SymmetricAlgorithms).toEqual([{ KeyUsage: 'ENCRYPT_DECRYPT', Algorithm: 'AES_256' }]);
    expect(fips.AsymmetricAlgorithms).toEqual([
      { KeyUsage: 'ASYMMETRIC_DECRYPT_RSA_2048', Algorithm: 'RSA_2048' },
      { KeyUsage: 'PQC_ENCRYPT_DECRYPT_ML_KEM_768', Algorithm: 'ML_KEM_768_AES_256_GCM' },
    ]);
    expect(checkAgainstSdkResponse('ListAlgorithms', fips)).toEqual([]);
    const sm = await client(sdk, { signMethod, reqMethod, region: 'ap-guangzhou' })('ListAlgorithms');
    expect(sm.SymmetricAlgorithms).toEqual([{ KeyUsage: 'ENCRYPT_DECRYPT', Algorithm: 'SM4' }]);
    expect(sm.AsymmetricSignVerifyAlgorithms).toEqual([
      { KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_SM2', Algorithm: 'SM2' },
      { KeyUsage: 'PQC_SIGN_VERIFY_ML_DSA_65', Algorithm: 'ML_DSA_65' },
    ]);
  });

  it('a wrong SecretKey is AuthFailure.SignatureFailure', async () => {
    const e = await sdkError(client(sdk, { signMethod, reqMethod, secretKey: 'wrongSECRETkey00000000000000000000' })('GetRegions'));
    expect(e.code).toBe('AuthFailure.SignatureFailure');
    expect(e.requestId).toMatch(UUID);
  });

  it('array and object parameters arrive intact: validation sees every element', async () => {
    // KeyIds.0 … KeyIds.100 flattened on v1/GET, a JSON array on TC3 POST: 101 ids is one too many.
    const ids = Array.from({ length: 101 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const e = await sdkError(call()('DescribeKeys', { KeyIds: ids }));
    expect(e.code).toMatch(/^InvalidParameter/);
    expect(e.message).toMatch(/KeyIds/);
  });
});

describe('service status through the SDK', () => {
  it('GetServiceStatus answers from the configuration', async () => {
    const r = await cnKmsClient(opts())('GetServiceStatus');
    expect(r).toMatchObject({ ServiceEnabled: true, InvalidType: 1, CmkLimit: 100_000, CmkUserCount: 0, IsAllowedSync: false });
    // Every field of the model is sent; without KMS_RATE_LIMITS nothing is limited (0).
    expect(r).toMatchObject({ QpsLimit: 0, QpsTotalLimit: 0, ResourceZone: 0, ResourceRegion: 0 });
    expect(r.RegionsQps).toEqual(server.config.regions.map((g) => ({ Region: g.name, Qps: 0 })));
    expect(checkAgainstSdkResponse('GetServiceStatus', r)).toEqual([]);
    const modelled = Object.keys(kmsActions.GetServiceStatus.response).filter((f) => f !== 'RequestId');
    expect(modelled.filter((f) => !(f in r))).toEqual([]);
  });

  it('an unknown region is UnsupportedRegion; a missing one is MissingParameter', async () => {
    expect((await sdkError(cnKmsClient(opts({ region: 'ap-mars' }))('ListAlgorithms'))).code).toBe('UnsupportedRegion');
    expect((await sdkError(cnKmsClient(opts({ region: '' }))('ListAlgorithms'))).code).toBe('MissingParameter');
    // GetRegions needs no region
    expect((await cnKmsClient(opts({ region: '' }))('GetRegions')).Regions).toHaveLength(5);
  });

  it('GetRegions answers the region list whatever region the client is configured with', async () => {
    for (const region of ['ap-mars', 'eu-frankfurt', 'ap-hongkong']) {
      expect((await cnKmsClient(opts({ region }))('GetRegions')).Regions, region).toHaveLength(5);
      expect((await intlKmsClient(opts({ region }))('GetRegions')).Regions, region).toHaveLength(5);
    }
  });

  it('parameters are validated before anything runs, with the field named', async () => {
    const e = await sdkError(cnKmsClient(opts())('CreateKey', { Alias: 'bad alias!' }));
    expect(e.code).toMatch(/^InvalidParameterValue/);
    expect(e.message).toMatch(/Alias/);
    const missing = await sdkError(intlKmsClient(opts())('Encrypt', { Plaintext: 'aGVsbG8=' }));
    expect(missing.code).toBe('MissingParameter');
    expect(missing.message).toMatch(/KeyId/);
  });
});

describe('credentials', () => {
  it('unknown SecretId is AuthFailure.SecretIdNotFound; a disabled key is refused until enabled again', async () => {
    expect((await sdkError(cnKmsClient(opts({ secretId: 'AKIDunknown000000000000000000000000' }))('GetRegions'))).code).toBe('AuthFailure.SecretIdNotFound');
    const sub = await server.services.identities.createCredential(ROOT.uin, 'root');
    const caller = intlKmsClient(opts({ secretId: sub.secretId, secretKey: sub.secretKey }));
    expect((await caller('GetRegions')).Regions).toHaveLength(5);
    await server.services.identities.setCredentialStatus(sub.secretId, 'Disabled');
    expect((await sdkError(caller('GetRegions'))).code).toBe('AuthFailure.SecretIdNotFound');
    await server.services.identities.setCredentialStatus(sub.secretId, 'Enabled');
    expect((await caller('GetRegions')).Regions).toHaveLength(5);
    await server.services.identities.deleteCredential(sub.secretId);
    expect((await sdkError(caller('GetRegions'))).code).toBe('AuthFailure.SecretIdNotFound');
  });

  it('stores secret keys only sealed under the token KEK', async () => {
    const { secretKey } = await server.services.identities.createCredential(ROOT.uin, 'root');
    const rows = await server.services.db('credentials').select('*');
    const dump = JSON.stringify(rows) + rows.map((r: { sealed_secret_key: Buffer }) => r.sealed_secret_key.toString('latin1')).join('');
    expect(dump).not.toContain(secretKey);
    expect(dump).not.toContain(ROOT.secretKey);
    const dbFile = readFileSync(server.config.sqliteFile, 'latin1') + readFileSync(`${server.config.sqliteFile}-wal`, 'latin1');
    expect(dbFile).not.toContain(ROOT.secretKey);
  });
});

describe('hand-signed rejections, each with its code and the standard envelope', () => {
  const url = () => `http://${server.endpoint}/`;
  const base = () => ({ host: server.endpoint, secretId: ROOT.secretId, secretKey: ROOT.secretKey, action: 'GetRegions', version: '2019-01-18', region: 'ap-hongkong' });

  async function expectRejection(headers: Record<string, string>, body: string | Buffer, code: string, method = 'POST') {
    const res = await fetch(url(), { method, headers, body: method === 'GET' ? undefined : body });
    expect(res.status).toBe(200);
    const json = (await res.json()) as { Response: { Error: { Code: string; Message: string }; RequestId: string } };
    expect(Object.keys(json.Response).sort()).toEqual(['Error', 'RequestId']);
    expect(json.Response.Error.Code).toBe(code);
    expect(json.Response.Error.Message.length).toBeGreaterThan(0);
    expect(json.Response.Error.Message).not.toMatch(/\n\s+at |node_modules|Error:/);
    expect(json.Response.RequestId).toMatch(UUID);
    return json.Response.Error;
  }

  it('accepts a correct hand-signed request (the baseline for the mutations below)', async () => {
    const r = await postRaw(url(), tc3Headers(base()), '{}');
    expect(r.json.Response.Regions).toHaveLength(5);
  });

  it('bad signature → AuthFailure.SignatureFailure', async () => {
    await expectRejection(tc3Headers({ ...base(), secretKey: 'x'.repeat(32) }), '{}', 'AuthFailure.SignatureFailure');
    // the body changed after signing
    await expectRejection(tc3Headers({ ...base(), body: '{}' }), '{"Limit":1}', 'AuthFailure.SignatureFailure');
  });

  it('timestamp outside ±300 s → AuthFailure.SignatureExpire', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejection(tc3Headers({ ...base(), timestamp: now - 301 }), '{}', 'AuthFailure.SignatureExpire');
    await expectRejection(tc3Headers({ ...base(), timestamp: now + 301 }), '{}', 'AuthFailure.SignatureExpire');
  });

  it('unknown SecretId → AuthFailure.SecretIdNotFound', async () => {
    await expectRejection(tc3Headers({ ...base(), secretId: 'AKIDnobody00000000000000000000000000' }), '{}', 'AuthFailure.SecretIdNotFound');
  });

  it('a v1 request replayed inside the window → AuthFailure.SignatureFailure', async () => {
    const form = v1Form({
      host: server.endpoint,
      secretId: ROOT.secretId,
      secretKey: ROOT.secretKey,
      params: { Action: 'GetRegions', Version: '2019-01-18', Region: 'ap-hongkong' },
    });
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const first = await postRaw(url(), headers, form);
    expect(first.json.Response.Regions).toHaveLength(5);
    const e = await expectRejection(headers, form, 'AuthFailure.SignatureFailure');
    expect(e.Message).toMatch(/already received/);
  });

  it('v1 HmacSHA1 and HmacSHA256 hand-signed forms are accepted', async () => {
    for (const method of ['HmacSHA1', 'HmacSHA256'] as const) {
      const form = v1Form({
        host: server.endpoint,
        secretId: ROOT.secretId,
        secretKey: ROOT.secretKey,
        method,
        params: { Action: 'ListAlgorithms', Version: '2019-01-18', Region: 'ap-singapore' },
      });
      const r = await postRaw(url(), { 'Content-Type': 'application/x-www-form-urlencoded' }, form);
      expect(r.json.Response.SymmetricAlgorithms, method).toEqual([{ KeyUsage: 'ENCRYPT_DECRYPT', Algorithm: 'AES_256' }]);
    }
  });

  it('missing or unknown Action → MissingParameter / InvalidAction', async () => {
    await expectRejection(tc3Headers({ ...base(), action: undefined }), '{}', 'MissingParameter');
    await expectRejection(tc3Headers({ ...base(), action: 'StealKeys' }), '{}', 'InvalidAction');
  });

  it('wrong Version → NoSuchVersion; unknown region → UnsupportedRegion', async () => {
    await expectRejection(tc3Headers({ ...base(), version: '2017-03-12' }), '{}', 'NoSuchVersion');
    // GetRegions answers whatever the region; an action of a region refuses one not served.
    await expectRejection(tc3Headers({ ...base(), action: 'ListAlgorithms', region: 'ap-mars' }), '{}', 'UnsupportedRegion');
  });

  it('malformed JSON → InvalidParameter; wrong content type or method → UnsupportedProtocol', async () => {
    await expectRejection(tc3Headers({ ...base(), body: '{"Limit":' }), '{"Limit":', 'InvalidParameter');
    await expectRejection(tc3Headers({ ...base(), contentType: 'text/plain' }), '{}', 'UnsupportedProtocol');
    await expectRejection(tc3Headers(base()), '{}', 'UnsupportedProtocol', 'PUT');
  });

  it('temporary-credential tokens → AuthFailure.TokenFailure', async () => {
    await expectRejection(tc3Headers({ ...base(), extraHeaders: { 'X-TC-Token': 'sts-token' } }), '{}', 'AuthFailure.TokenFailure');
    await expectRejection(tc3Headers({ ...base(), extraHeaders: { 'X-TC-Token': '\u00a0' } }), '{}', 'AuthFailure.TokenFailure');
    // A blank header is no header (HTTP strips its spaces): the request is judged without a token.
    const blank = await postRaw(url(), tc3Headers({ ...base(), extraHeaders: { 'X-TC-Token': '   ' } }), '{}');
    expect(blank.json.Response.Regions).toHaveLength(5);
  });

  it('a body over the configured cap → RequestSizeLimitExceeded', async () => {
    const small = await startTestServer({ KMS_MAX_BODY_BYTES: '2048' }, server);
    try {
      const body = JSON.stringify({ Description: 'x'.repeat(4096) });
      const res = await fetch(`${small.url}/`, { method: 'POST', headers: tc3Headers({ ...base(), host: small.endpoint, body }), body });
      const json = (await res.json()) as { Response: { Error: { Code: string } } };
      expect(res.status).toBe(200);
      expect(json.Response.Error.Code).toBe('RequestSizeLimitExceeded');
    } finally {
      await small.stop();
    }
  });
});

describe('rate limits', () => {
  it('parses the Tencent preset and overrides', () => {
    const t = parseRateLimits('tencent,Encrypt=50');
    expect(t.get('Encrypt')).toBe(50);
    expect(t.get('Decrypt')).toBe(300);
    expect(t.get('RotateKey')).toBe(20);
    expect(parseRateLimits(undefined).size).toBe(0);
    expect(() => parseRateLimits('Encrypt=fast')).toThrow(/KMS_RATE_LIMITS/);
  });

  it('refuses requests over an action’s limit with RequestLimitExceeded, per action', async () => {
    const limited = await startTestServer({ KMS_RATE_LIMITS: 'GetRegions=2' }, server);
    try {
      const call = cnKmsClient({ ...opts(), endpoint: limited.endpoint });
      await call('GetRegions');
      await call('GetRegions');
      const e = await sdkError(call('GetRegions'));
      expect(e.code).toBe('RequestLimitExceeded');
      expect((await call('ListAlgorithms')).SymmetricAlgorithms).toBeDefined();
      // GetServiceStatus reports the configured limits, so that a client can size its throttle.
      const status = await call('GetServiceStatus');
      expect(status).toMatchObject({ QpsLimit: 2, QpsTotalLimit: 2 * limited.config.regions.length });
      expect(status.RegionsQps).toEqual(limited.config.regions.map((g) => ({ Region: g.name, Qps: 2 })));
    } finally {
      await limited.stop();
    }
  });
});

describe('request logs', () => {
  it('log action, region, uin, request id, latency and error code — never secrets or signatures', async () => {
    await cnKmsClient(opts())('GetRegions');
    await sdkError(cnKmsClient(opts({ secretKey: 'wrongSECRETkey00000000000000000000' }))('GetRegions'));
    const calls = server.logLines().filter((l) => l.msg === 'api call');
    const ok = calls.find((l) => l.action === 'GetRegions' && l.code === undefined);
    expect(ok).toMatchObject({ region: 'ap-hongkong', uin: ROOT.uin });
    expect(ok?.requestId).toMatch(UUID);
    expect(typeof ok?.latencyMs).toBe('number');
    // The line is written without the redaction pass (log.ts requestLogger): only these fields, ever.
    const allowed = new Set(['level', 'time', 'pid', 'hostname', 'service', 'msg', 'requestId', 'action', 'region', 'uin', 'subUin', 'latencyMs', 'code']);
    for (const l of calls) expect(Object.keys(l).filter((k) => !allowed.has(k))).toEqual([]);
    expect(calls.some((l) => l.code === 'AuthFailure.SignatureFailure')).toBe(true);
    const text = server.logText();
    expect(text).not.toContain(ROOT.secretKey);
    expect(text).not.toMatch(/Signature=[0-9a-f]{64}/);
    expect(text).not.toContain(server.tokenEnv.KMS_PKCS11_PIN);
  });
});

describe('HTTPS listener', () => {
  it('serves the SDK over https:// with the configured certificate', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-tls-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'pipe' },
    );
    const tls = await startTestServer({ KMS_TLS_CERT_FILE: cert, KMS_TLS_KEY_FILE: key, KMS_TLS_PORT: '0' }, server);
    try {
      const endpoint = tls.httpsUrl!.replace('https://', '');
      // A child process, so the test CA is trusted the way an operator would do it.
      const script = `
        const { kms } = require('tencentcloud-sdk-nodejs/tencentcloud/services/kms/index.js');
        const c = new kms.v20190118.Client({ credential: { secretId: process.env.SID, secretKey: process.env.SKEY }, region: 'ap-hongkong',
          profile: { httpProfile: { endpoint: process.env.EP, protocol: 'https://' } } });
        c.GetRegions({}).then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e.code || e.message); process.exit(1); });`;
      // Asynchronously: the server answering it runs in this process.
      const r = await promisify(execFile)(process.execPath, ['-e', script], {
        cwd: REPO,
        encoding: 'utf8',
        env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: cert, SID: ROOT.secretId, SKEY: ROOT.secretKey, EP: endpoint },
        timeout: 30_000,
      });
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout).Regions).toHaveLength(5);
    } finally {
      await tls.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
