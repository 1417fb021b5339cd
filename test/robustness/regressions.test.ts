import { constants, createHash, createHmac, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request as httpRequest } from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConsolePasswords } from '../../src/console/passwords.js';
import { IdentityRepo } from '../../src/store/identity-repo.js';
import { parseApiRequest } from '../../src/api/wire/index.js';
import { MAX_PARAM_DEPTH, unflattenParams } from '../../src/api/wire/request.js';
import { startTestServer, ROOT, type TestServer } from '../helpers/api-server.js';
import { cli } from '../helpers/cli.js';
import { plainHttpHost } from '../../src/server.js';
import { openDatabase } from '../../src/store/db.js';
import { judgeEnvelope } from '../helpers/contract-codes.js';
import { storableAuditEvent } from '../../src/store/audit-repo.js';
import { clearProxy } from '../helpers/sdk-clients.js';
import { tc3Headers, v1Form } from '../helpers/tc-sign.js';

// Bugs the robustness suite found, one test each (the fuzz in robustness.test.ts finds them
// again only by chance).

clearProxy();

describe('nesting is bounded before anything recurses over the parameters', () => {
  const post = (body: string) =>
    parseApiRequest({
      method: 'POST',
      url: '/',
      headers: { ...tc3Headers({ host: 'h', secretId: 'AKIDx', secretKey: 'k', action: 'DescribeKey', version: '2019-01-18', region: 'ap-hongkong', body }), host: 'h' },
      rawBody: Buffer.from(body),
    });

  it('a JSON body nested 30,000 deep is InvalidParameter (was a stack overflow → InternalError)', () => {
    expect(() => post(`{"KeyId":${'['.repeat(30_000)}${']'.repeat(30_000)}}`)).toThrow(expect.objectContaining({ code: 'InvalidParameter' }));
    expect(() => post(`${'{"a":'.repeat(15_000)}1${'}'.repeat(15_000)}`)).toThrow(expect.objectContaining({ code: 'InvalidParameter' }));
  });

  it(`nesting up to ${MAX_PARAM_DEPTH} levels still parses`, () => {
    const ok = `{"TagFilters":${'['.repeat(MAX_PARAM_DEPTH - 1)}${']'.repeat(MAX_PARAM_DEPTH - 1)}}`;
    expect(post(ok).params).toHaveProperty('TagFilters');
    expect(() => post(`{"TagFilters":${'['.repeat(MAX_PARAM_DEPTH)}${']'.repeat(MAX_PARAM_DEPTH)}}`)).toThrow(expect.objectContaining({ code: 'InvalidParameter' }));
  });

  it('a v1 parameter name with 5,000 path segments is InvalidParameter (was a stack overflow)', () => {
    expect(() => unflattenParams({ [`${'A.'.repeat(5_000)}B`]: 'x' })).toThrow(expect.objectContaining({ code: 'InvalidParameter' }));
    expect(unflattenParams({ 'Tags.0.TagKey': 'k' })).toEqual({ Tags: [{ TagKey: 'k' }] });
  });
});

// One server for the whole file (SoftHSM2 reads its configuration once per process).
const V1_NONCE_LIMIT = 40;
const METRICS_TOKEN = 'metrics-token-for-the-scraper';
const SERVER_ENV = { KMS_JOBS_INTERVAL_SECONDS: '0', KMS_V1_NONCE_LIMIT: String(V1_NONCE_LIMIT), KMS_METRICS_TOKEN: METRICS_TOKEN };
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(SERVER_ENV);
});
afterAll(async () => {
  await server?.stop();
});

/** A TC3-signed call as root (or with the given credentials and headers); the envelope's Response. */
async function signedCall(action: string, params: Record<string, unknown>, o: { secretId?: string; secretKey?: string; region?: string } = {}) {
  const body = JSON.stringify(params);
  const r = await fetch(`http://${server.endpoint}/`, {
    method: 'POST',
    headers: tc3Headers({
      host: server.endpoint,
      secretId: o.secretId ?? ROOT.secretId,
      secretKey: o.secretKey ?? ROOT.secretKey,
      action,
      version: '2019-01-18',
      region: o.region ?? 'ap-hongkong',
      body,
    }),
    body,
  });
  return ((await r.json()) as { Response: Record<string, unknown> & { Error?: { Code: string; Message: string }; RequestId: string } }).Response;
}

