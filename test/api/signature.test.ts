import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { kms as cnKms } from 'tencentcloud-sdk-nodejs/tencentcloud/services/kms/index.js';
import {
  type ApiRequestError,
  InvalidAuthorizationError,
  InvalidParameterError,
  InvalidParameterValueError,
  MissingParameterError,
  ReplayedRequestError,
  SignatureExpireError,
  SignatureFailureError,
  UnsupportedProtocolError,
} from '../../src/api/errors.js';
import { authenticateRequest, parseApiRequest, verifyRequest, verifySignature } from '../../src/api/wire/index.js';
import { NonceCache, v1NonceEntry } from '../../src/api/wire/replay.js';
import { unflattenParams, type ApiRequest, type RawApiRequest } from '../../src/api/wire/request.js';
import { errorEnvelope, successEnvelope } from '../../src/api/envelope.js';
import { DerivedKeyMemo } from '../../src/domain/identity.js';
import { startCaptureServer, type CaptureServer } from '../helpers/sdk-capture.js';

// Requests here are the bytes the official Node SDKs put on the wire (docs/contract/protocol.md#request-forms),
// captured by a local listener and then mutated; nothing is re-signed by this test except the
// doc-style client at the end, which the SDKs cannot imitate.

// The intl-en SDK ships no typings; this is the slice of it the tests drive.
interface IntlSdk {
  Credential: new (secretId: string, secretKey: string, token?: string) => object;
  HttpProfile: new () => { endpoint: string | null; protocol: string; reqMethod: string };
  ClientProfile: new (signMethod?: string, httpProfile?: object) => object;
  Client: new (credential: object, region: string, profile: object) => Record<string, (req: object, cb: (err: unknown, resp: unknown) => void) => void>;
  Models: Record<string, new () => object>;
}
const require = createRequire(import.meta.url);
const intl: IntlSdk = {
  ...require('tencentcloud-sdk-nodejs-intl-en/tencentcloud/common/index.js'),
  ...require('tencentcloud-sdk-nodejs-intl-en/tencentcloud/kms/index.js').v20190118,
};

const SECRET_ID = 'AKIDEXAMPLE000000000000000000000000';
const SECRET_KEY = 'EXAMPLEsecretKEY0000000000000000';
const REGION = 'ap-guangzhou';
const K1 = '23e80852-1e38-11e9-b129-5cb9019b4b01';
const K2 = '3a1f4e5d-6c7b-11ee-a8f2-525400a1b2c3';

type Sdk = 'cn' | 'intl';
type SignMethod = 'TC3-HMAC-SHA256' | 'HmacSHA256' | 'HmacSHA1';
type Action = 'DescribeKeys' | 'CreateKey' | 'ListKeyDetail';

// Arrays, arrays of objects, nested arrays, numbers, and text that needs escaping in a form.
const REQUESTS: Record<Action, Record<string, unknown>> = {
  DescribeKeys: { KeyIds: [K1, K2] },
  CreateKey: {
    Alias: 'payments-key',
    Description: 'a&b=c+d/e %f 中文',
    KeyUsage: 'ENCRYPT_DECRYPT',
    Type: 1,
    Tags: [
      { TagKey: 'team', TagValue: 'payments' },
      { TagKey: 'env', TagValue: 'prod' },
    ],
  },
  ListKeyDetail: {
    Offset: 0,
    Limit: 10,
    Role: 1,
    TagFilters: [{ TagKey: 'team', TagValue: ['payments', 'risk'] }],
  },
};

let server: CaptureServer;
let savedProxy: string | undefined;

beforeAll(async () => {
  // Both SDKs route through $http_proxy when it is set; these requests must reach the listener.
  savedProxy = process.env.http_proxy;
  delete process.env.http_proxy;
  server = await startCaptureServer();
});

afterAll(async () => {
  if (savedProxy !== undefined) process.env.http_proxy = savedProxy;
  await server.close();
});

interface CallOptions {
  token?: string;
  language?: 'zh-CN' | 'en-US';
}

function cnClient(signMethod: SignMethod, reqMethod: 'POST' | 'GET', options: CallOptions = {}) {
  return new cnKms.v20190118.Client({
    credential: { secretId: SECRET_ID, secretKey: SECRET_KEY, token: options.token },
    region: REGION,
    profile: {
      signMethod,
      language: options.language,
      httpProfile: { endpoint: server.endpoint, protocol: 'http://', reqMethod },
    },
  });
}

// signMethod undefined = the intl SDK's own default (HmacSHA256, v1).
function intlClient(signMethod: SignMethod | undefined, reqMethod: 'POST' | 'GET', options: CallOptions = {}) {
  const http = new intl.HttpProfile();
  http.endpoint = server.endpoint;
  http.protocol = 'http://';
  http.reqMethod = reqMethod;
  return new intl.Client(new intl.Credential(SECRET_ID, SECRET_KEY, options.token), REGION, new intl.ClientProfile(signMethod, http));
}

function callCn(signMethod: SignMethod, reqMethod: 'POST' | 'GET', action: Action, options: CallOptions = {}) {
  const client = cnClient(signMethod, reqMethod, options);
  // The typed methods take each action's own request type; the shared table is typed loosely.
  return (client[action] as (req: unknown) => Promise<unknown>).call(client, structuredClone(REQUESTS[action]));
}

