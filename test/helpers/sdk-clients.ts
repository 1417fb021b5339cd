import { createRequire } from 'node:module';
import { kms as cnKms } from 'tencentcloud-sdk-nodejs/tencentcloud/services/kms/index.js';

// The official Tencent Cloud Node SDKs, unmodified, pointed at a test server. Both route
// through $http_proxy when set, so callers clear it (see clearProxy).

export type SignMethod = 'TC3-HMAC-SHA256' | 'HmacSHA256' | 'HmacSHA1';
export type ReqMethod = 'POST' | 'GET';

export interface ClientOptions {
  endpoint: string;
  secretId: string;
  secretKey: string;
  region?: string;
  signMethod?: SignMethod;
  reqMethod?: ReqMethod;
  protocol?: 'http://' | 'https://';
}

/** Calls an action and resolves with the response fields, or rejects with the SDK's error (code, message, requestId). */
export type KmsCaller = (action: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>;

export interface SdkError {
  code: string;
  message: string;
  requestId: string;
}

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

export function clearProxy(): void {
  for (const v of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY']) delete process.env[v];
}

/** tencentcloud-sdk-nodejs (CN), services/kms v20190118; TC3 unless told otherwise. */
export function cnKmsClient(o: ClientOptions): KmsCaller {
  const client = new cnKms.v20190118.Client({
    credential: { secretId: o.secretId, secretKey: o.secretKey },
    region: o.region ?? '',
    profile: { signMethod: o.signMethod ?? 'TC3-HMAC-SHA256', httpProfile: { endpoint: o.endpoint, protocol: o.protocol ?? 'http://', reqMethod: o.reqMethod ?? 'POST' } },
  }) as unknown as Record<string, (req: unknown) => Promise<Record<string, unknown>>>;
  return async (action, params = {}) => {
    const fn = client[action];
    if (typeof fn !== 'function') throw new Error(`CN SDK has no ${action}`);
    try {
      return await fn.call(client, structuredClone(params));
    } catch (err) {
      throw normalise(err);
    }
  };
}

/** tencentcloud-sdk-nodejs-intl-en: its default is HmacSHA256 (signature v1). */
export function intlKmsClient(o: ClientOptions): KmsCaller {
  const http = new intl.HttpProfile();
  http.endpoint = o.endpoint;
  http.protocol = o.protocol ?? 'http://';
  http.reqMethod = o.reqMethod ?? 'POST';
  const client = new intl.Client(new intl.Credential(o.secretId, o.secretKey), o.region ?? '', new intl.ClientProfile(o.signMethod, http));
  return (action, params = {}) => {
    const Model = intl.Models[`${action}Request`];
    if (!Model || typeof client[action] !== 'function') return Promise.reject(new Error(`intl SDK has no ${action}`));
    const req = Object.assign(new Model(), structuredClone(params));
    return new Promise((resolve, reject) => client[action]!(req, (err, resp) => (err ? reject(normalise(err)) : resolve(JSON.parse(JSON.stringify(resp))))));
  };
}

function normalise(err: unknown): SdkError | unknown {
  const e = err as { code?: string; message?: string; requestId?: string };
  if (e && typeof e.code === 'string') return { code: e.code, message: e.message ?? '', requestId: e.requestId ?? '' } satisfies SdkError;
  return err;
}

/** The Tencent error code a call fails with, or 'OK'. */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = err as SdkError;
    if (typeof e?.code !== 'string') throw err;
    return e.code;
  }
  return 'OK';
}

/** The API error a call fails with (code and message); throws when it succeeds or fails otherwise. */
export async function sdkError(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p;
  } catch (err) {
    const e = err as SdkError;
    if (typeof e?.code !== 'string') throw err;
    return e;
  }
  throw new Error('expected the call to fail');
}

export const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
export const unb64 = (s: unknown) => Buffer.from(s as string, 'base64');