describe('requests the HTTP parser refuses get the Tencent envelope', () => {
  /** Writes raw bytes on a fresh connection and returns the whole answer. */
  function rawExchange(bytes: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const [host, port] = server.endpoint.split(':');
      const socket = net.connect(Number(port), host, () => socket.write(bytes));
      let text = '';
      socket.on('data', (d) => (text += d.toString('utf8')));
      socket.on('error', reject);
      socket.on('close', () => {
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
        resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
      });
      setTimeout(() => socket.end(), 2_000).unref();
    });
  }

  it('a header block beyond 64 KiB: RequestSizeLimitExceeded (was a bare 431)', async () => {
    const r = await rawExchange(`GET /?${'a'.repeat(70_000)}=1 HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(judgeEnvelope(r.status, r.body)).toEqual({ ok: true, code: 'RequestSizeLimitExceeded' });
  });

  it('a GET URL of 20 KB reaches the API (was a bare 431 above 16 KiB) and is judged there', async () => {
    const r = await rawExchange(`GET /?Action=DescribeKey&Pad=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const verdict = judgeEnvelope(r.status, r.body);
    expect(verdict.ok).toBe(true);
    expect(verdict.code).toBe('MissingParameter');
  });

  it('garbage instead of a request line: UnsupportedProtocol (was a bare 400)', async () => {
    const r = await rawExchange('\u0001\u0002 not http at all\r\n\r\n');
    expect(judgeEnvelope(r.status, r.body)).toEqual({ ok: true, code: 'UnsupportedProtocol' });
  });

  it('a search term over 50,000 characters is an empty result, not an InternalError (SQLite refused it as a LIKE pattern)', async () => {
    const call = signedCall;
    // Rows to match against: with none, SQLite never compiles the pattern.
    const keyId = (await call('CreateKey', { Alias: 'long-search' })).KeyId;
    expect(keyId).toBeTruthy();
    expect((await call('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256', IsHostedByKms: 1, DataKeyName: 'long-search' })).Error).toBeUndefined();
    const long = 'A'.repeat(60_000);
    for (const action of ['ListKeyDetail', 'ListDataKeyDetail']) {
      const r = await call(action, { SearchKeyAlias: long });
      expect(r.Error, action).toBeUndefined();
      expect(r.TotalCount, action).toBe(0);
      expect((await call(action, { SearchKeyAlias: 'LONG-SEARCH' })).TotalCount, action).toBe(1); // still a case-insensitive substring
    }
  });

  it('the server still answers signed calls afterwards', async () => {
    const body = '{"NumberOfBytes":8}';
    const res = await fetch(server.url, {
      method: 'POST',
      headers: tc3Headers({
        host: server.endpoint,
        secretId: ROOT.secretId,
        secretKey: ROOT.secretKey,
        action: 'GenerateRandom',
        version: '2019-01-18',
        region: 'ap-hongkong',
        body,
      }),
      body,
    });
    expect(judgeEnvelope(res.status, await res.text())).toEqual({ ok: true, code: undefined });
  });
});

