import type { V1NonceStore } from '../../model/replay.js';
import { ReplayedRequestError, RequestLimitExceededError, RequestSizeLimitExceededError, SignatureFailureError, UnsupportedProtocolError } from '../errors.js';
import { assertTimestampFresh, v1NonceEntry } from './replay.js';
import { isGetOrPost, lowerCaseHeaders, mediaType, type ApiRequest, type ParseOptions, type RawApiRequest } from './request.js';
import { DEFAULT_SERVICES, parseTc3, verifyTc3, type DerivedKeys } from './tc3.js';
import { parseV1, verifyV1 } from './v1.js';

// Transport-level authentication for Tencent Cloud API 3.0 requests (docs/contract/protocol.md#endpoint).
// Pure: no I/O, no credential lookup, no routing. The caller looks up the secret key for
// `secretId`, then calls authenticateRequest (or the pieces it is made of).

const MAX_GET_URL_BYTES = 32 * 1024; // docs/contract/protocol.md#endpoint

export function parseApiRequest(raw: RawApiRequest, options: ParseOptions = {}): ApiRequest {
  const method = raw.method.toUpperCase();
  if (!isGetOrPost(method)) {
    throw new UnsupportedProtocolError(`HTTP method ${method} is not supported; use GET or POST.`);
  }
  const headers = lowerCaseHeaders(raw.headers);
  const queryAt = raw.url.indexOf('?');
  const path = queryAt < 0 ? raw.url : raw.url.slice(0, queryAt);
  const query = queryAt < 0 ? '' : raw.url.slice(queryAt + 1);
  if (method === 'GET' && Buffer.byteLength(raw.url) > MAX_GET_URL_BYTES) {
    throw new RequestSizeLimitExceededError('GET request URL exceeds 32 KB.');
  }
  const request = { method, headers, path, query, body: raw.rawBody };
  // docs/contract/protocol.md#request-forms: JSON bodies and X-TC-* headers are TC3-only; a request with neither is v1.
  const tc3 = headers.authorization !== undefined || headers['x-tc-action'] !== undefined || (method === 'POST' && mediaType(headers['content-type']) === 'application/json');
  return tc3 ? parseTc3(request, options.services ?? DEFAULT_SERVICES, options.requiredSignedHeaders) : parseV1(request);
}

export function verifySignature(request: ApiRequest, secretKey: Buffer | string, derived?: DerivedKeys): boolean {
  const key = typeof secretKey === 'string' ? Buffer.from(secretKey, 'utf8') : secretKey;
  const proof = request.proof;
  return proof.kind === 'TC3' ? verifyTc3(proof, key, derived) : verifyV1(proof, key);
}

// docs/contract/protocol.md#processing-step-3 order after the secret key is known: skew, signature, then (v1) replay.
export function verifyRequest(request: ApiRequest, secretKey: Buffer | string, nowMs: number = Date.now(), derived?: DerivedKeys): void {
  assertTimestampFresh(request.timestamp, nowMs);
  if (!verifySignature(request, secretKey, derived)) {
    throw new SignatureFailureError('The provided credentials could not be validated. Please check your signature is correct.');
  }
}

/**
 * A v1 request is accepted once (TC3 has no nonce: identical requests within a second are
 * legitimately identical). Called only once the signature holds, so unsigned traffic can neither
 * fill the store nor burn a client's nonces.
 */
export async function assertFirstUse(request: ApiRequest, nonces: V1NonceStore, nowMs: number = Date.now()): Promise<void> {
  if (request.signatureVersion === 'TC3') return;
  const verdict = await nonces.record(v1NonceEntry(request), nowMs);
  if (verdict === 'replayed') throw new ReplayedRequestError('This request was already received (same SecretId, Nonce, Timestamp and Signature).');
  if (verdict === 'full')
    throw new RequestLimitExceededError(
      'Too many signature-v1 requests for this SecretId within the 10-minute replay window; retry later, or sign with TC3-HMAC-SHA256 (which needs no nonce).',
    );
}

export async function authenticateRequest(request: ApiRequest, secretKey: Buffer | string, nonces: V1NonceStore, nowMs: number = Date.now(), derived?: DerivedKeys): Promise<void> {
  verifyRequest(request, secretKey, nowMs, derived);
  await assertFirstUse(request, nonces, nowMs);
}