function callIntl(signMethod: SignMethod | undefined, reqMethod: 'POST' | 'GET', action: Action, options: CallOptions = {}) {
  const client = intlClient(signMethod, reqMethod, options);
  const req = Object.assign(new intl.Models[`${action}Request`](), structuredClone(REQUESTS[action]));
  return new Promise((resolve, reject) => client[action](req, (err, resp) => (err ? reject(err) : resolve(resp))));
}

function send(sdk: Sdk, signMethod: SignMethod | undefined, reqMethod: 'POST' | 'GET', action: Action, options: CallOptions = {}) {
  return server.capture(() => (sdk === 'cn' ? callCn(signMethod ?? 'TC3-HMAC-SHA256', reqMethod, action, options) : callIntl(signMethod, reqMethod, action, options)));
}

// What flattening does to values: every leaf becomes text.
function asFormText(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asFormText);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asFormText(v)]));
  }
  return String(value);
}

function header(raw: RawApiRequest, name: string): string {
  return String(raw.headers[name.toLowerCase()]);
}

function withHeaders(raw: RawApiRequest, changes: Record<string, string | undefined>): RawApiRequest {
  const headers = { ...raw.headers };
  for (const [name, value] of Object.entries(changes)) headers[name.toLowerCase()] = value;
  return { ...raw, headers };
}

function withBody(raw: RawApiRequest, edit: (body: string) => string): RawApiRequest {
  const before = raw.rawBody.toString('utf8');
  const after = edit(before);
  expect(after).not.toBe(before);
  return { ...raw, rawBody: Buffer.from(after, 'utf8') };
}

function withUrl(raw: RawApiRequest, edit: (url: string) => string): RawApiRequest {
  const after = edit(raw.url);
  expect(after).not.toBe(raw.url);
  return { ...raw, url: after };
}

function nowFor(request: ApiRequest): number {
  return request.timestamp * 1000;
}

function expectRejected(fn: () => unknown, type: new (...args: never[]) => ApiRequestError, code: string): ApiRequestError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(type);
  const error = caught as ApiRequestError;
  expect(error.code).toBe(code);
  expect(error.message).not.toContain(SECRET_KEY);
  return error;
}

describe('requests signed by the official Node SDKs are accepted', () => {
  const matrix: Array<{ sdk: Sdk; signMethod: SignMethod | undefined; reqMethod: 'POST' | 'GET' }> = [
    { sdk: 'cn', signMethod: 'TC3-HMAC-SHA256', reqMethod: 'POST' },
    { sdk: 'cn', signMethod: 'TC3-HMAC-SHA256', reqMethod: 'GET' },
    { sdk: 'cn', signMethod: 'HmacSHA256', reqMethod: 'POST' },
    { sdk: 'cn', signMethod: 'HmacSHA1', reqMethod: 'POST' },
    { sdk: 'cn', signMethod: 'HmacSHA256', reqMethod: 'GET' },
    { sdk: 'cn', signMethod: 'HmacSHA1', reqMethod: 'GET' },
    { sdk: 'intl', signMethod: undefined, reqMethod: 'POST' },
    { sdk: 'intl', signMethod: 'HmacSHA1', reqMethod: 'POST' },
    { sdk: 'intl', signMethod: 'HmacSHA256', reqMethod: 'GET' },
    { sdk: 'intl', signMethod: 'TC3-HMAC-SHA256', reqMethod: 'POST' },
    { sdk: 'intl', signMethod: 'TC3-HMAC-SHA256', reqMethod: 'GET' },
  ];
  const actions: Action[] = ['DescribeKeys', 'CreateKey', 'ListKeyDetail'];

  for (const { sdk, signMethod, reqMethod } of matrix) {
    const version = signMethod === 'TC3-HMAC-SHA256' ? 'TC3' : (signMethod ?? 'HmacSHA256');
    for (const action of actions) {
      it(`${sdk} ${signMethod ?? 'default'} ${reqMethod} ${action}`, async () => {
        const raw = await send(sdk, signMethod, reqMethod, action);
        expect(raw.method).toBe(reqMethod);
        const request = parseApiRequest(raw);

        expect(request.signatureVersion).toBe(version);
        expect(request.action).toBe(action);
        expect(request.version).toBe('2019-01-18');
        expect(request.region).toBe(REGION);
        expect(request.secretId).toBe(SECRET_ID);
        expect(request.token).toBeUndefined();
        expect(request.requestClient).toMatch(/^SDK_NODEJS_/);
        expect(request.traceId).toMatch(/^[0-9a-f-]{36}$/);
        expect(Math.abs(request.timestamp - Date.now() / 1000)).toBeLessThan(60);
        // Only TC3 POST keeps JSON types; the flattened forms carry text (docs/contract/protocol.md#request-forms).
        const jsonBody = version === 'TC3' && reqMethod === 'POST';
        expect(request.params).toEqual(jsonBody ? REQUESTS[action] : asFormText(REQUESTS[action]));

        if (request.proof.kind === 'TC3') {
          // Node SDKs derive the scope service from the endpoint's first label.
          expect(request.proof.service).toBe('127');
          expect(request.nonce).toBeUndefined();
        } else {
          expect(request.nonce).toMatch(/^\d+$/);
          // intl-en always sends Language=en-US with v1; the CN SDK only when configured.
          expect(request.language).toBe(sdk === 'intl' ? 'en-US' : undefined);
        }

        expect(verifySignature(request, SECRET_KEY)).toBe(true);
        expect(verifySignature(request, Buffer.from(SECRET_KEY))).toBe(true);
        expect(verifySignature(request, 'EXAMPLEsecretKEY0000000000000001')).toBe(false);
        await expect(authenticateRequest(request, SECRET_KEY, new NonceCache())).resolves.toBeUndefined();
      });
    }
  }

  it('carries the session token and language of temporary credentials (TC3 and v1)', async () => {
    const options: CallOptions = { token: 'sts-session-token-abc', language: 'en-US' };
    for (const signMethod of ['TC3-HMAC-SHA256', 'HmacSHA256'] as const) {
      const request = parseApiRequest(await send('cn', signMethod, 'POST', 'DescribeKeys', options));
      expect(request.token).toBe('sts-session-token-abc');
      expect(request.language).toBe('en-US');
      expect(verifySignature(request, SECRET_KEY)).toBe(true);
    }
    const intlRequest = parseApiRequest(await send('intl', 'HmacSHA1', 'POST', 'DescribeKeys', { token: 'sts-x' }));
    expect(intlRequest.token).toBe('sts-x');
    expect(verifySignature(intlRequest, SECRET_KEY)).toBe(true);
  });

  it('a client without a region yields no region (intl-en TC3 sends the text `null`)', async () => {
    const http = new intl.HttpProfile();
    http.endpoint = server.endpoint;
    http.protocol = 'http://';
    const client = new intl.Client(new intl.Credential(SECRET_ID, SECRET_KEY), '', new intl.ClientProfile('TC3-HMAC-SHA256', http));
    const raw = await server.capture(() => new Promise((resolve, reject) => client.DescribeKeys({}, (err, resp) => (err ? reject(err) : resolve(resp)))));
    expect(header(raw, 'x-tc-region')).toBe('null');
    const request = parseApiRequest(raw);
    expect(request.region).toBeUndefined();
    expect(request.params).toEqual({});
    expect(verifySignature(request, SECRET_KEY)).toBe(true);

    const cn = new cnKms.v20190118.Client({
      credential: { secretId: SECRET_ID, secretKey: SECRET_KEY },
      profile: { signMethod: 'HmacSHA1', httpProfile: { endpoint: server.endpoint, protocol: 'http://' } },
    });
    const v1 = parseApiRequest(await server.capture(() => cn.DescribeKeys({ KeyIds: [K1] })));
    expect(v1.region).toBeUndefined();
    expect(verifySignature(v1, SECRET_KEY)).toBe(true);
  });

  it('answers the SDKs with an envelope they read as a Tencent error (both SDKs)', async () => {
    server.failNext('ResourceUnavailable.CmkNotFound', 'The CMK does not exist.');
    const cnError = await callCn('TC3-HMAC-SHA256', 'POST', 'DescribeKeys').catch((e: unknown) => e);
    expect(cnError).toMatchObject({ code: 'ResourceUnavailable.CmkNotFound', message: 'The CMK does not exist.' });
    expect((cnError as { requestId: string }).requestId).toMatch(/^[0-9a-f-]{36}$/);

    server.failNext('AuthFailure.SignatureFailure', 'The provided credentials could not be validated.');
    const intlError = await callIntl(undefined, 'POST', 'DescribeKeys').catch((e: unknown) => e);
    expect(intlError).toMatchObject({ code: 'AuthFailure.SignatureFailure' });
  });
});

