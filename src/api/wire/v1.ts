import { InvalidParameterValueError, RequestSizeLimitExceededError, UnsupportedProtocolError } from '../errors.js';
import { hmac, safeEqual } from './mac.js';
import {
  credentialValue,
  decodeForm,
  mediaType,
  optionalValue,
  parseTimestamp,
  requireValue,
  unflattenParams,
  utf8,
  type ApiRequest,
  type NormalizedRequest,
  type SignatureProof,
} from './request.js';

// Signature v1, HmacSHA1 / HmacSHA256 (docs/contract/protocol.md#v1): reading a v1 request and checking its
// signature.

const MAX_V1_BODY_BYTES = 1024 * 1024; // docs/contract/protocol.md#endpoint

// docs/contract/protocol.md#common-parameters: v1 common fields; everything else in the form is a business parameter.
const V1_COMMON = new Set(['Action', 'Version', 'Region', 'Timestamp', 'Nonce', 'SecretId', 'Signature', 'SignatureMethod', 'Token', 'Language', 'RequestClient']);

// docs/contract/protocol.md#v1 signature v1: every field in the GET query or the form-encoded POST body.
export function parseV1(req: NormalizedRequest): ApiRequest {
  let fields: Map<string, string>;
  if (req.method === 'POST') {
    const type = mediaType(req.headers['content-type']);
    if (type !== 'application/x-www-form-urlencoded') {
      throw new UnsupportedProtocolError(
        `Content-Type ${type || '(none)'} is not supported; use application/json with TC3-HMAC-SHA256 or application/x-www-form-urlencoded with HmacSHA1/HmacSHA256.`,
      );
    }
    if (req.body.length > MAX_V1_BODY_BYTES) {
      throw new RequestSizeLimitExceededError('Request body exceeds 1 MB for signature v1.');
    }
    fields = decodeForm(utf8(req.body, 'request body'), 'request body');
  } else {
    fields = decodeForm(req.query, 'query string');
  }

  const field = (name: string) => requireValue(fields.get(name), name);
  const action = field('Action');
  const version = field('Version');
  const timestamp = parseTimestamp(field('Timestamp'), 'Timestamp');
  const nonce = field('Nonce');
  const secretId = field('SecretId');
  const signature = field('Signature');
  if (!/^\d{1,20}$/.test(nonce)) throw new InvalidParameterValueError('`Nonce` must be a non-negative integer.');
  // docs/contract/protocol.md#common-parameters: SignatureMethod absent means HmacSHA1.
  const method = fields.get('SignatureMethod') ?? 'HmacSHA1';
  if (method !== 'HmacSHA1' && method !== 'HmacSHA256') {
    throw new InvalidParameterValueError('`SignatureMethod` must be HmacSHA1 or HmacSHA256.');
  }

  // docs/contract/protocol.md#v1: names sorted, decoded values, no URL encoding, Host as sent (port included — every SDK
  // signs its configured endpoint, which is what it puts in Host). Node sorts with Array#sort
  // (UTF-16 order); the doc says byte order; identical for the ASCII names Tencent uses.
  const signed = [...fields.keys()]
    .filter((name) => name !== 'Signature')
    .sort()
    .map((name) => `${name}=${fields.get(name)}`)
    .join('&');
  const stringToSign = `${req.method}${req.headers.host ?? ''}${req.path}?${signed}`;

  const business: Record<string, string> = {};
  for (const [name, value] of fields) if (!V1_COMMON.has(name)) business[name] = value;

  return {
    signatureVersion: method,
    action,
    version,
    region: optionalValue(fields.get('Region')),
    timestamp,
    secretId,
    token: credentialValue(fields.get('Token')),
    language: optionalValue(fields.get('Language')),
    nonce,
    requestClient: optionalValue(fields.get('RequestClient')),
    traceId: optionalValue(req.headers['x-tc-traceid']),
    params: unflattenParams(business),
    proof: { kind: method, stringToSign, signature },
  };
}

/** docs/contract/protocol.md#v1: HMAC-SHA1/256 of the string to sign, compared as canonical base64 text, so no second encoding of the same MAC is accepted. */
export function verifyV1(proof: Extract<SignatureProof, { kind: 'HmacSHA1' | 'HmacSHA256' }>, key: Buffer): boolean {
  const algorithm = proof.kind === 'HmacSHA256' ? 'sha256' : 'sha1';
  return safeEqual(hmac(algorithm, key, proof.stringToSign).toString('base64'), proof.signature);
}