describe('an unauthenticated request cannot grow the audit trail beyond one small event', () => {
  // The attack: bogus signature, bogus action, stale timestamp, and ~1 MB of "id" (or 20,000 fake
  // ids) that the trail used to store as the event's resource name — 100 such requests added 110 MB.
  const stale = Math.floor(Date.now() / 1000) - 3_600;
  const attack = async (action: string, params: Record<string, unknown>) => {
    const body = JSON.stringify(params);
    const headers = tc3Headers({
      host: server.endpoint,
      secretId: 'AKIDnobody0000000000000000000000000',
      secretKey: 'x'.repeat(32),
      action,
      version: '2019-01-18',
      region: 'ap-hongkong',
      body,
      timestamp: stale,
    });
    const r = await fetch(`http://${server.endpoint}/`, { method: 'POST', headers, body });
    return ((await r.json()) as { Response: { Error?: { Code: string }; RequestId: string } }).Response;
  };
  const eventSize = (e: Record<string, unknown>) => Buffer.byteLength(JSON.stringify(e));

  it('a 1 MB KeyId, 20,000 fake KeyIds or DataKeyIds: refused, and each event stays under 8 KB naming only well-formed ids', async () => {
    const fakeIds = Array.from({ length: 20_000 }, () => randomUUID());
    const cases: Array<[string, Record<string, unknown>]> = [
      ['NoSuchAction', { KeyId: 'k'.repeat(1_000_000) }],
      ['Encrypt', { KeyId: 'k'.repeat(1_000_000), Plaintext: 'eA==' }],
      ['DescribeKeys', { KeyIds: fakeIds }],
      ['DescribeDataKeys', { DataKeyIds: fakeIds }],
      ['NoSuchAction', { KeyIds: ['x'.repeat(500_000), 'y'.repeat(400_000)], DataKeyId: 'z'.repeat(50_000) }],
    ];
    for (const [action, params] of cases) {
      const r = await attack(action, params);
      expect(r.Error?.Code, action).toMatch(/^(InvalidAction|AuthFailure\.)/);
      const [event] = await server.services.auditRepo.query({ limit: 1, requestId: r.RequestId });
      expect(event, action).toBeDefined();
      expect(eventSize(event as never), action).toBeLessThan(8 * 1024);
      expect(
        event!.resourceName.split(',').every((id) => id === '*' || /^[0-9a-f-]{36}$/.test(id)),
        action,
      ).toBe(true);
    }
  });

  it('every stored field is bounded, whatever an event was given', () => {
    const huge = `${'\u0000\ud800'.repeat(10)}${'A'.repeat(1 << 20)}`;
    const event = storableAuditEvent({
      eventId: huge,
      eventTimeMs: 1,
      eventName: huge,
      requestId: huge,
      accountUin: huge,
      userUin: huge,
      userName: huge,
      secretId: huge,
      sourceIp: huge,
      region: huge,
      resourceType: huge,
      resourceName: huge,
      result: huge as 'Fail',
      errorCode: huge,
      apiVersion: huge,
    });
    expect(eventSize(event as never)).toBeLessThan(8 * 1024);
  });
});

describe('a cookie that does not decode is ignored by the console', () => {
  // Any site on the same host name can set `x=%`; decoding it threw, and every console page —
  // the sign-in page included — answered 500.
  it('`Cookie: x=%` beside the console’s own cookies: the sign-in page answers, other pages send to it', async () => {
    const login = await fetch(`${server.url}/console/login`, { headers: { Cookie: 'x=%; y=%E0%A4%A; hsmkms_console_login=%' } });
    expect(login.status).toBe(200);
    expect(await login.text()).toContain('Log in');
    const keys = await fetch(`${server.url}/console/keys`, { headers: { Cookie: 'x=%; hsmkms_console=%zz' }, redirect: 'manual' });
    expect(keys.status).toBeGreaterThanOrEqual(300);
    expect(keys.status).toBeLessThan(400);
    expect(keys.headers.get('location')).toContain('/console/login');
  });
});

