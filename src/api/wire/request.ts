import { InvalidParameterError, InvalidParameterValueError, MissingParameterError } from '../errors.js';

// A Tencent Cloud API 3.0 request as read off the wire (docs/contract/protocol.md#endpoint), before either
// signature version is looked at: the request model, headers, form and JSON decoding, and the
// flattened parameters of v1 and GET. Pure: no I/O.

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
  /** Header names a TC3 request must sign besides content-type and host (the strict mode). */
  requiredSignedHeaders?: readonly string[];
}

// No KMS request nests deeper than 4 levels (ListKeyDetail {TagFilters:[{TagValue:[…]}]}); the code that walks
// parameters recurses, so hostile nesting is refused here, before it can exhaust the stack.
export const MAX_PARAM_DEPTH = 32;

/** The request with its headers lower-cased and its URL split: what tc3.ts and v1.ts read. */
export interface NormalizedRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  path: string;
  query: string;
  body: Buffer;
}

/**
 * Rebuilds nested parameters from the flattened form the SDKs send in v1 bodies and GET queries
 * (docs/contract/protocol.md#request-forms): `KeyIds.0=a&KeyIds.1=b` → `{KeyIds:['a','b']}`, `Tags.0.TagKey=k` →
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

export function lowerCaseHeaders(headers: RawApiRequest['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  // Object.keys, not Object.entries: no [name, value] array per header (this runs for every request).
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    out[name.toLowerCase()] = typeof value === 'string' ? value : value.join(', ');
  }
  return out;
}

export function isGetOrPost(method: string): method is 'GET' | 'POST' {
  return method === 'GET' || method === 'POST';
}

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

export function requireValue(value: string | undefined, name: string): string {
  const trimmed = value?.trim();
  if (!trimmed) throw new MissingParameterError(name);
  return trimmed;
}

/**
 * A credential field is absent only when missing or empty (HTTP has already stripped the header's
 * spaces and tabs): anything else, even a lone no-break space, is a credential and is judged.
 */
export function credentialValue(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

export function optionalValue(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

export function parseTimestamp(text: string, name: string): number {
  if (!/^\d{1,12}$/.test(text)) throw new InvalidParameterValueError(`\`${name}\` must be Unix time in seconds.`);
  return Number(text);
}

// application/x-www-form-urlencoded as the SDKs write it: Node querystring (space = %20) and Go
// url.Values (space = +). Stricter than URLSearchParams: malformed escapes and repeated names are
// errors, because the string to sign is built from these decoded values.
export function decodeForm(text: string, where: string): Map<string, string> {
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

export function parseJsonBody(body: Buffer): Record<string, unknown> {
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

export function utf8(bytes: Buffer, where: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new InvalidParameterError(`The ${where} is not valid UTF-8.`);
  }
}
