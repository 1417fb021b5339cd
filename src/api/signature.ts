import { createHmac, hash, timingSafeEqual } from 'node:crypto';

// Transport-level authentication for Tencent Cloud API 3.0 requests (kms-api.md §1.1–1.7).
// Pure: no I/O, no credential lookup, no routing. The caller looks up the secret key for
// `secretId`, then calls authenticateRequest (or the pieces it is made of).

export type SignatureVersion = 'TC3' | 'HmacSHA1' | 'HmacSHA256';

export interface RawApiRequest {
  method: string;
  /** The request-target exactly as received (`/` or `/?a=b`): TC3 GET signs the raw query. */
  url: string;
  /** Node's IncomingHttpHeaders or any record; names are matched case-insensitively. */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  rawBody: Buffer;
}

export type SignatureProof =
  | {
      kind: 'TC3';
      date: string;
      service: string;
      /**
       * The candidate strings to sign, made as they are asked for (each costs a SHA-256 of the
       * canonical request): more than one when the Host header carries a port (tc3StringsToSign).
       */
      stringsToSign: () => Iterable<string>;
      signature: string;
    }
  | { kind: 'HmacSHA1' | 'HmacSHA256'; stringToSign: string; signature: string };

export interface ApiRequest {
  signatureVersion: SignatureVersion;
  action: string;
  version: string;
  /** Absent when the SDK sent none or an empty one (Go v1 always sends `Region=`). */
  region?: string;
  /** Unix seconds. */
  timestamp: number;
  secretId: string;
  /** STS session token: a credential, keep it out of logs. */
  token?: string;
  language?: string;
  /** v1 only: an opaque digit string (Node 0–65535, Go/Python up to 2^63−1). */
  nonce?: string;
  requestClient?: string;
  traceId?: string;
  /**
   * Business parameters. TC3 POST: the JSON body as sent. v1 and TC3 GET: unflattened from
   * the form, every leaf a string (see unflattenParams); the caller coerces by schema.
   */
  params: Record<string, unknown>;
  proof: SignatureProof;
}

export interface ParseOptions {
  /** Credential-scope services accepted besides the Host-derived one the Node SDKs use. */
  services?: readonly string[];
}

// interface.md "Wire": kms now, cloudaudit and cam later; routing happens on Version+Action.
export const DEFAULT_SERVICES: readonly string[] = ['kms', 'cloudaudit', 'cam'];
export const TIMESTAMP_WINDOW_SECONDS = 300;

// §1.1 size limits.
const MAX_GET_URL_BYTES = 32 * 1024;
const MAX_V1_BODY_BYTES = 1024 * 1024;
const MAX_TC3_BODY_BYTES = 10 * 1024 * 1024;

const TC3_ALGORITHM = 'TC3-HMAC-SHA256';

// No KMS request nests deeper than 4 levels (ListKeyDetail {TagFilters:[{TagValue:[…]}]}); the code that walks
// parameters recurses, so hostile nesting is refused here, before it can exhaust the stack.
export const MAX_PARAM_DEPTH = 32;

// §1.3: v1 common fields; everything else in the form is a business parameter.
const V1_COMMON = new Set([
  'Action', 'Version', 'Region', 'Timestamp', 'Nonce', 'SecretId', 'Signature',
  'SignatureMethod', 'Token', 'Language', 'RequestClient',
]);

// Each error's `code` is the Tencent error code (§1.9) the envelope carries.

export abstract class ApiRequestError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class UnsupportedProtocolError extends ApiRequestError {
  readonly code = 'UnsupportedProtocol';
}

export class RequestSizeLimitExceededError extends ApiRequestError {
  readonly code = 'RequestSizeLimitExceeded';
}

export class MissingParameterError extends ApiRequestError {
  readonly code = 'MissingParameter';
  constructor(readonly parameter: string) {
    super(`The request is missing a required parameter \`${parameter}\`.`);
  }
}

export class InvalidParameterError extends ApiRequestError {
  readonly code = 'InvalidParameter';
}

export class InvalidParameterValueError extends ApiRequestError {
  readonly code = 'InvalidParameterValue';
}

export class InvalidAuthorizationError extends ApiRequestError {
  readonly code = 'AuthFailure.InvalidAuthorization';
}

export class SignatureExpireError extends ApiRequestError {
  readonly code = 'AuthFailure.SignatureExpire';
}

export class SignatureFailureError extends ApiRequestError {
  readonly code = 'AuthFailure.SignatureFailure';
}

// API 3.0 has no replay code; a replay is a signature that is no longer acceptable.
export class ReplayedRequestError extends ApiRequestError {
  readonly code = 'AuthFailure.SignatureFailure';
}

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
  // §1.2: JSON bodies and X-TC-* headers are TC3-only; a request with neither is v1.
  const tc3 =
    headers['authorization'] !== undefined ||
    headers['x-tc-action'] !== undefined ||
    (method === 'POST' && mediaType(headers['content-type']) === 'application/json');
  return tc3 ? parseTc3(request, options.services ?? DEFAULT_SERVICES) : parseV1(request);
}

