import { createHash, createHmac } from 'node:crypto';

// TC3-HMAC-SHA256 (docs/contract/protocol.md#tc3) as a client computes it, for the benchmarks and the tests
// (test/helpers/tc-sign.ts re-exports it): written from the contract, not from the server's
// src/api/wire/tc3.ts, so the two check each other. Signs content-type and host of a POST /.
// Here rather than under test/ because the benchmarks ship without test/ (Dockerfile).

const sha256hex = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const hmac = (key: Buffer | string, msg: string) => createHmac('sha256', key).update(msg).digest();

/** The Authorization header value for a TC3-signed POST / with this body. */
export function tc3Authorization(o: {
  host: string;
  secretId: string;
  secretKey: string;
  body: string | Buffer;
  timestamp: number;
  contentType?: string;
  service?: string;
}): string {
  const date = new Date(o.timestamp * 1000).toISOString().slice(0, 10);
  const contentType = o.contentType ?? 'application/json';
  const service = o.service ?? 'kms';
  const canonical = ['POST', '/', '', `content-type:${contentType}\nhost:${o.host}\n`, 'content-type;host', sha256hex(o.body)].join('\n');
  const scope = `${date}/${service}/tc3_request`;
  const toSign = ['TC3-HMAC-SHA256', String(o.timestamp), scope, sha256hex(canonical)].join('\n');
  const kSigning = hmac(hmac(hmac(`TC3${o.secretKey}`, date), service), 'tc3_request');
  const signature = createHmac('sha256', kSigning).update(toSign).digest('hex');
  return `TC3-HMAC-SHA256 Credential=${o.secretId}/${scope}, SignedHeaders=content-type;host, Signature=${signature}`;
}