describe('TC3-HMAC-SHA256 rejections', () => {
  let post: RawApiRequest;
  let get: RawApiRequest;
  beforeAll(async () => {
    post = await send('cn', 'TC3-HMAC-SHA256', 'POST', 'DescribeKeys');
    get = await send('cn', 'TC3-HMAC-SHA256', 'GET', 'ListKeyDetail');
  });

  it('a wrong secret key fails with AuthFailure.SignatureFailure', () => {
    const request = parseApiRequest(post);
    expectRejected(() => verifyRequest(request, 'not-the-key', nowFor(request)), SignatureFailureError, 'AuthFailure.SignatureFailure');
  });

  it('a signing key kept between requests (DerivedKeyMemo) verifies exactly as a fresh derivation, per scope, bounded, wiped', () => {
    const derived = new DerivedKeyMemo();
    const good = parseApiRequest(post);
    const tampered = parseApiRequest(withBody(post, (body) => body.replace(K2, K1)));
    for (let i = 0; i < 3; i++) {
      expect(verifySignature(good, SECRET_KEY, derived)).toBe(true);
      expect(verifySignature(tampered, SECRET_KEY, derived)).toBe(false);
    }
    const { date, service } = good.proof as { date: string; service: string };
    const kept = derived.get(`tc3/${date}/${service}`)!;
    // The kept key is the one docs/contract/protocol.md#tc3 derives (checked with node:crypto directly).
    const h = (k: Buffer | string, m: string) => createHmac('sha256', k).update(m).digest();
    expect(kept).toEqual(h(h(h(`TC3${SECRET_KEY}`, date), service), 'tc3_request'));
    // Other scopes only add entries, at most four: the memo is wiped when a fifth comes.
    for (const other4 of ['a', 'b', 'c', 'd']) {
      const other = { ...good, proof: { ...(good.proof as object), service: other4 } } as typeof good;
      expect(verifySignature(other, SECRET_KEY, derived)).toBe(false);
    }
    expect(kept.equals(Buffer.alloc(32))).toBe(true);
    expect(derived.get(`tc3/${date}/${service}`)).toBeUndefined();
    // Once the secret has left the cache, the memo keeps nothing more (the caller wipes its key).
    expect(verifySignature(good, SECRET_KEY, derived)).toBe(true);
    const again = derived.get(`tc3/${date}/${service}`)!;
    derived.wipe();
    expect(again.equals(Buffer.alloc(32))).toBe(true);
    expect(derived.keep('x', Buffer.from('k'))).toBe(false);
    expect(verifySignature(good, SECRET_KEY, derived)).toBe(true);
    expect(derived.get(`tc3/${date}/${service}`)).toBeUndefined();
  });

  it('the body is signed', () => {
    const tampered = parseApiRequest(withBody(post, (body) => body.replace(K2, K1)));
    expect(tampered.params).toEqual({ KeyIds: [K1, K1] });
    expect(verifySignature(tampered, SECRET_KEY)).toBe(false);
  });

  it('the GET query string is signed as received', () => {
    expect(verifySignature(parseApiRequest(withUrl(get, (u) => u.replace('Limit=10', 'Limit=11'))), SECRET_KEY)).toBe(false);
    // Same parameters, different order: the canonical query string is the raw one.
    const reordered = withUrl(get, (u) => {
      const [path, query] = u.split('?');
      return `${path}?${query.split('&').reverse().join('&')}`;
    });
    expect(parseApiRequest(reordered).params).toEqual(parseApiRequest(get).params);
    expect(verifySignature(parseApiRequest(reordered), SECRET_KEY)).toBe(false);
  });

  it('Host, Content-Type, X-TC-Timestamp and the method are signed', () => {
    const port = server.endpoint.split(':')[1];
    for (const raw of [
      withHeaders(post, { host: `127.0.0.2:${port}` }),
      withHeaders(post, { 'content-type': 'application/json; charset=utf-8' }),
      withHeaders(post, { 'x-tc-timestamp': String(Number(header(post, 'x-tc-timestamp')) + 1) }),
      { ...get, method: 'POST', headers: { ...get.headers, 'content-type': 'application/json' }, rawBody: Buffer.from('{}') },
    ]) {
      expect(verifySignature(parseApiRequest(raw), SECRET_KEY)).toBe(false);
    }
  });

  it('X-TC-Action, X-TC-Version and X-TC-Region are NOT covered by SDK signatures (SignedHeaders=content-type;host)', () => {
    // A property of the Tencent protocol, not of this verifier: only TLS protects these headers.
    const request = parseApiRequest(withHeaders(post, { 'x-tc-action': 'DisableKeys', 'x-tc-region': 'ap-beijing' }));
    expect(request.action).toBe('DisableKeys');
    expect(verifySignature(request, SECRET_KEY)).toBe(true);
  });

  it('a timestamp more than 300 s from server time fails with AuthFailure.SignatureExpire', () => {
    const request = parseApiRequest(post);
    const at = (seconds: number) => () => verifyRequest(request, SECRET_KEY, (request.timestamp + seconds) * 1000);
    expect(at(300)).not.toThrow();
    expect(at(-300)).not.toThrow();
    expectRejected(at(301), SignatureExpireError, 'AuthFailure.SignatureExpire');
    expectRejected(at(-301), SignatureExpireError, 'AuthFailure.SignatureExpire');
  });

  it('the credential-scope date must be the UTC date of X-TC-Timestamp', () => {
    const nextDay = withHeaders(post, { 'x-tc-timestamp': String(Number(header(post, 'x-tc-timestamp')) + 86_400) });
    expectRejected(() => parseApiRequest(nextDay), SignatureFailureError, 'AuthFailure.SignatureFailure');
  });

  it('a scope service that is neither kms-like nor the Host label is InvalidAuthorization', () => {
    const otherService = withHeaders(post, { authorization: header(post, 'authorization').replace('/127/', '/cvm/') });
    const error = expectRejected(() => parseApiRequest(otherService), InvalidAuthorizationError, 'AuthFailure.InvalidAuthorization');
    expect(error.message).toContain('`Service` in Credential not valid');
    // Go and Python always sign service `kms` (with host:port as sent).
    const asGo = withHeaders(post, { authorization: header(post, 'authorization').replace('/127/', '/kms/') });
    expect(parseApiRequest(asGo).proof).toMatchObject({ service: 'kms' });
  });

  it('the SDK form of Authorization and other spellings of it read the same and verify alike', () => {
    // The SDKs' exact form is read by one expression, any other spelling by the general reading:
    // both must give the same scope and signature, and the same verdict.
    const sent = header(post, 'authorization');
    const m = /^TC3-HMAC-SHA256 Credential=(\S+), SignedHeaders=(\S+), Signature=([0-9a-f]{64})$/.exec(sent)!;
    expect(m).not.toBeNull();
    const [, credential, signed, signature] = m;
    const spellings = [
      sent,
      `TC3-HMAC-SHA256 Credential=${credential},SignedHeaders=${signed},Signature=${signature}`,
      `TC3-HMAC-SHA256 Signature=${signature}, Credential=${credential}, SignedHeaders=${signed}`,
      `TC3-HMAC-SHA256 Credential = ${credential} , SignedHeaders=${signed}, Signature=${signature} `,
      `TC3-HMAC-SHA256 Credential=${credential}, SignedHeaders=${signed}, Signature=${signature}, Extra=1`,
      `TC3-HMAC-SHA256 Credential=${credential}, SignedHeaders=${signed.split(';').reverse().join(';')}, Signature=${signature}`,
    ];
    const reference = parseApiRequest(post);
    for (const value of spellings) {
      const request = parseApiRequest(withHeaders(post, { authorization: value }));
      expect(request.secretId).toBe(reference.secretId);
      expect(request.proof).toMatchObject({ kind: 'TC3', date: (reference.proof as { date: string }).date, service: (reference.proof as { service: string }).service, signature });
      const verdict = () => verifyRequest(request, SECRET_KEY, nowFor(request));
      // Reordered SignedHeaders change the canonical request: the SDK's signature no longer holds.
      if (value.includes(signed.split(';').reverse().join(';')) && signed.includes(';')) expectRejected(verdict, SignatureFailureError, 'AuthFailure.SignatureFailure');
      else expect(verdict).not.toThrow();
      expect(() => verifyRequest(request, 'not-the-key', nowFor(request))).toThrow(SignatureFailureError);
    }
  });

  it('a missing Authorization header is MissingParameter; SKIP or another scheme is InvalidAuthorization', () => {
    const missing = expectRejected(() => parseApiRequest(withHeaders(post, { authorization: undefined })), MissingParameterError, 'MissingParameter');
    expect((missing as MissingParameterError).parameter).toBe('Authorization');
    for (const value of [
      'SKIP',
      'HmacSHA256 whatever',
      'TC3-HMAC-SHA256 Credential=AKID/2023-11-14/kms/tc3_request, SignedHeaders=content-type;host',
      `TC3-HMAC-SHA256 Credential=${SECRET_ID}/2023-11-14/kms, SignedHeaders=content-type;host, Signature=${'a'.repeat(64)}`,
      `TC3-HMAC-SHA256 Credential=${SECRET_ID}/2023-11-14/kms/tc3_request, SignedHeaders=host, Signature=${'a'.repeat(64)}`,
      `TC3-HMAC-SHA256 Credential=${SECRET_ID}/2023-11-14/kms/tc3_request, SignedHeaders=content-type;host, Signature=${'A'.repeat(64)}`,
    ]) {
      expectRejected(() => parseApiRequest(withHeaders(post, { authorization: value })), InvalidAuthorizationError, 'AuthFailure.InvalidAuthorization');
    }
  });

  it('missing X-TC-Action / X-TC-Version / X-TC-Timestamp are MissingParameter', () => {
    for (const name of ['X-TC-Action', 'X-TC-Version', 'X-TC-Timestamp']) {
      const error = expectRejected(() => parseApiRequest(withHeaders(post, { [name]: undefined })), MissingParameterError, 'MissingParameter');
      expect(error.message).toContain(name);
    }
    expectRejected(() => parseApiRequest(withHeaders(post, { 'x-tc-timestamp': '17e8' })), InvalidParameterValueError, 'InvalidParameterValue');
  });

  it('malformed JSON or a non-object body is InvalidParameter', () => {
    for (const body of ['{"KeyIds":', '["a"]', 'null', '\u00ff']) {
      expectRejected(() => parseApiRequest({ ...post, rawBody: Buffer.from(body, body === '\u00ff' ? 'latin1' : 'utf8') }), InvalidParameterError, 'InvalidParameter');
    }
  });

  it('a POST that is neither JSON nor form-encoded is UnsupportedProtocol, as is a method other than GET/POST', () => {
    for (const type of ['text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']) {
      expectRejected(() => parseApiRequest(withHeaders(post, { 'content-type': type })), UnsupportedProtocolError, 'UnsupportedProtocol');
    }
    expectRejected(() => parseApiRequest({ ...post, method: 'PUT' }), UnsupportedProtocolError, 'UnsupportedProtocol');
  });

  it('unsigned payloads (X-TC-Content-SHA256: UNSIGNED-PAYLOAD) are refused', () => {
    expectRejected(() => parseApiRequest(withHeaders(post, { 'x-tc-content-sha256': 'UNSIGNED-PAYLOAD' })), SignatureFailureError, 'AuthFailure.SignatureFailure');
  });

  it('error messages never echo the signature', () => {
    const signature = header(post, 'authorization').split('Signature=')[1];
    const request = parseApiRequest(withBody(post, (b) => b.replace(K1, K2)));
    const error = expectRejected(() => verifyRequest(request, SECRET_KEY, nowFor(request)), SignatureFailureError, 'AuthFailure.SignatureFailure');
    expect(error.message).not.toContain(signature);
  });
});