describe('EncryptionPublicKey must be a key that hides what it carries', () => {
  // An RSA-2048 key with e = 1 returned the data key in clear.
  const rsaWith = (e: bigint, bits = 2048) => {
    const jwk = generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ format: 'jwk' });
    const hex = e.toString(16);
    const eB64 = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex').toString('base64url');
    return createPublicKey({ key: { ...jwk, e: eB64 }, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
  };

  it('e = 1, 3, 65535, an even e, or a modulus under 2048 bits: FailedOperation.EncryptionError, and no hosted data key is stored', async () => {
    const keyId = (await signedCall('CreateKey', { Alias: 'wrap-sanity' })).KeyId as string;
    const plaintext = Buffer.from('sixteen byte key');
    const blob = (await signedCall('Encrypt', { KeyId: keyId, Plaintext: plaintext.toString('base64') })).CiphertextBlob as string;
    for (const [name, pem] of [
      ['e=1', rsaWith(1n)],
      ['e=3', rsaWith(3n)],
      ['e=65535', rsaWith(65535n)],
      ['e=65538', rsaWith(65538n)],
      ['1024 bits', rsaWith(65537n, 1024)],
    ] as const) {
      for (const alg of ['RSAES_PKCS1_V1_5', 'RSAES_OAEP_SHA_256']) {
        const d = await signedCall('Decrypt', { CiphertextBlob: blob, EncryptionPublicKey: pem, EncryptionAlgorithm: alg });
        expect(d.Error?.Code, `${name} ${alg}`).toBe('FailedOperation.EncryptionError');
        expect(JSON.stringify(d)).not.toContain(plaintext.toString('base64'));
        const g = await signedCall('GenerateDataKey', {
          KeyId: keyId,
          KeySpec: 'AES_256',
          IsHostedByKms: 1,
          DataKeyName: `dk-${name}-${alg}`,
          EncryptionPublicKey: pem,
          EncryptionAlgorithm: alg,
        });
        expect(g.Error?.Code, `${name} ${alg}`).toBe('FailedOperation.EncryptionError');
      }
    }
    expect((await signedCall('ListDataKeyDetail', { KeyId: keyId })).TotalCount).toBe(0);
    // e = 65537 still works.
    expect((await signedCall('Decrypt', { CiphertextBlob: blob, EncryptionPublicKey: rsaWith(65537n), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })).Error).toBeUndefined();
  });
});

