import { createHmac } from 'node:crypto';

// Signature v1, HmacSHA256 (docs/contract/protocol.md#v1) as a client computes it, for the
// benchmarks: written from the contract, not from the server's src/api/wire/v1.ts. A POST /
// form body: every field but Signature, sorted by name, joined as name=value (values decoded)
// after `POST<host>/?`; the Signature is the base64 HMAC of that.

export function v1FormBody(o: { host: string; secretId: string; secretKey: string; params: Record<string, string>; timestamp: number; nonce: number }): string {
  const all: Record<string, string> = {
    ...o.params,
    Nonce: String(o.nonce),
    Timestamp: String(o.timestamp),
    SecretId: o.secretId,
    SignatureMethod: 'HmacSHA256',
  };
  const joined = Object.keys(all)
    .sort()
    .map((k) => `${k}=${all[k]}`)
    .join('&');
  const signature = createHmac('sha256', o.secretKey).update(`POST${o.host}/?${joined}`).digest('base64');
  return new URLSearchParams({ ...all, Signature: signature }).toString();
}