describe('signature v1 (HmacSHA1 / HmacSHA256) rejections', () => {
  let post: RawApiRequest;
  let get: RawApiRequest;
  beforeAll(async () => {
    post = await send('intl', undefined, 'POST', 'CreateKey');
    get = await send('cn', 'HmacSHA1', 'GET', 'DescribeKeys');
  });

  it('a wrong secret key fails with AuthFailure.SignatureFailure', () => {
    const request = parseApiRequest(post);
    expect(verifySignature(request, 'not-the-key')).toBe(false);
    expectRejected(() => verifyRequest(request, 'not-the-key', nowFor(request)), SignatureFailureError, 'AuthFailure.SignatureFailure');
  });

  it('every parameter, common or business, is signed', () => {
    for (const edit of [
      (b: string) => b.replace('Region=ap-guangzhou', 'Region=ap-beijing'),
      (b: string) => b.replace('Action=CreateKey', 'Action=DisableKey'),
      (b: string) => b.replace('Tags.0.TagValue=payments', 'Tags.0.TagValue=paymentz'),
      (b: string) => b.replace('Language=en-US', 'Language=zh-CN'),
      (b: string) => `${b}&Extra=1`,
    ]) {
      expect(verifySignature(parseApiRequest(withBody(post, edit)), SECRET_KEY)).toBe(false);
    }
    expect(verifySignature(parseApiRequest(withUrl(get, (u) => u.replace(`KeyIds.1=${K2}`, `KeyIds.1=${K1}`))), SECRET_KEY)).toBe(false);
  });

  it('the method and the Host (with port) are part of the string to sign', () => {
    const asPost: RawApiRequest = {
      method: 'POST',
      url: '/',
      headers: { ...get.headers, 'content-type': 'application/x-www-form-urlencoded' },
      rawBody: Buffer.from(get.url.split('?')[1]),
    };
    expect(verifySignature(parseApiRequest(asPost), SECRET_KEY)).toBe(false);
    const noPort = withHeaders(get, { host: '127.0.0.1' });
    expect(verifySignature(parseApiRequest(noPort), SECRET_KEY)).toBe(false);
  });

  it('a repeated request within the window is rejected as a replay, up to the window’s last accepted instant', async () => {
    const request = parseApiRequest(post);
    const cache = new NonceCache();
    const now = nowFor(request);
    await authenticateRequest(request, SECRET_KEY, cache, now);
    const again = (at: number) => authenticateRequest(parseApiRequest(post), SECRET_KEY, cache, at);
    for (const at of [now + 1000, (request.timestamp + 300) * 1000, (request.timestamp + 300) * 1000 + 999]) {
      const error = await again(at).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, `at ts + ${at / 1000 - request.timestamp} s`).toBeInstanceOf(ReplayedRequestError);
      expect((error as ReplayedRequestError).code).toBe('AuthFailure.SignatureFailure');
    }
    // A forged copy must not burn the nonce: recording happens only after the signature holds.
    const fresh = new NonceCache();
    await expect(authenticateRequest(request, 'not-the-key', fresh, now)).rejects.toThrow(SignatureFailureError);
    expect(fresh.size).toBe(0);
    await expect(authenticateRequest(request, SECRET_KEY, fresh, now)).resolves.toBeUndefined();
  });

  it('a timestamp more than 300 s from server time fails with AuthFailure.SignatureExpire', () => {
    const request = parseApiRequest(get);
    expectRejected(() => verifyRequest(request, SECRET_KEY, (request.timestamp + 301) * 1000), SignatureExpireError, 'AuthFailure.SignatureExpire');
  });

  it('missing Signature or other common fields are MissingParameter', () => {
    for (const name of ['Signature', 'Action', 'Version', 'Timestamp', 'Nonce', 'SecretId']) {
      const stripped = withBody(post, (b) =>
        b
          .split('&')
          .filter((pair) => !pair.startsWith(`${name}=`))
          .join('&'),
      );
      const error = expectRejected(() => parseApiRequest(stripped), MissingParameterError, 'MissingParameter');
      expect((error as MissingParameterError).parameter).toBe(name);
    }
  });

  it('malformed form data is InvalidParameter; an unknown SignatureMethod is InvalidParameterValue', () => {
    for (const edit of [(b: string) => `${b}&Broken`, (b: string) => `${b}&X=%zz`, (b: string) => `${b}&Region=ap-beijing`, (b: string) => `${b}&KeyIds.1=x`]) {
      expectRejected(() => parseApiRequest(withBody(post, edit)), InvalidParameterError, 'InvalidParameter');
    }
    expectRejected(
      () => parseApiRequest(withBody(post, (b) => b.replace('SignatureMethod=HmacSHA256', 'SignatureMethod=HmacMD5'))),
      InvalidParameterValueError,
      'InvalidParameterValue',
    );
  });

  it('a POST with an unsupported Content-Type is UnsupportedProtocol', () => {
    expectRejected(() => parseApiRequest(withHeaders(post, { 'content-type': 'application/xml' })), UnsupportedProtocolError, 'UnsupportedProtocol');
  });

  it('decoded values, not their escapes, are signed (space, +, &, =, /, %, non-ASCII)', () => {
    const request = parseApiRequest(post);
    expect(request.params).toMatchObject({ Description: 'a&b=c+d/e %f 中文' });
    expect(request.proof).toMatchObject({ kind: 'HmacSHA256' });
    if (request.proof.kind === 'TC3') throw new Error('unreachable');
    expect(request.proof.stringToSign).toContain('Description=a&b=c+d/e %f 中文&');
    // Go writes spaces as `+`; the same decoded value must verify.
    const plusSpaces = withBody(post, (b) => b.replace(/%20/g, '+'));
    expect(verifySignature(parseApiRequest(plusSpaces), SECRET_KEY)).toBe(true);
  });
});

