import { hash, timingSafeEqual } from 'node:crypto';
import { InvalidAuthorizationError, RequestSizeLimitExceededError, SignatureFailureError, UnsupportedProtocolError } from '../errors.js';
import { hmac } from './mac.js';
import {
  decodeForm,
  mediaType,
  optionalValue,
  credentialValue,
  parseJsonBody,
  parseTimestamp,
  requireValue,
  unflattenParams,
  type ApiRequest,
  type NormalizedRequest,
  type SignatureProof,
} from './request.js';

// Signature v3, TC3-HMAC-SHA256 (docs/contract/protocol.md#tc3): reading a TC3 request and checking its
// signature.

// README "Endpoints": kms now, cloudaudit and cam later; routing happens on Version+Action.
export const DEFAULT_SERVICES: readonly string[] = ['kms', 'cloudaudit', 'cam'];

const MAX_TC3_BODY_BYTES = 10 * 1024 * 1024; // docs/contract/protocol.md#endpoint

const TC3_ALGORITHM = 'TC3-HMAC-SHA256';

// docs/contract/protocol.md#tc3 TC3-HMAC-SHA256, checked in the docs/contract/protocol.md#processing-order order: protocol, body, common params, Authorization.
export function parseTc3(req: NormalizedRequest, services: readonly string[], requiredSignedHeaders: readonly string[] = []): ApiRequest {
  const { headers } = req;
  let params: Record<string, unknown>;
  if (req.method === 'POST') {
    const type = mediaType(headers['content-type']);
    // multipart/form-data is TC3-legal but no KMS action uses it (docs/contract/protocol.md#request-forms).
    if (type !== 'application/json') {
      throw new UnsupportedProtocolError(`Content-Type ${type || '(none)'} is not supported for TC3-HMAC-SHA256 POST; use application/json.`);
    }
    if (req.body.length > MAX_TC3_BODY_BYTES) {
      throw new RequestSizeLimitExceededError('Request body exceeds 10 MB.');
    }
    params = parseJsonBody(req.body);
  } else {
    params = unflattenParams(Object.fromEntries(decodeForm(req.query, 'query string')));
  }

  const action = requireValue(headers['x-tc-action'], 'X-TC-Action');
  const version = requireValue(headers['x-tc-version'], 'X-TC-Version');
  const timestampText = requireValue(headers['x-tc-timestamp'], 'X-TC-Timestamp');
  const authorization = requireValue(headers.authorization, 'Authorization');
  const timestamp = parseTimestamp(timestampText, 'X-TC-Timestamp');
  const auth = parseAuthorization(authorization);
  // The strict mode (docs/deployment.md#tls): the SDKs sign only content-type and host, so their
  // X-TC-Action and X-TC-Region can be changed on the way; a client that signs them can ask that
  // nothing else be accepted.
  const unsigned = requiredSignedHeaders.filter((name) => !auth.signedHeaders.includes(name));
  if (unsigned.length)
    throw new InvalidAuthorizationError(
      `The request \`Authorization\` header does not conform to tencentcloud standards: \`SignedHeaders\` must include ${unsigned.join(', ')} on this server.`,
    );

  if (auth.date !== utcDate(timestamp)) {
    throw new SignatureFailureError('The credential scope date does not match the UTC date of X-TC-Timestamp.');
  }
  const host = headers.host ?? '';
  if (!services.includes(auth.service) && !sameLabel(auth.service, firstLabel(host))) {
    throw new InvalidAuthorizationError('The request `Authorization` header does not conform to tencentcloud standards: `Service` in Credential not valid.');
  }
  // Go/Python offer UNSIGNED-PAYLOAD; a KMS must not accept a body the signature does not cover.
  if (headers['x-tc-content-sha256']?.trim().toUpperCase() === 'UNSIGNED-PAYLOAD') {
    throw new SignatureFailureError('Unsigned payloads (X-TC-Content-SHA256: UNSIGNED-PAYLOAD) are not accepted.');
  }

  return {
    signatureVersion: 'TC3',
    action,
    version,
    // intl-en's TC3 path sends the literal `X-TC-Region: null` when no region is configured.
    region: headers['x-tc-region']?.trim() === 'null' ? undefined : optionalValue(headers['x-tc-region']),
    timestamp,
    secretId: auth.secretId,
    token: credentialValue(headers['x-tc-token']),
    language: optionalValue(headers['x-tc-language']),
    requestClient: optionalValue(headers['x-tc-requestclient']),
    traceId: optionalValue(headers['x-tc-traceid']),
    params,
    proof: {
      kind: 'TC3',
      date: auth.date,
      service: auth.service,
      stringsToSign: () => tc3StringsToSign(req, auth, timestampText.trim()),
      signature: auth.signature,
    },
  };
}