describe('an EncryptionContext has one reading', () => {
  // `{"tenant":"B","tenant":"A"}` decrypted what `{"tenant":"A"}` encrypted, and 9007199254740992
  // matched 9007199254740993: JSON.parse keeps the last repeated key and rounds numbers.
  // The refusal is InvalidParameterValue, answered as the nearest code each action's documented
  // list has: InvalidParameter for Encrypt, Decrypt and GenerateDataKey (answer-codes.ts).
  it('repeated keys and numbers that do not read back exactly are refused (InvalidParameter, the lists’ code), on Encrypt and Decrypt', async () => {
    const keyId = (await signedCall('CreateKey', { Alias: 'context-exact' })).KeyId as string;
    const a = await signedCall('Encrypt', { KeyId: keyId, Plaintext: 'dGVuYW50IEE=', EncryptionContext: '{"tenant":"A"}' });
    expect(a.Error).toBeUndefined();
    expect((await signedCall('Decrypt', { CiphertextBlob: a.CiphertextBlob, EncryptionContext: '{"tenant":"B","tenant":"A"}' })).Error?.Code).toBe('InvalidParameter');
    expect((await signedCall('Encrypt', { KeyId: keyId, Plaintext: 'eA==', EncryptionContext: '{"tenant":"B","tenant":"A"}' })).Error?.Code).toBe('InvalidParameter');
    const n = await signedCall('Encrypt', { KeyId: keyId, Plaintext: 'eA==', EncryptionContext: '{"n":9007199254740992}' });
    expect(n.Error).toBeUndefined();
    expect((await signedCall('Decrypt', { CiphertextBlob: n.CiphertextBlob, EncryptionContext: '{"n":9007199254740993}' })).Error?.Code).toBe('InvalidParameter');
    expect((await signedCall('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: '{"n":1.0}' })).Error?.Code).toBe('InvalidParameter');
    // What was written exactly still opens.
    expect((await signedCall('Decrypt', { CiphertextBlob: a.CiphertextBlob, EncryptionContext: '{ "tenant" : "A" }' })).Plaintext).toBe('dGVuYW50IEE=');
    expect((await signedCall('Decrypt', { CiphertextBlob: n.CiphertextBlob, EncryptionContext: '{"n":9007199254740992}' })).Plaintext).toBe('eA==');
  });
});

describe('BYOK gives no padding oracle', () => {
  // With RSAES_PKCS1_V1_5, bad padding and good padding with a wrong length gave different
  // errors, and the ImportToken survived every failure: an oracle a caller could ask at will.
  it('bad padding, and good padding around material of the wrong length: one answer, and the ImportToken is spent by the first', async () => {
    const keyId = (await signedCall('CreateKey', { Alias: 'byok-oracle', Type: 2 })).KeyId as string;
    const answers: string[] = [];
    for (const material of [randomBytes(256), 'wrong length'] as const) {
      const p = await signedCall('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_PKCS1_V1_5', WrappingKeySpec: 'RSA_2048' });
      const key = createPublicKey({ key: Buffer.from(p.PublicKey as string, 'base64'), format: 'der', type: 'spki' });
      const encrypted = typeof material === 'string' ? publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, randomBytes(31)) : material;
      const r = await signedCall('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: encrypted.toString('base64') });
      answers.push(`${r.Error?.Code}: ${r.Error?.Message}`);
      const good = publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, randomBytes(32));
      expect((await signedCall('ImportKeyMaterial', { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: good.toString('base64') })).Error?.Code).toBe(
        'ResourceUnavailable.TokenExpired',
      );
    }
    expect(answers[0]).toMatch(/^InvalidParameter\.DecryptMaterialError: /);
    expect(answers[1]).toBe(answers[0]);
  });
});

describe('a refused Decrypt or Encrypt on a CMK is not bypassed through hosted data keys', () => {
  it('ImportDataKey type 1 of a ciphertext, or type 2 of a chosen plaintext, is refused as the Decrypt or Encrypt it is', async () => {
    const s = server.services;
    const keyId = (await signedCall('CreateKey', { Alias: 'dk-bypass' })).KeyId as string;
    await s.identities.createUser(ROOT.uin, 'bypass');
    const policy = {
      version: '2.0',
      statement: [
        { effect: 'allow', action: ['name/kms:ImportDataKey', 'name/kms:GetDataKeyPlaintext', 'name/kms:GetDataKeyCiphertextBlob'], resource: '*' },
        { effect: 'deny', action: ['name/kms:Decrypt', 'name/kms:Encrypt', 'name/kms:ReEncrypt', 'name/kms:GenerateDataKey'], resource: '*' },
      ],
    };
    await s.access.createPolicy(ROOT.uin, 'bypass-p', JSON.stringify(policy));
    await s.access.attach(ROOT.uin, 'bypass-p', 'bypass');
    const cred = await s.identities.createCredential(ROOT.uin, 'bypass');
    const as = (action: string, params: Record<string, unknown>) => signedCall(action, params, cred);
    const secret = 'c2VjcmV0IG9mIHRoZSByb290';
    const blob = (await signedCall('Encrypt', { KeyId: keyId, Plaintext: secret })).CiphertextBlob as string;
    const one = await as('ImportDataKey', { DataKeyName: 'bypass-1', ImportKeyMaterial: blob, ImportType: 1 });
    expect(one.Error?.Code).toBe('AuthFailure.UnauthorizedOperation');
    expect(one.Error?.Message).toContain('kms:Decrypt');
    const two = await as('ImportDataKey', { DataKeyName: 'bypass-2', ImportKeyMaterial: 'Zm9yZ2Vk', ImportType: 2, KeyId: keyId });
    expect(two.Error?.Code).toBe('AuthFailure.UnauthorizedOperation');
    expect(two.Error?.Message).toContain('kms:Encrypt');
    const hosted = (await signedCall('ImportDataKey', { DataKeyName: 'bypass-root', ImportKeyMaterial: blob, ImportType: 1 })).DataKeyId as string;
    const read = await as('GetDataKeyPlaintext', { DataKeyId: hosted });
    expect(read.Error?.Code).toBe('AuthFailure.UnauthorizedOperation');
    expect(JSON.stringify(read)).not.toContain(secret);
    expect((await signedCall('ListDataKeyDetail', { KeyId: keyId })).TotalCount).toBe(1);
  });
});

describe('a signature-v1 request is accepted once, whatever others send meanwhile', () => {
  const v1 = async (creds: { secretId: string; secretKey: string }, params: Record<string, string>, o: { timestamp?: number; nonce?: number } = {}) => {
    const body = v1Form({ host: server.endpoint, ...creds, params: { Version: '2019-01-18', Region: 'ap-hongkong', ...params }, ...o });
    return { body, send: () => postForm(body) };
  };
  const postForm = async (body: string) => {
    const r = await fetch(`http://${server.endpoint}/`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body });
    return ((await r.json()) as { Response: { Error?: { Code: string } } }).Response;
  };

  it('a sub-account without permissions cannot flush the replay store: its own requests are bounded, a captured request stays refused', async () => {
    // The attack: a flood of validly signed v1 requests (refused by CAM, but recorded) evicted the
    // 200,000-entry cache in 95 s, after which a captured request replayed.
    const captured = await v1(ROOT, { Action: 'GenerateRandom', NumberOfBytes: '8' });
    expect((await captured.send()).Error).toBeUndefined();
    const s = server.services;
    await s.identities.createUser(ROOT.uin, 'flooder');
    const flooder = await s.identities.createCredential(ROOT.uin, 'flooder');
    const codes: string[] = [];
    for (let i = 0; i < V1_NONCE_LIMIT + 10; i++) codes.push((await (await v1(flooder, { Action: 'GenerateRandom', NumberOfBytes: '8' })).send()).Error?.Code ?? 'ok');
    expect(codes.slice(0, V1_NONCE_LIMIT).every((c) => c === 'AuthFailure.UnauthorizedOperation')).toBe(true);
    expect(codes.slice(V1_NONCE_LIMIT).every((c) => c === 'RequestLimitExceeded')).toBe(true);
    expect((await captured.send()).Error?.Code).toBe('AuthFailure.SignatureFailure');
    // Root's own v1 requests are not affected by the flooder's bound.
    expect((await (await v1(ROOT, { Action: 'GenerateRandom', NumberOfBytes: '8' })).send()).Error).toBeUndefined();
  });

  it('a request timestamped exactly 300 s ago is accepted once, not again in the same second', async () => {
    // Its entry expired at (ts + 300) · 1000 ms, the start of the last second it is accepted in.
    for (let attempt = 0; ; attempt++) {
      while (Date.now() % 1000 > 300) await new Promise((r) => setTimeout(r, 20));
      const timestamp = Math.floor(Date.now() / 1000) - 300;
      const edge = await v1(ROOT, { Action: 'GenerateRandom', NumberOfBytes: '8' }, { timestamp });
      expect((await edge.send()).Error).toBeUndefined();
      const replay = await edge.send();
      // Only a replay answered within the same second says anything (the next one is expired).
      if (Math.floor(Date.now() / 1000) - timestamp !== 300 && attempt < 5) continue;
      expect(replay.Error?.Code).toBe('AuthFailure.SignatureFailure');
      break;
    }
  });
});