describe('known-answer vectors (docs/contract/protocol.md#tc3, docs/contract/protocol.md#v1)', () => {
  const body = `{"KeyId":"${K1}","Plaintext":"aGVsbG8gd29ybGQ="}`;
  const tc3 = (host: string, service: string, signature: string, method = 'POST'): RawApiRequest => ({
    method,
    url: method === 'GET' ? `/?KeyId=${K1}&Plaintext=aGVsbG8gd29ybGQ%3D` : '/',
    headers: {
      host,
      'content-type': method === 'GET' ? 'application/x-www-form-urlencoded' : 'application/json',
      'x-tc-action': 'Encrypt',
      'x-tc-version': '2019-01-18',
      'x-tc-timestamp': '1700000000',
      'x-tc-region': REGION,
      authorization: `TC3-HMAC-SHA256 Credential=${SECRET_ID}/2023-11-14/${service}/tc3_request, SignedHeaders=content-type;host, Signature=${signature}`,
    },
    rawBody: Buffer.from(method === 'GET' ? '' : body),
  });

  it.each([
    ['kms.tencentcloudapi.com', 'kms', '89af9c23f9ee13a48d7435b653ac3b9f6d417b9ee04d2d4e0fd1eff209145fd0'],
    ['kms.internal.example:8443', 'kms', '57ade370100a7f9798b74d2fefbb473f86574cce33755812abc9223ea0090a3a'],
    ['kms.internal.example:8443', 'kms', '47fa6fbc08427e39cb4d46df08680c702c2c4988568b0f35f5323764788cf87a'],
    ['127.0.0.1:8080', '127', '5c4d6366d8f144ad4881ff7f6d8cb7065986e2e0cf1b1e3de78a7a3ace7a4f70'],
    ['127.0.0.1:8080', 'kms', '93c2714c9f8ffb8b772f7f3ee4a67601a88dd99856ddb08d2df8cd7cd577d42b'],
  ])('TC3 POST Host %s service %s', (host, service, signature) => {
    const request = parseApiRequest(tc3(host, service, signature));
    expect(request.params).toEqual({ KeyId: K1, Plaintext: 'aGVsbG8gd29ybGQ=' });
    expect(verifySignature(request, SECRET_KEY)).toBe(true);
    expect(verifySignature(request, SECRET_KEY.toLowerCase())).toBe(false);
  });

  it('TC3 GET', () => {
    const request = parseApiRequest(tc3('kms.tencentcloudapi.com', 'kms', 'fea7f0fb7929e5ab91eaf7fc6662918ed9bb2433642b745a9f1b8e512364b1cd', 'GET'));
    expect(request.params).toEqual({ KeyId: K1, Plaintext: 'aGVsbG8gd29ybGQ=' });
    expect(verifySignature(request, SECRET_KEY)).toBe(true);
  });

  it.each([
    ['HmacSHA256', 'En1ybrqFy/DzZxBP+4O2PUwOIKY9zPjmA0BZEiH+hZk='],
    ['HmacSHA1', 'qRfTddrDyZpMtno0WwZvbkukOY0='],
  ])('v1 %s', (method, signature) => {
    const fields = {
      Action: 'Encrypt',
      KeyId: K1,
      Nonce: '11886',
      Plaintext: 'aGVsbG8gd29ybGQ=',
      Region: REGION,
      SecretId: SECRET_ID,
      SignatureMethod: method,
      Timestamp: '1700000000',
      Version: '2019-01-18',
      Signature: signature,
    };
    const request = parseApiRequest({
      method: 'POST',
      url: '/',
      headers: { host: 'kms.tencentcloudapi.com', 'content-type': 'application/x-www-form-urlencoded' },
      rawBody: Buffer.from(new URLSearchParams(fields).toString()),
    });
    expect(request.signatureVersion).toBe(method);
    expect(request.params).toEqual({ KeyId: K1, Plaintext: 'aGVsbG8gd29ybGQ=' });
    expect(verifySignature(request, SECRET_KEY)).toBe(true);
  });
});