interface Tc3Authorization {
  secretId: string;
  date: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

// `TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request, SignedHeaders=a;b, Signature=<hex>`
const HEX_SIGNATURE = /^[0-9a-f]{64}$/;
const CANONICAL_TC3_AUTHORIZATION =
  /^TC3-HMAC-SHA256 Credential=([^/,=\s]+)\/(\d{4}-\d{2}-\d{2})\/([^/,=\s]+)\/tc3_request, SignedHeaders=([a-z0-9-]+(?:;[a-z0-9-]+)*), Signature=([0-9a-f]{64})$/;
function parseAuthorization(value: string): Tc3Authorization {
  // The form every SDK sends, read by one expression; anything else (other spacing, extra or
  // reordered fields, a malformed part) goes through the general reading below, which also names
  // what is wrong. For a header this matches, both readings give the same result.
  const m = CANONICAL_TC3_AUTHORIZATION.exec(value);
  if (m) {
    const names = m[4]!.split(';');
    if (names.includes('host') && names.includes('content-type')) {
      return { secretId: m[1]!, date: m[2]!, service: m[3]!, signedHeaders: names, signature: m[5]! };
    }
  }
  const invalid = (reason: string) => new InvalidAuthorizationError(`The request \`Authorization\` header does not conform to tencentcloud standards: ${reason}.`);
  // Also rejects the SDKs' `Authorization: SKIP` for unsigned calls (docs/contract/protocol.md#common-parameters).
  if (!value.startsWith(`${TC3_ALGORITHM} `)) throw invalid(`only ${TC3_ALGORITHM} is accepted`);
  const fields = new Map<string, string>();
  for (const part of value.slice(TC3_ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw invalid('expected `name=value` parts separated by commas');
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential) throw invalid('`Credential` is missing');
  if (!signedHeaders) throw invalid('`SignedHeaders` is missing');
  if (!signature) throw invalid('`Signature` is missing');

  const scope = credential.split('/');
  const [secretId, date, service, terminator] = scope;
  if (scope.length !== 4 || !secretId || !service || terminator !== 'tc3_request') {
    throw invalid('`Credential` must be <SecretId>/<Date>/<Service>/tc3_request');
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw invalid('`Date` in Credential must be YYYY-MM-DD');
  const names = signedHeaders.split(';');
  if (!names.every((name) => /^[a-z0-9-]+$/.test(name))) {
    throw invalid('`SignedHeaders` must be lower-case header names separated by `;`');
  }
  // The signature v3 doc makes host and content-type mandatory members of SignedHeaders.
  if (!names.includes('host') || !names.includes('content-type')) {
    throw invalid('`SignedHeaders` must include content-type and host');
  }
  if (!HEX_SIGNATURE.test(signature)) throw invalid('`Signature` must be 64 lower-case hex digits');
  return { secretId, date, service, signedHeaders: names, signature };
}

// docs/contract/protocol.md#tc3-steps–2. The Node SDKs send `Host: h:port` but sign `host:h` (URL hostname), Go and
// Python sign the header as sent, so both readings are candidates; both are public facts of the
// request, so offering two only doubles an already 2^-256 forgery chance.
function* tc3StringsToSign(req: NormalizedRequest, auth: Tc3Authorization, timestampText: string): Generator<string> {
  const sentHost = req.headers.host ?? '';
  const payloadHash = sha256Hex(req.body);
  const scope = `${auth.date}/${auth.service}/tc3_request`;
  const signedHeaders = auth.signedHeaders.join(';');
  const stringToSign = (host: string): string => {
    // The v3 doc lower-cases and trims header values; the SDKs already send them lower-case.
    let canonicalHeaders = '';
    for (const name of auth.signedHeaders) canonicalHeaders += `${name}:${(name === 'host' ? host : (req.headers[name] ?? '')).trim().toLowerCase()}\n`;
    // Canonical URI is `/`; the Node SDKs sign the URL path, which is `/` on the only route we serve.
    // GET: the raw query exactly as received, not re-sorted or re-encoded (the SDKs sign URL.search).
    const canonicalRequest = `${req.method}\n${req.path}\n${req.query}\n${canonicalHeaders}\n${signedHeaders}\n${payloadHash}`;
    return `${TC3_ALGORITHM}\n${timestampText}\n${scope}\n${sha256Hex(canonicalRequest)}`;
  };
  yield stringToSign(sentHost);
  // The second reading only when the first did not match (the generator is not resumed otherwise).
  const bare = stripPort(sentHost);
  if (bare !== sentHost) yield stringToSign(bare);
}

/**
 * Keys derived from one secret key, kept beside it by whoever caches it (IdentityService's
 * DerivedKeyMemo) and wiped with it: TC3's signing key per credential scope, so a busy client's
 * requests cost one HMAC for the signature instead of four (docs/benchmarks.md).
 */
export interface DerivedKeys {
  get(scope: string): Buffer | undefined;
  /** Takes ownership of `key` and answers true, or false (memo already wiped): the caller wipes it. */
  keep(scope: string, key: Buffer): boolean;
}

/** docs/contract/protocol.md#tc3-steps: kDate = HMAC("TC3"+key, date), kService = HMAC(kDate, service), kSigning = HMAC(kService, "tc3_request"). */
function tc3SigningKey(key: Buffer, date: string, service: string, derived: DerivedKeys | undefined): { kSigning: Buffer; kept: boolean } {
  const scope = `tc3/${date}/${service}`;
  const known = derived?.get(scope);
  if (known) return { kSigning: known, kept: true };
  const secret = Buffer.concat([Buffer.from('TC3'), key]);
  const kDate = hmac('sha256', secret, date);
  const kService = hmac('sha256', kDate, service);
  const kSigning = hmac('sha256', kService, 'tc3_request');
  for (const b of [secret, kDate, kService]) b.fill(0);
  return { kSigning, kept: derived?.keep(scope, kSigning) ?? false };
}

/** docs/contract/protocol.md#tc3: the request's signature under the secret key, trying each candidate string to sign. */
export function verifyTc3(proof: Extract<SignatureProof, { kind: 'TC3' }>, key: Buffer, derived: DerivedKeys | undefined): boolean {
  const { kSigning, kept } = tc3SigningKey(key, proof.date, proof.service, derived);
  try {
    // The first candidate that matches ends the search: which host form a client signed is public.
    // 64 lower-case hex digits (all parseAuthorization admits) have one reading as bytes:
    // compare MACs as bytes, without hex-encoding ours.
    if (!HEX_SIGNATURE.test(proof.signature)) return false;
    const given = Buffer.from(proof.signature, 'hex');
    for (const candidate of proof.stringsToSign()) {
      const mac = hmac('sha256', kSigning, candidate);
      if (mac.length === given.length && timingSafeEqual(mac, given)) return true;
    }
    return false;
  } finally {
    if (!kept) kSigning.fill(0);
  }
}

let lastDate: { timestamp: number; date: string } | undefined;

/** YYYY-MM-DD (UTC) of a Unix time; the last answer is kept (every request of a second asks the same). */
function utcDate(timestamp: number): string {
  if (lastDate?.timestamp !== timestamp) lastDate = { timestamp, date: new Date(timestamp * 1000).toISOString().slice(0, 10) };
  return lastDate.date;
}

// Node derives the scope service as endpoint.split('.')[0]: `127.0.0.1:8080` → `127`,
// `localhost:8080` → `localhost:8080` (docs/contract/protocol.md#tc3, README "Endpoints").
function firstLabel(host: string): string {
  return host.split('.')[0];
}

// Ports are compared away: `localhost:80` signs service `localhost:80` but URL drops the default port from Host.
function sameLabel(service: string, label: string): boolean {
  return label !== '' && stripPort(service).toLowerCase() === stripPort(label).toLowerCase();
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1) || host;
  return host.replace(/:\d*$/, '');
}

function sha256Hex(data: Buffer | string): string {
  return hash('sha256', data, 'hex');
}