interface NormalizedRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  path: string;
  query: string;
  body: Buffer;
}

// §1.4 TC3-HMAC-SHA256, checked in the §1.7 order: protocol, body, common params, Authorization.
function parseTc3(req: NormalizedRequest, services: readonly string[]): ApiRequest {
  const { headers } = req;
  let params: Record<string, unknown>;
  if (req.method === 'POST') {
    const type = mediaType(headers['content-type']);
    // multipart/form-data is TC3-legal but no KMS action uses it (§1.2).
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
  const authorization = requireValue(headers['authorization'], 'Authorization');
  const timestamp = parseTimestamp(timestampText, 'X-TC-Timestamp');
  const auth = parseAuthorization(authorization);

  if (auth.date !== utcDate(timestamp)) {
    throw new SignatureFailureError('The credential scope date does not match the UTC date of X-TC-Timestamp.');
  }
  const host = headers['host'] ?? '';
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
  const invalid = (reason: string) =>
    new InvalidAuthorizationError(`The request \`Authorization\` header does not conform to tencentcloud standards: ${reason}.`);
  // Also rejects the SDKs' `Authorization: SKIP` for unsigned calls (§1.3).
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

// §1.4 step 1–2. The Node SDKs send `Host: h:port` but sign `host:h` (URL hostname), Go and
// Python sign the header as sent, so both readings are candidates; both are public facts of the
// request, so offering two only doubles an already 2^-256 forgery chance.
function* tc3StringsToSign(req: NormalizedRequest, auth: Tc3Authorization, timestampText: string): Generator<string> {
  const sentHost = req.headers['host'] ?? '';
  const payloadHash = sha256Hex(req.body);
  const scope = `${auth.date}/${auth.service}/tc3_request`;
  const signedHeaders = auth.signedHeaders.join(';');
  const stringToSign = (host: string): string => {
    // The v3 doc lower-cases and trims header values; the SDKs already send them lower-case.
    let canonicalHeaders = '';
    for (const name of auth.signedHeaders) canonicalHeaders += `${name}:${(name === 'host' ? host : req.headers[name] ?? '').trim().toLowerCase()}\n`;
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

// §1.5 signature v1: every field in the GET query or the form-encoded POST body.
function parseV1(req: NormalizedRequest): ApiRequest {
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
  // §1.3: SignatureMethod absent means HmacSHA1.
  const method = fields.get('SignatureMethod') ?? 'HmacSHA1';
  if (method !== 'HmacSHA1' && method !== 'HmacSHA256') {
    throw new InvalidParameterValueError('`SignatureMethod` must be HmacSHA1 or HmacSHA256.');
  }

  // §1.5: names sorted, decoded values, no URL encoding, Host as sent (port included — every SDK
  // signs its configured endpoint, which is what it puts in Host). Node sorts with Array#sort
  // (UTF-16 order); the doc says byte order; identical for the ASCII names Tencent uses.
  const signed = [...fields.keys()]
    .filter((name) => name !== 'Signature')
    .sort()
    .map((name) => `${name}=${fields.get(name)}`)
    .join('&');
  const stringToSign = `${req.method}${req.headers['host'] ?? ''}${req.path}?${signed}`;

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

/** §1.4 step 3: kDate = HMAC("TC3"+key, date), kService = HMAC(kDate, service), kSigning = HMAC(kService, "tc3_request"). */
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

export function verifySignature(request: ApiRequest, secretKey: Buffer | string, derived?: DerivedKeys): boolean {
  const key = typeof secretKey === 'string' ? Buffer.from(secretKey, 'utf8') : secretKey;
  const proof = request.proof;
  if (proof.kind === 'TC3') {
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
  const algorithm = proof.kind === 'HmacSHA256' ? 'sha256' : 'sha1';
  // Compared as canonical base64 text, so no second encoding of the same MAC is accepted.
  return safeEqual(hmac(algorithm, key, proof.stringToSign).toString('base64'), proof.signature);
}

// §1.6: more than 300 s either side of server time → AuthFailure.SignatureExpire.
export function assertTimestampFresh(
  timestamp: number,
  nowMs: number = Date.now(),
  windowSeconds: number = TIMESTAMP_WINDOW_SECONDS,
): void {
  if (Math.abs(Math.floor(nowMs / 1000) - timestamp) > windowSeconds) {
    throw new SignatureExpireError(
      `The request timestamp is more than ${windowSeconds} s away from server time; check the client clock.`,
    );
  }
}

// §1.7 step 3 order after the secret key is known: skew, signature, then (v1) replay.
export function authenticateRequest(
  request: ApiRequest,
  secretKey: Buffer | string,
  nonceCache: NonceCache,
  nowMs: number = Date.now(),
  derived?: DerivedKeys,
): void {
  assertTimestampFresh(request.timestamp, nowMs);
  if (!verifySignature(request, secretKey, derived)) {
    throw new SignatureFailureError('The provided credentials could not be validated. Please check your signature is correct.');
  }
  // Recorded only once the signature holds, so unsigned traffic can neither fill the cache nor
  // burn a client's nonces.
  if (request.signatureVersion !== 'TC3' && !nonceCache.record(request, nowMs)) {
    throw new ReplayedRequestError('This request was already received (same SecretId, Nonce, Timestamp and Signature).');
  }
}

/**
 * Remembers v1 requests until their Timestamp leaves the ±300 s window (§1.6), after which
 * assertTimestampFresh rejects them anyway.
 *
 * Keyed on SecretId + Timestamp + Nonce + Signature rather than SecretId + Nonce: the Node SDKs
 * draw Nonce from 0–65535, so at a few hundred requests a second a nonce-only key would flag
 * honest requests; the signature covers every parameter, so only a byte-for-byte replay of a
 * signed request matches.
 *
 * Bounded: when full, the oldest entry is dropped. Size it above peak rate × 600 s (an entry
 * may live up to twice the window when the client clock runs ahead).
 */
export class NonceCache {
  readonly #expiresAt = new Map<string, number>();

  constructor(
    readonly maxEntries: number = 200_000,
    readonly windowSeconds: number = TIMESTAMP_WINDOW_SECONDS,
  ) {}

  get size(): number {
    return this.#expiresAt.size;
  }

  /** False when this signed request was already recorded and has not expired. */
  record(request: Pick<ApiRequest, 'secretId' | 'timestamp' | 'nonce' | 'proof'>, nowMs: number = Date.now()): boolean {
    this.#evictExpired(nowMs);
    const key = [request.secretId, request.timestamp, request.nonce ?? '', request.proof.signature].join('\n');
    const expiresAt = this.#expiresAt.get(key);
    if (expiresAt !== undefined && expiresAt > nowMs) return false;
    while (this.#expiresAt.size >= this.maxEntries) {
      const oldest = this.#expiresAt.keys().next();
      if (oldest.done) break;
      this.#expiresAt.delete(oldest.value);
    }
    this.#expiresAt.set(key, (request.timestamp + this.windowSeconds) * 1000);
    return true;
  }

  // Insertion order is close to expiry order (timestamps sit within the window), so popping
  // expired entries from the front is enough; a straggler only costs memory until it surfaces.
  #evictExpired(nowMs: number): void {
    for (const [key, expiresAt] of this.#expiresAt) {
      if (expiresAt > nowMs) break;
      this.#expiresAt.delete(key);
    }
  }
}

/**
 * Rebuilds nested parameters from the flattened form the SDKs send in v1 bodies and GET queries
 * (§1.2): `KeyIds.0=a&KeyIds.1=b` → `{KeyIds:['a','b']}`, `Tags.0.TagKey=k` →
 * `{Tags:[{TagKey:'k'}]}`. Inverse of the SDKs' mergeData for every input that survives it:
 * leaves stay strings (the SDK wrote numbers and booleans as text; coerce by schema), and empty
 * arrays/objects and null fields never reach the wire. A level whose names are all decimal
 * indices is an array; the indices must be exactly 0..n−1. Throws InvalidParameterError for
 * empty path segments, a name used both as a value and a container, mixed index/name levels,
 * and gaps or leading zeros in indices.
 */
export function unflattenParams(flat: Readonly<Record<string, string>>): Record<string, unknown> {
  const root: FlatTree = new Map();
  for (const [name, value] of Object.entries(flat)) {
    const segments = name.split('.');
    if (segments.some((segment) => segment === '')) {
      throw new InvalidParameterError(`Parameter name \`${name.slice(0, 64)}\` has an empty path segment.`);
    }
    if (segments.length > MAX_PARAM_DEPTH) {
      throw new InvalidParameterError(`Parameter name \`${name.slice(0, 64)}…\` nests deeper than ${MAX_PARAM_DEPTH} levels.`);
    }
    let node = root;
    segments.forEach((segment, i) => {
      const existing = node.get(segment);
      if (i === segments.length - 1) {
        if (existing !== undefined) throw conflict(name);
        node.set(segment, value);
      } else if (existing === undefined) {
        const child: FlatTree = new Map();
        node.set(segment, child);
        node = child;
      } else if (typeof existing === 'string') {
        throw conflict(name);
      } else {
        node = existing;
      }
    });
  }
  return Object.fromEntries([...root].map(([key, child]) => [key, treeValue(child, key)]));
}

type FlatTree = Map<string, FlatTree | string>;

function conflict(name: string): InvalidParameterError {
  return new InvalidParameterError(`Parameter \`${name}\` conflicts with another parameter of the same path.`);
}

function treeValue(node: FlatTree | string, path: string): unknown {
  if (typeof node === 'string') return node;
  const keys = [...node.keys()];
  const indices = keys.filter((key) => /^\d+$/.test(key));
  if (indices.length === 0) {
    return Object.fromEntries(keys.map((key) => [key, treeValue(node.get(key)!, `${path}.${key}`)]));
  }
  if (indices.length !== keys.length) {
    throw new InvalidParameterError(`Parameter \`${path}\` mixes array indices and field names.`);
  }
  const array: unknown[] = new Array(keys.length);
  for (const key of keys) {
    const index = Number(key);
    // Unique canonical indices all below n are exactly 0..n−1.
    if (String(index) !== key || index >= keys.length) {
      throw new InvalidParameterError(`Array parameter \`${path}\` must be numbered 0..${keys.length - 1} without gaps.`);
    }
    array[index] = treeValue(node.get(key)!, `${path}.${key}`);
  }
  return array;
}

function lowerCaseHeaders(headers: RawApiRequest['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  // Object.keys, not Object.entries: no [name, value] array per header (this runs for every request).
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    out[name.toLowerCase()] = typeof value === 'string' ? value : value.join(', ');
  }
  return out;
}

function isGetOrPost(method: string): method is 'GET' | 'POST' {
  return method === 'GET' || method === 'POST';
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

function requireValue(value: string | undefined, name: string): string {
  const trimmed = value?.trim();
  if (!trimmed) throw new MissingParameterError(name);
  return trimmed;
}

/**
 * A credential field is absent only when missing or empty (HTTP has already stripped the header's
 * spaces and tabs): anything else, even a lone no-break space, is a credential and is judged.
 */
function credentialValue(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function optionalValue(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function parseTimestamp(text: string, name: string): number {
  if (!/^\d{1,12}$/.test(text)) throw new InvalidParameterValueError(`\`${name}\` must be Unix time in seconds.`);
  return Number(text);
}

let lastDate: { timestamp: number; date: string } | undefined;

/** YYYY-MM-DD (UTC) of a Unix time; the last answer is kept (every request of a second asks the same). */
function utcDate(timestamp: number): string {
  if (lastDate?.timestamp !== timestamp) lastDate = { timestamp, date: new Date(timestamp * 1000).toISOString().slice(0, 10) };
  return lastDate.date;
}

// Node derives the scope service as endpoint.split('.')[0]: `127.0.0.1:8080` → `127`,
// `localhost:8080` → `localhost:8080` (kms-api.md §1.4, interface.md "Wire").
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

// application/x-www-form-urlencoded as the SDKs write it: Node querystring (space = %20) and Go
// url.Values (space = +). Stricter than URLSearchParams: malformed escapes and repeated names are
// errors, because the string to sign is built from these decoded values.
function decodeForm(text: string, where: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq < 0) throw new InvalidParameterError(`Malformed ${where}: key and value must be separated by \`=\`.`);
    const name = formDecode(pair.slice(0, eq), where);
    if (name === '') throw new InvalidParameterError(`Malformed ${where}: empty parameter name.`);
    if (fields.has(name)) throw new InvalidParameterError(`Parameter \`${name}\` appears more than once.`);
    fields.set(name, formDecode(pair.slice(eq + 1), where));
  }
  return fields;
}

function formDecode(text: string, where: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw new InvalidParameterError(`Malformed ${where}: invalid percent-encoding.`);
  }
}

function parseJsonBody(body: Buffer): Record<string, unknown> {
  // The SDKs send `{}` for an action without parameters; an empty body means the same.
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(utf8(body, 'request body'));
  } catch (error) {
    if (error instanceof InvalidParameterError) throw error;
    throw new InvalidParameterError('The request body is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidParameterError('The request body must be a JSON object.');
  }
  if (depthExceeds(value, MAX_PARAM_DEPTH)) {
    throw new InvalidParameterError(`The request body nests deeper than ${MAX_PARAM_DEPTH} levels.`);
  }
  return value as Record<string, unknown>;
}

// Iterative, so the check itself cannot overflow the stack.
function depthExceeds(root: object, max: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(node)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Buffer, where: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new InvalidParameterError(`The ${where} is not valid UTF-8.`);
  }
}

function sha256Hex(data: Buffer | string): string {
  return hash('sha256', data, 'hex');
}

function hmac(algorithm: 'sha1' | 'sha256', key: Buffer, message: string): Buffer {
  return createHmac(algorithm, key).update(message, 'utf8').digest();
}

function safeEqual(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