describe('clients that sign more headers than the SDKs (signature v3 doc example)', () => {
  // The doc's own example signs x-tc-action with its value lower-cased; header values are
  // canonicalised lower-case and trimmed. Signed here by an independent copy of the doc steps.
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
  const mac = (key: string | Buffer, msg: string) => createHmac('sha256', key).update(msg).digest();

  function docSigned(action: string): RawApiRequest {
    const body = JSON.stringify({ KeyIds: [K1] });
    const timestamp = 1700000000;
    const canonical = [
      'POST',
      '/',
      '',
      `content-type:application/json; charset=utf-8\nhost:kms.tencentcloudapi.com\nx-tc-action:${action.toLowerCase()}\n`,
      'content-type;host;x-tc-action',
      sha256(body),
    ].join('\n');
    const scope = '2023-11-14/kms/tc3_request';
    const toSign = ['TC3-HMAC-SHA256', String(timestamp), scope, sha256(canonical)].join('\n');
    const key = mac(mac(mac(`TC3${SECRET_KEY}`, '2023-11-14'), 'kms'), 'tc3_request');
    const signature = createHmac('sha256', key).update(toSign).digest('hex');
    return {
      method: 'POST',
      url: '/',
      headers: {
        Host: 'kms.tencentcloudapi.com',
        'Content-Type': 'application/json; charset=utf-8',
        'X-TC-Action': action,
        'X-TC-Version': '2019-01-18',
        'X-TC-Timestamp': String(timestamp),
        Authorization: `TC3-HMAC-SHA256 Credential=${SECRET_ID}/${scope}, SignedHeaders=content-type;host;x-tc-action, Signature=${signature}`,
      },
      rawBody: Buffer.from(body),
    };
  }

  it('verifies, and then X-TC-Action is covered', () => {
    const raw = docSigned('DescribeKeys');
    expect(verifySignature(parseApiRequest(raw), SECRET_KEY)).toBe(true);
    expect(verifySignature(parseApiRequest(withHeaders(raw, { 'X-TC-Action': 'DisableKeys' })), SECRET_KEY)).toBe(false);
  });

  it('the strict mode refuses a request that does not sign every required header, naming the missing ones', () => {
    const strict = { requiredSignedHeaders: ['x-tc-action', 'x-tc-region', 'x-tc-version'] };
    const error = expectRejected(() => parseApiRequest(docSigned('DescribeKeys'), strict), InvalidAuthorizationError, 'AuthFailure.InvalidAuthorization');
    expect(error.message).toContain('x-tc-region, x-tc-version');
    expect(error.message).not.toContain('x-tc-action');
    expect(parseApiRequest(docSigned('DescribeKeys'), { requiredSignedHeaders: ['x-tc-action'] }).action).toBe('DescribeKeys');
  });
});

