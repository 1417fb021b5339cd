import { createHmac, randomInt } from 'node:crypto';
import { tc3Authorization } from '../../bench/tc3.js';

// Hand-signed Tencent Cloud API requests for the rejection tests, written from the contract
// (docs/contract/protocol.md#tc3, docs/contract/protocol.md#v1) rather than from the server's code.

export interface Tc3Options {
  host: string;
  secretId: string;
  secretKey: string;
  action?: string;
  version?: string;
  region?: string;
  timestamp?: number;
  body?: string | Buffer;
  contentType?: string;
  service?: string;
  extraHeaders?: Record<string, string>;
}

/** Headers for a TC3-HMAC-SHA256 POST to `/`, signing content-type and host. */
export function tc3Headers(o: Tc3Options): Record<string, string> {
  const ts = o.timestamp ?? Math.floor(Date.now() / 1000);
  const contentType = o.contentType ?? 'application/json';
  const authorization = tc3Authorization({
    host: o.host.split(':')[0]!,
    secretId: o.secretId,
    secretKey: o.secretKey,
    body: o.body ?? '{}',
    timestamp: ts,
    contentType,
    service: o.service,
  });
  const headers: Record<string, string> = {
    'Content-Type': contentType,
    Authorization: authorization,
    'X-TC-Timestamp': String(ts),
    ...o.extraHeaders,
  };
  if (o.action !== undefined) headers['X-TC-Action'] = o.action;
  if (o.version !== undefined) headers['X-TC-Version'] = o.version;
  if (o.region !== undefined) headers['X-TC-Region'] = o.region;
  return headers;
}

/** A v1 form body (POST) signed with HmacSHA256 or HmacSHA1. */
export function v1Form(o: {
  host: string;
  secretId: string;
  secretKey: string;
  params: Record<string, string>;
  method?: 'HmacSHA256' | 'HmacSHA1';
  timestamp?: number;
  nonce?: number;
}): string {
  const all: Record<string, string> = {
    Nonce: String(o.nonce ?? randomInt(1, 1 << 30)),
    Timestamp: String(o.timestamp ?? Math.floor(Date.now() / 1000)),
    SecretId: o.secretId,
    SignatureMethod: o.method ?? 'HmacSHA256',
    ...o.params,
  };
  const joined = Object.keys(all)
    .sort()
    .map((k) => `${k}=${all[k]}`)
    .join('&');
  const algo = all.SignatureMethod === 'HmacSHA1' ? 'sha1' : 'sha256';
  const signature = createHmac(algo, o.secretKey).update(`POST${o.host}/?${joined}`).digest('base64');
  return new URLSearchParams({ ...all, Signature: signature }).toString();
}

export async function postRaw(url: string, headers: Record<string, string>, body: string | Buffer): Promise<{ status: number; json: { Response: Record<string, unknown> } }> {
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, json: (await res.json()) as { Response: Record<string, unknown> } };
}