describe('console sign-in attempts are counted before they are checked, per address and per user, and never cleared by another user', () => {
  /** One request to the console from a chosen loopback address (127.0.0.x): status, headers, body. */
  const consoleRequest = (o: { method: 'GET' | 'POST'; path: string; from: string; headers?: Record<string, string>; body?: string }) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
      const [host, port] = server.endpoint.split(':');
      const req = httpRequest({ host, port: Number(port), method: o.method, path: o.path, localAddress: o.from, headers: o.headers, agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(o.body);
    });
  /** A password sign-in as a browser makes it (the sign-in page first, for its form token): the answer's status. */
  const signIn = async (userName: string, password: string, from = '127.0.0.1') => {
    const page = await consoleRequest({ method: 'GET', path: '/console/login', from });
    const token = /hsmkms_console_login=([^;]+)/.exec(String(page.headers['set-cookie']))![1]!;
    const body = new URLSearchParams({ _login: token, account: '', userName, password }).toString();
    const r = await consoleRequest({
      method: 'POST',
      path: '/console/login/password',
      from,
      headers: { Cookie: `hsmkms_console_login=${token}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body,
    });
    return r.status;
  };
  const tally = (statuses: number[]) => ({
    checked: statuses.filter((s) => s === 401).length,
    throttled: statuses.filter((s) => s === 429).length,
    in: statuses.filter((s) => s === 303).length,
  });

  beforeAll(async () => {
    const passwords = new ConsolePasswords(new IdentityRepo(server.services.db));
    for (const name of ['victim', 'attacker']) {
      await server.services.identities.createUser(ROOT.uin, name);
      await passwords.set(ROOT.uin, name, `${name}-password-1234`);
    }
  });
  beforeEach(async () => {
    // Each test starts with no attempts counted (the table is the counters' only state).
    await server.services.db('sign_in_attempts').delete();
  });

  it('60 concurrent wrong passwords from one address: 10 are checked, the rest refused unchecked', async () => {
    const statuses = await Promise.all(Array.from({ length: 60 }, (_, i) => signIn('victim', `guess-${i}-xxxxxxxx`)));
    expect(tally(statuses)).toEqual({ checked: 10, throttled: 50, in: 0 });
  });

  it('the attacker’s own successful sign-in to another user does not clear the address’s count', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push(await signIn('victim', `guess-${i}-xxxxxxxx`));
    expect(await signIn('attacker', 'attacker-password-1234')).toBe(303);
    for (let i = 9; i < 14; i++) statuses.push(await signIn('victim', `guess-${i}-xxxxxxxx`));
    expect(tally(statuses)).toEqual({ checked: 10, throttled: 4, in: 0 });
  });

  it('a user’s own count stops guesses spread over several addresses', async () => {
    const statuses: number[] = [];
    for (const from of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) for (let i = 0; i < 8; i++) statuses.push(await signIn('victim', `guess-${from}-${i}`, from));
    expect(tally(statuses)).toEqual({ checked: 20, throttled: 4, in: 0 });
    // Another user from those addresses is not affected.
    expect(await signIn('attacker', 'attacker-password-1234', '127.0.0.5')).toBe(303);
  });
});

describe('a captured request cannot be turned into another action on the network', () => {
  // The SDKs' TC3 signature covers neither X-TC-Action nor X-TC-Region: on plain HTTP an on-path
  // attacker re-sent a captured Encrypt as DisableKey, ArchiveKey, RotateKey and
  // DeleteImportedKeyMaterial. TLS is the answer, as on Tencent Cloud.
  it('serve refuses plain HTTP on a non-loopback address without TLS, in one line; with TLS plain HTTP stays on the loopback', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'hsmkms-plain-'));
    try {
      const r = cli(['serve'], { PATH: process.env.PATH, KMS_DATA_DIR: dataDir, KMS_HOST: '0.0.0.0', KMS_PORT: '0' });
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('refusing to serve plain HTTP on 0.0.0.0:0');
      expect(r.stderr).toContain('KMS_ALLOW_PLAINTEXT_HTTP=1');
      expect(readdirSync(dataDir)).toEqual([]); // refused before anything was opened
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    const base = { port: 8080, tls: undefined, allowPlaintextHttp: false };
    for (const host of ['127.0.0.1', '127.8.9.1', 'localhost', '::1', '[::1]']) expect(plainHttpHost({ ...base, host })).toEqual({ host });
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'kms.example.com']) expect(() => plainHttpHost({ ...base, host })).toThrow(/refusing to serve plain HTTP/);
    expect(plainHttpHost({ ...base, host: '0.0.0.0', allowPlaintextHttp: true })).toEqual({ host: '0.0.0.0' });
    expect(plainHttpHost({ ...base, host: '0.0.0.0', tls: { certFile: 'c', keyFile: 'k', port: 8443 } }).host).toBe('127.0.0.1');
  });

  it('KMS_TC3_STRICT_SIGNED_HEADERS=1: a request that does not sign the action, region and version is refused; one that does cannot be turned into another', async () => {
    const env = SERVER_ENV;
    const keyId = (await signedCall('CreateKey', { Alias: 'strict-headers' })).KeyId as string;
    server = await server.restart({ ...env, KMS_TC3_STRICT_SIGNED_HEADERS: '1' });
    try {
      // The SDKs' form (content-type;host): refused before anything happens.
      const sdk = await signedCall('Encrypt', { KeyId: keyId, Plaintext: 'eA==' });
      expect(sdk.Error?.Code).toBe('AuthFailure.InvalidAuthorization');
      expect(sdk.Error?.Message).toContain('x-tc-action, x-tc-region, x-tc-version');
      // A client signing them: served, and its capture re-sent as DisableKey fails the signature.
      const body = JSON.stringify({ KeyId: keyId, Plaintext: 'eA==' });
      const headers = strictlySigned('Encrypt', body);
      const ok = await fetch(`http://${server.endpoint}/`, { method: 'POST', headers, body });
      expect(((await ok.json()) as { Response: { Error?: unknown } }).Response.Error).toBeUndefined();
      const swapped = await fetch(`http://${server.endpoint}/`, { method: 'POST', headers: { ...headers, 'X-TC-Action': 'DisableKey' }, body });
      expect(((await swapped.json()) as { Response: { Error?: { Code: string } } }).Response.Error?.Code).toBe('AuthFailure.SignatureFailure');
      expect((await signedCall('DescribeKey', { KeyId: keyId })).Error?.Code).toBe('AuthFailure.InvalidAuthorization');
    } finally {
      server = await server.restart(env);
    }
    expect(((await signedCall('DescribeKey', { KeyId: keyId })).KeyMetadata as { KeyState: string }).KeyState).toBe('Enabled');
  });

  /** TC3 headers signing x-tc-action, x-tc-region and x-tc-version too (values lower-cased, as the v3 doc canonicalises them). */
  function strictlySigned(action: string, body: string): Record<string, string> {
    const timestamp = Math.floor(Date.now() / 1000);
    const date = new Date(timestamp * 1000).toISOString().slice(0, 10);
    const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');
    const hmac = (key: string | Buffer, msg: string) => createHmac('sha256', key).update(msg).digest();
    const signed = 'content-type;host;x-tc-action;x-tc-region;x-tc-version';
    const canonicalHeaders = `content-type:application/json\nhost:${server.endpoint}\nx-tc-action:${action.toLowerCase()}\nx-tc-region:ap-hongkong\nx-tc-version:2019-01-18\n`;
    const canonical = ['POST', '/', '', canonicalHeaders, signed, sha256(body)].join('\n');
    const scope = `${date}/kms/tc3_request`;
    const key = hmac(hmac(hmac(`TC3${ROOT.secretKey}`, date), 'kms'), 'tc3_request');
    const signature = createHmac('sha256', key)
      .update(['TC3-HMAC-SHA256', String(timestamp), scope, sha256(canonical)].join('\n'))
      .digest('hex');
    return {
      'Content-Type': 'application/json',
      Authorization: `TC3-HMAC-SHA256 Credential=${ROOT.secretId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
      'X-TC-Timestamp': String(timestamp),
      'X-TC-Action': action,
      'X-TC-Region': 'ap-hongkong',
      'X-TC-Version': '2019-01-18',
    };
  }
});

describe('what the service keeps on the machine is its own', () => {
  it('/metrics answers only the bearer token when KMS_METRICS_TOKEN is set', async () => {
    const metrics = (authorization?: string) => fetch(`${server.url}/metrics`, { headers: authorization ? { Authorization: authorization } : {} });
    for (const wrong of [undefined, 'Bearer nope', `Basic ${METRICS_TOKEN}`, `Bearer ${METRICS_TOKEN}x`, `Bearer ${METRICS_TOKEN.slice(0, -1)}`]) {
      const r = await metrics(wrong);
      expect(r.status, String(wrong)).toBe(401);
      expect(r.headers.get('www-authenticate')).toContain('Bearer');
      expect(await r.text()).not.toContain('process_cpu');
    }
    const ok = await metrics(`Bearer ${METRICS_TOKEN}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('process_cpu');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200); // health stays open
  });

  it('the SQLite file and its WAL are readable by their owner only, and a wider existing file is narrowed', async () => {
    const file = server.config.sqliteFile;
    for (const f of [file, `${file}-wal`]) expect(statSync(f).mode & 0o777, f).toBe(0o600);
    const dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-mode-'));
    try {
      const wide = path.join(dir, 'old.sqlite');
      writeFileSync(wide, '', { mode: 0o644 });
      chmodSync(wide, 0o644);
      const db = openDatabase({ databaseUrl: undefined, sqliteFile: wide });
      await db.raw('select 1');
      await db.destroy();
      expect(statSync(wide).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