describe('NonceCache (one process’s v1 replay store)', () => {
  const entry = (nonce: string, timestamp = 1700000000, signature = 'sig', secretId = SECRET_ID) =>
    v1NonceEntry({ secretId, timestamp, nonce, proof: { kind: 'HmacSHA256' as const, stringToSign: '', signature } });
  const t0 = 1700000000 * 1000;

  it('reports a replay for as long as the timestamp is accepted: through the window’s last second', () => {
    const cache = new NonceCache();
    expect(cache.recordNow(entry('1'), t0)).toBe('first');
    expect(cache.recordNow(entry('1'), t0 + 300_000 - 1)).toBe('replayed');
    // floor(now/1000) − ts = 300 is still inside the window (assertTimestampFresh): still a replay.
    expect(cache.recordNow(entry('1'), t0 + 300_000)).toBe('replayed');
    expect(cache.recordNow(entry('1'), t0 + 300_999)).toBe('replayed');
    expect(cache.recordNow(entry('1'), t0 + 301_000)).toBe('first');
  });

  it('tells apart requests that share a nonce but not their signed content', () => {
    const cache = new NonceCache();
    expect(cache.recordNow(entry('7', 1700000000, 'a'), t0)).toBe('first');
    expect(cache.recordNow(entry('7', 1700000001, 'b'), t0)).toBe('first');
    expect(cache.recordNow(entry('7', 1700000000, 'c'), t0)).toBe('first');
    expect(cache.recordNow(entry('7', 1700000000, 'a', 'AKIDother'), t0)).toBe('first');
  });

  it('never drops an unexpired entry: when full it refuses new requests, and replays stay refused', () => {
    const cache = new NonceCache(3);
    for (const nonce of ['1', '2', '3']) expect(cache.recordNow(entry(nonce), t0)).toBe('first');
    expect(cache.recordNow(entry('4'), t0)).toBe('full');
    expect(cache.size).toBe(3);
    for (const nonce of ['1', '2', '3']) expect(cache.recordNow(entry(nonce), t0 + 1000)).toBe('replayed');
    // Once they expire, there is room again.
    expect(cache.recordNow(entry('4'), t0 + 301_000)).toBe('first');
  });

  it('bounds each SecretId: one that fills its share leaves the others unaffected', () => {
    const cache = new NonceCache(100, 2);
    expect(cache.recordNow(entry('1', 1700000000, 'a', 'AKIDflood'), t0)).toBe('first');
    expect(cache.recordNow(entry('2', 1700000000, 'b', 'AKIDflood'), t0)).toBe('first');
    expect(cache.recordNow(entry('3', 1700000000, 'c', 'AKIDflood'), t0)).toBe('full');
    expect(cache.recordNow(entry('1'), t0)).toBe('first');
    expect(cache.recordNow(entry('1'), t0)).toBe('replayed');
  });
});

describe('unflattenParams', () => {
  it('rebuilds arrays, objects and arrays of objects from the SDK flattening', () => {
    expect(
      unflattenParams({
        'KeyIds.0': 'a',
        'KeyIds.1': 'b',
        'Tags.0.TagKey': 'k',
        'Tags.0.TagValue': 'v',
        'TagFilters.0.TagValue.1': 'y',
        'TagFilters.0.TagValue.0': 'x',
        'MemberAccount.MemberUin': '1',
        Limit: '10',
      }),
    ).toEqual({
      KeyIds: ['a', 'b'],
      Tags: [{ TagKey: 'k', TagValue: 'v' }],
      TagFilters: [{ TagValue: ['x', 'y'] }],
      MemberAccount: { MemberUin: '1' },
      Limit: '10',
    });
  });

  it('orders indices numerically (KeyIds.10 sorts before KeyIds.2 on the wire)', () => {
    const flat = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`KeyIds.${i}`, `k${i}`]).sort());
    expect(unflattenParams(flat)).toEqual({ KeyIds: Array.from({ length: 12 }, (_, i) => `k${i}`) });
  });

  it.each([
    [{ 'KeyIds.1': 'b' }],
    [{ 'KeyIds.0': 'a', 'KeyIds.2': 'c' }],
    [{ 'KeyIds.00': 'a' }],
    [{ 'Tags.0': 'x', 'Tags.0.TagKey': 'k' }],
    [{ KeyIds: 'x', 'KeyIds.0': 'a' }],
    [{ 'A.0': 'x', 'A.b': 'y' }],
    [{ 'A..B': 'x' }],
    [{ 'A.': 'x' }],
  ])('rejects ambiguous or lossy input %j with InvalidParameter', (flat) => {
    expectRejected(() => unflattenParams(flat), InvalidParameterError, 'InvalidParameter');
  });
});

describe('envelope', () => {
  it('puts RequestId last so fields cannot override it', () => {
    expect(successEnvelope({ KeyId: K1, RequestId: 'forged' }, 'req-1')).toEqual({ Response: { KeyId: K1, RequestId: 'req-1' } });
    expect(errorEnvelope('MissingParameter', 'm', 'req-2')).toEqual({
      Response: { Error: { Code: 'MissingParameter', Message: 'm' }, RequestId: 'req-2' },
    });
  });
});
