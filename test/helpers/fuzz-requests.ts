import { createHash, createHmac, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { z } from 'zod';
import { KMS_ACTIONS, kmsRequestSchemas } from '../../src/api/actions/index.js';
import type { RawRequest } from './raw-http.js';
import { tc3Headers } from './tc-sign.js';

// Malformed requests for every KMS action, derived from the action's zod schema in the action
// registry, src/api/actions (so actions added later are fuzzed without touching this file), plus a
// table of field names whose valid values need context (key ids, ciphertext blobs, base64).
//
// Safety rule, so that "key states are unchanged afterwards" can be checked: an action that may
// change state (anything not read-only below) never gets a real key id — its id fields hold fresh
// random UUIDs — and an action without id fields always gets a field of the wrong JSON type, so
// validation refuses it. Requests with a bad signature may carry real ids: they must be refused.

/** Read-only actions: may run with real keys. Everything else is treated as state-changing. */
const READ_ONLY =
  /^(Describe|List|Get(?!ParametersForImport)|Encrypt$|Decrypt$|ReEncrypt$|GenerateDataKey$|GenerateRandom$|SignByAsymmetricKey$|VerifyByAsymmetricKey$|AsymmetricRsaDecrypt$|AsymmetricSm2Decrypt$|PostQuantumCrypto(Encrypt|Decrypt|Sign|Verify)$|EncryptByWhiteBox$)/;

export function isReadOnlyAction(action: string): boolean {
  return READ_ONLY.test(action);
}

export interface FuzzTarget {
  host: string;
  secretId: string;
  secretKey: string;
  /** Configured regions; the first FIPS and SM ones are used most. */
  regions: string[];
  /** Real keys per region (the fuzz's snapshot covers them). */
  keyIds: Record<string, string[]>;
  /** Real ciphertext blobs (base64). */
  blobs: string[];
}

export type Family = 'params' | 'json' | 'flat' | 'auth' | 'size';

export interface FuzzCase {
  family: Family;
  action: string;
  /** What was done, for the failure report (never a secret: nothing here is one). */
  what: string;
  /** false: the request must be refused (no success envelope). */
  maySucceed: boolean;
  request: RawRequest;
}

interface Field {
  name: string;
  optional: boolean;
  schema: z.ZodType;
}

const fieldCache = new Map<string, Field[]>();
export function fieldsOf(action: string): Field[] {
  let fields = fieldCache.get(action);
  if (!fields) {
    const shape = (kmsRequestSchemas as Record<string, z.ZodObject>)[action]!.shape as Record<string, z.ZodType>;
    fields = Object.entries(shape).map(([name, schema]) => ({ name, optional: schema instanceof z.ZodOptional, schema: unwrap(schema) }));
    fieldCache.set(action, fields);
  }
  return fields;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  return s;
}

const isIdField = (name: string) => /KeyIds?$/.test(name);

// ---- values ------------------------------------------------------------------------------

const b64 = (bytes: Uint8Array | number[]) => Buffer.from(bytes).toString('base64');

/** A valid-looking value for a field; `realIds` false gives fresh UUIDs for ids. */
function validValue(field: Field, t: FuzzTarget, region: string, realIds: boolean): fc.Arbitrary<unknown> {
  const ids = t.keyIds[region] ?? [];
  const id: fc.Arbitrary<string> = realIds && ids.length ? fc.constantFrom(...ids) : fc.uuid({ version: 4 });
  const s = field.schema;
  switch (field.name) {
    case 'KeyId':
    case 'DestinationKeyId':
      return id;
    case 'KeyIds':
      return fc.uniqueArray(id, { minLength: 1, maxLength: 3 });
    case 'DataKeyId':
      return fc.uuid({ version: 4 });
    case 'DataKeyIds':
      return fc.uniqueArray(fc.uuid({ version: 4 }), { minLength: 1, maxLength: 3 });
    case 'Plaintext':
    case 'Message':
    case 'Ciphertext':
    case 'SignatureValue':
    case 'EncryptedKeyMaterial':
    case 'DataKey':
      return fc.uint8Array({ minLength: 1, maxLength: 96 }).map(b64);
    case 'CiphertextBlob':
      return t.blobs.length ? fc.oneof(fc.constantFrom(...t.blobs), fc.constantFrom(...t.blobs).chain(mutatedBlob)) : fc.string();
    case 'EncryptionContext':
    case 'SourceEncryptionContext':
    case 'DestinationEncryptionContext':
      return fc.constantFrom('', '{"app":"fuzz"}', '{"a":"b","c":"d"}');
    case 'Alias':
    case 'DataKeyName':
      return fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_-'), maxLength: 20 }).map((a) => `fz${a}`);
    case 'ImportToken':
      return fc.uint8Array({ minLength: 8, maxLength: 64 }).map(b64);
  }
  if (s instanceof z.ZodEnum) return fc.constantFrom(...(s.options as string[]));
  if (s instanceof z.ZodNumber) {
    const min = Number.isFinite(s.minValue) ? (s.minValue as number) : -1000;
    const max = Number.isFinite(s.maxValue) ? (s.maxValue as number) : 1000;
    return fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31) });
  }
  if (s instanceof z.ZodBoolean) return fc.boolean();
  if (s instanceof z.ZodArray) return fc.constant([]);
  if (s instanceof z.ZodObject) return fc.constant({});
  if (field.name === 'Algorithm') return fc.constantFrom('RSA_PSS_SHA_256', 'RSA_PKCS1_SHA_256', 'ECC_P256', 'SM2DSA', 'ECDSA_P384', 'ML_DSA_65');
  return fc.string({ maxLength: 24 });
}

/** Truncated, bit-flipped, extended or re-versioned ciphertext blobs. */
export function mutatedBlob(blob: string): fc.Arbitrary<string> {
  const raw = Buffer.from(blob, 'base64');
  return fc.oneof(
    fc.integer({ min: 0, max: Math.max(0, raw.length - 1) }).map((n) => b64(raw.subarray(0, n))),
    fc.integer({ min: 0, max: raw.length * 8 - 1 }).map((bit) => {
      const copy = Buffer.from(raw);
      copy[bit >> 3]! ^= 1 << (bit & 7);
      return b64(copy);
    }),
    fc.uint8Array({ minLength: 1, maxLength: 32 }).map((extra) => b64(Buffer.concat([raw, Buffer.from(extra)]))),
    fc.integer({ min: 0, max: 255 }).map((v) => {
      const copy = Buffer.from(raw);
      copy[0] = v;
      return b64(copy);
    }),
    fc.constant(blob.slice(0, -1)),
    fc.constant(blob.replace(/[A-Za-z]/, '*')),
  );
}

function nestedArrays(depth: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}
function nestedObjects(depth: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

const ODD_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\uD800',
  '\uDFFF',
  '\uD83D',
  '\u202E',
  '\uFEFF',
  'é',
  'é',
  '\u0301'.repeat(64),
  'ｋｅｙ',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '\r\n\r\nX: y',
  '%00',
  '%',
  '../../etc/passwd',
  "' OR 1=1 --",
  '"; DROP TABLE keys; --',
  `$${'{'}jndi:ldap://x}`,
  '<script>',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  'NaN',
  'true',
  '-1',
  '1e309',
  '0x10',
  '０',
  '٣',
];
const BAD_BASE64 = ['=', '==', '====', 'a', 'ab', 'abc', 'YQ', 'YQ=', 'Y===', '!!!!', 'YW Jj', 'YWJj\n', '-_-_', 'Zm9v\u0000', 'Zm9v====', '=Zm9v', 'Zm9v YmFy'];
const ODD_NUMBERS = [-1, 0, -0, 1.5, -(2 ** 31), 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 2 ** 64, 1e21, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER];

/** Values nobody should send: wrong types, huge and empty strings, odd Unicode, bad base64, odd numbers, nesting. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 15, arbitrary: fc.constantFrom(...ODD_STRINGS) },
  { weight: 15, arbitrary: fc.constantFrom(...BAD_BASE64) },
  { weight: 15, arbitrary: fc.constantFrom(...ODD_NUMBERS) },
  {
    weight: 10,
    arbitrary: fc.oneof(
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => Number(n)),
    ),
  },
  { weight: 10, arbitrary: fc.constantFrom(null, true, false, [], {}, [null], [''], { '': '' }, { __proto__: null, constructor: 1 }) },
  { weight: 15, arbitrary: fc.string({ unit: 'binary', maxLength: 48 }) },
  { weight: 5, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }) },
  { weight: 4, arbitrary: fc.integer({ min: 256, max: 5_000 }).map((n) => 'A'.repeat(n)) },
  // huge strings and base64 (beyond every field limit) are rare: they cost the most to send
  { weight: 1, arbitrary: fc.integer({ min: 5_000, max: 120_000 }).map((n) => 'A'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 40_000 }).map((n) => b64(Buffer.alloc(n, 7))) },
  { weight: 10, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 8, arbitrary: fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.uuid()), { maxLength: 120 }) },
  { weight: 3, arbitrary: fc.integer({ min: 33, max: 1_000 }).map((n) => nestedArrays(n)) },
  { weight: 3, arbitrary: fc.integer({ min: 33, max: 1_000 }).map((n) => nestedObjects(n)) },
  { weight: 5, arbitrary: fc.uuid().map((u) => u.toUpperCase()) },
  { weight: 5, arbitrary: fc.uuid().map((u) => ` ${u}`) },
);

/** A value of the wrong JSON type for the field: validation must refuse it. */
function wrongType(field: Field): fc.Arbitrary<unknown> {
  const s = field.schema;
  const notString = fc.constantFrom<unknown>(0, -1, 1e308, true, [], {}, ['x'], { a: 1 });
  const notNumber = fc.constantFrom<unknown>('1', '', 'x', true, [], {}, [1], 1.5);
  const notArray = fc.constantFrom<unknown>('x', 1, true, {}, { 0: 'x' });
  const notObject = fc.constantFrom<unknown>('x', 1, true, [], [{}]);
  if (s instanceof z.ZodNumber) return notNumber;
  if (s instanceof z.ZodArray) return notArray;
  if (s instanceof z.ZodObject) return notObject;
  return notString;
}

// ---- requests ----------------------------------------------------------------------------

interface Built {
  params: Record<string, unknown>;
  what: string;
  /** The field given a wrong type so that a state-changing action without ids is refused. */
  victim?: { name: string; wrong: unknown };
}

/** Schema-derived parameters with 1–3 hostile changes; respects the safety rule. */
const paramsCache = new WeakMap<FuzzTarget, Map<string, fc.Arbitrary<Built>>>();
function paramsFor(action: string, t: FuzzTarget, region: string, realIdsAllowed: boolean): fc.Arbitrary<Built> {
  let cache = paramsCache.get(t);
  if (!cache) paramsCache.set(t, (cache = new Map()));
  const key = `${action} ${region} ${realIdsAllowed}`;
  let arb = cache.get(key);
  if (!arb) cache.set(key, (arb = buildParams(action, t, region, realIdsAllowed)));
  return arb;
}

function buildParams(action: string, t: FuzzTarget, region: string, realIdsAllowed: boolean): fc.Arbitrary<Built> {
  const fields = fieldsOf(action);
  const readOnly = isReadOnlyAction(action);
  const realIds = realIdsAllowed || readOnly;
  const base = fc.record(
    Object.fromEntries(fields.map((f) => [f.name, fc.option(validValue(f, t, region, realIds), { nil: undefined, freq: f.optional ? 2 : 12 })])),
  ) as fc.Arbitrary<Record<string, unknown>>;
  const names = [...fields.map((f) => f.name), 'Unknown', '__proto__', 'constructor', 'keyid', 'KeyId ', ''];
  const change = fc.record({ name: fc.constantFrom(...names), op: fc.constantFrom('hostile', 'hostile', 'hostile', 'wrongType', 'delete', 'array'), value: hostileValue });
  return fc.tuple(base, fc.array(change, { minLength: 1, maxLength: 3 }), fc.nat()).map(([p, changes, pick]) => {
    const params: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(p)) if (v !== undefined) params[k] = v;
    const done: string[] = [];
    for (const c of changes) {
      const field = fields.find((f) => f.name === c.name);
      if (c.op === 'delete') {
        delete params[c.name];
        done.push(`-${c.name}`);
      } else if (c.op === 'wrongType' && field) {
        params[c.name] = fc.sample(wrongType(field), { numRuns: 1, seed: pick })[0];
        done.push(`${c.name}:type`);
      } else if (c.op === 'array') {
        params[c.name] = [params[c.name] ?? c.value];
        done.push(`${c.name}:[]`);
      } else {
        Object.defineProperty(params, c.name, { value: c.value, enumerable: true, writable: true, configurable: true });
        done.push(`${c.name}:${describeValue(c.value)}`);
      }
    }
    let forced: Built['victim'];
    if (!readOnly && !realIdsAllowed && !fields.some((f) => isIdField(f.name))) {
      // No id to aim at a non-existent key: make sure validation refuses the request.
      const required = fields.filter((f) => !f.optional);
      const victim = (required.length ? required : fields)[pick % Math.max(1, (required.length ? required : fields).length)];
      if (victim) {
        params[victim.name] = fc.sample(wrongType(victim), { numRuns: 1, seed: pick })[0];
        forced = { name: victim.name, wrong: fc.sample(wrongType(victim), { numRuns: 1, seed: pick + 1 })[0] };
        done.push(`${victim.name}:type!`);
      }
    }
    return { params, what: done.join(' '), victim: forced };
  });
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return v.length > 24 ? `str(${v.length})` : JSON.stringify(v);
  if (Array.isArray(v)) return `array(${v.length})`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'object';
  return String(v);
}

function signedPost(t: FuzzTarget, action: string, region: string | undefined, body: string | Buffer, extra: Partial<Parameters<typeof tc3Headers>[0]> = {}): RawRequest {
  return {
    method: 'POST',
    headers: tc3Headers({ host: t.host, secretId: t.secretId, secretKey: t.secretKey, action, version: '2019-01-18', region, body, ...extra }),
    body,
  };
}

// `{"a":1}` with a field listed twice: JSON.parse keeps the last; the signature covers the text.
function withDuplicate(params: Record<string, unknown>, name: string, value: unknown): string {
  const inner = JSON.stringify(params).slice(1, -1);
  return `{${inner}${inner ? ',' : ''}${JSON.stringify(name)}:${JSON.stringify(value) ?? 'null'}}`;
}

const BAD_BODIES: Array<(safe: string) => string | Buffer> = [
  (s) => s.slice(0, Math.max(0, s.length - 1)),
  (s) => `${s}}`,
  (s) => `${s}garbage`,
  (s) => s.replace(/"/, "'"),
  () => '',
  () => ' ',
  () => 'null',
  () => '[]',
  () => '"KeyId"',
  () => '42',
  () => 'true',
  () => '{',
  () => '{"KeyId":}',
  () => '{"KeyId":"a",}',
  () => '{KeyId:"a"}',
  () => '{"KeyId":"\\ud800"}',
  () => '{"KeyId":"\\u0000"}',
  () => '{"a":1e999999}',
  () => '{"a":-1e999999}',
  () => '{"a":123456789012345678901234567890}',
  (s) => `\uFEFF${s}`,
  (s) => Buffer.concat([Buffer.from(s.slice(0, -1)), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('}')]),
  () => Buffer.from([0xc0, 0xaf, 0x7b, 0x7d]),
  () => `{"KeyId":${'['.repeat(30_000)}${']'.repeat(30_000)}}`,
  () => `${'{"a":'.repeat(15_000)}1${'}'.repeat(15_000)}`,
  () => `${'['.repeat(50_000)}`,
  () => `{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}`,
  () => JSON.stringify(Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`F${i}`, i]))),
];

const BAD_CONTENT_TYPES = ['', 'text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/x-www-form-urlencoded'];

/** One arbitrary over every family; `action` drawn from the schema table. */
export function fuzzCase(t: FuzzTarget): fc.Arbitrary<FuzzCase> {
  const actions = [...KMS_ACTIONS];
  const region = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...t.regions) },
    { weight: 1, arbitrary: fc.constantFrom('', 'ap-nowhere', 'AP-HONGKONG', 'null', ' ap-hongkong') },
  );
  const action = fc.constantFrom(...actions);

  const params: fc.Arbitrary<FuzzCase> = fc.tuple(action, region).chain(([a, r]) =>
    paramsFor(a, t, r, false).map(({ params: p, what }) => ({
      family: 'params' as const,
      action: a,
      what: `${r} ${what}`,
      maySucceed: true,
      request: signedPost(t, a, r || undefined, JSON.stringify(p)),
    })),
  );

  const json: fc.Arbitrary<FuzzCase> = fc.tuple(action, fc.constantFrom(...t.regions)).chain(([a, r]) =>
    fc.tuple(paramsFor(a, t, r, false), fc.nat({ max: BAD_BODIES.length }), hostileValue).map(([{ params: p, victim }, which, value]) => {
      const safe = JSON.stringify(p);
      // the last of duplicated names wins: a forced wrong type stays wrong
      const dup = victim ?? { name: Object.keys(p)[0] ?? 'KeyId', wrong: value };
      const body = which === BAD_BODIES.length ? withDuplicate(p, dup.name, dup.wrong) : BAD_BODIES[which]!(safe);
      return {
        family: 'json' as const,
        action: a,
        what: which === BAD_BODIES.length ? `duplicate ${dup.name}` : `bad body #${which}`,
        maySucceed: true,
        request: signedPost(t, a, r, body),
      };
    }),
  );

  const flat: fc.Arbitrary<FuzzCase> = fc.tuple(action, fc.constantFrom(...t.regions)).chain(([a, r]) =>
    fc.tuple(paramsFor(a, t, r, false), fc.constantFrom('v1', 'v1-dup', 'v1-badpct', 'v1-deepname', 'v1-gap', 'get')).map(([{ params: p, what, victim }, kind]) => {
      const entries = flatten(p);
      // Flat forms carry text: a forced wrong type (`Alias: 0`) would read as a valid "0". A
      // nested name under the victim makes it a container, which no scalar field accepts.
      if (victim) entries.push([`${victim.name}.0.x`, 'y']);
      return {
        family: 'flat' as const,
        action: a,
        what: `${kind} ${what}`,
        maySucceed: true,
        request: kind === 'get' ? signedGet(t, a, r, entries) : v1Request(t, a, r, entries, kind),
      };
    }),
  );

  const auth: fc.Arbitrary<FuzzCase> = fc.tuple(action, fc.constantFrom(...t.regions)).chain(([a, r]) =>
    fc.tuple(paramsFor(a, t, r, true), fc.integer({ min: 0, max: 17 }), fc.string({ maxLength: 40 })).map(([{ params: p }, kind, junk]) => {
      const body = JSON.stringify(p);
      const base = { host: t.host, secretId: t.secretId, secretKey: t.secretKey, action: a, version: '2019-01-18', region: r, body };
      let request: RawRequest;
      let what: string;
      const now = Math.floor(Date.now() / 1000);
      switch (kind) {
        case 0:
          what = 'no Authorization';
          request = { method: 'POST', headers: withoutAuth(tc3Headers(base)), body };
          break;
        case 1:
          what = 'Authorization junk';
          request = { method: 'POST', headers: { ...tc3Headers(base), Authorization: junk }, body };
          break;
        case 2:
          what = 'wrong secret key';
          request = { method: 'POST', headers: tc3Headers({ ...base, secretKey: `${t.secretKey}x` }), body };
          break;
        case 3:
          what = 'unknown SecretId';
          request = { method: 'POST', headers: tc3Headers({ ...base, secretId: `AKID${randomUUID().replace(/-/g, '')}` }), body };
          break;
        case 4:
          what = 'expired timestamp';
          request = { method: 'POST', headers: tc3Headers({ ...base, timestamp: now - 3600 }), body };
          break;
        case 5:
          what = 'future timestamp';
          request = { method: 'POST', headers: tc3Headers({ ...base, timestamp: now + 3600 }), body };
          break;
        case 6:
          what = 'body changed after signing';
          request = { method: 'POST', headers: tc3Headers(base), body: `${body.slice(0, -1)},"X":1}`.replace('{,', '{') };
          break;
        case 7:
          what = 'Authorization SKIP';
          request = { method: 'POST', headers: { ...tc3Headers(base), Authorization: 'SKIP' }, body };
          break;
        // HTTP strips a header value's spaces and tabs: a blank token is no token, so send one that survives.
        case 8:
          what = 'X-TC-Token';
          request = { method: 'POST', headers: tc3Headers({ ...base, extraHeaders: { 'X-TC-Token': junk.replace(/^[ \t]+|[ \t]+$/g, '') || 'tok' } }), body };
          break;
        case 9:
          what = 'signature flipped';
          request = { method: 'POST', headers: flipSignature(tc3Headers(base)), body };
          break;
        case 10:
          what = 'scope date wrong';
          request = { method: 'POST', headers: scopeDate(tc3Headers(base), '2001-01-01'), body };
          break;
        case 11:
          what = 'signed for another body';
          request = { method: 'POST', headers: { ...tc3Headers(base), Authorization: tc3Headers({ ...base, body: `${body} ` }).Authorization! }, body };
          break;
        case 12:
          what = 'bad content type';
          request = { method: 'POST', headers: tc3Headers({ ...base, contentType: BAD_CONTENT_TYPES[junk.length % BAD_CONTENT_TYPES.length] }), body };
          break;
        case 13:
          what = 'method';
          request = { method: ['PUT', 'DELETE', 'PATCH', 'OPTIONS'][junk.length % 4]!, headers: tc3Headers(base), body };
          break;
        case 14:
          what = 'unknown action';
          request = signedPost(t, `${a}X`, r, body);
          break;
        case 15:
          what = 'unknown version';
          request = { method: 'POST', headers: tc3Headers({ ...base, version: '2099-01-01' }), body };
          break;
        case 16:
          what = 'v1 bad signature';
          request = v1Request(t, a, r, flatten(p), 'v1', `${t.secretKey}x`);
          break;
        default:
          what = 'v1 unsigned';
          request = v1Request(t, a, r, flatten(p), 'v1-nosig');
          break;
      }
      return { family: 'auth' as const, action: a, what, maySucceed: false, request };
    }),
  );

  const size: fc.Arbitrary<FuzzCase> = fc.tuple(action, fc.constantFrom(...t.regions), fc.integer({ min: 1024 * 1024 + 1, max: 1024 * 1024 + 4096 })).map(([a, r, n]) => ({
    family: 'size' as const,
    action: a,
    what: `body of ${n} bytes`,
    maySucceed: false,
    request: signedPost(t, a, r, `{"Plaintext":"${'A'.repeat(n - 16)}"}`),
  }));

  return fc.oneof(
    { weight: 600, arbitrary: params },
    { weight: 120, arbitrary: json },
    { weight: 100, arbitrary: flat },
    { weight: 180, arbitrary: auth },
    { weight: 1, arbitrary: size },
  );
}

function withoutAuth(h: Record<string, string>): Record<string, string> {
  const { Authorization: _a, ...rest } = h;
  return rest;
}
function flipSignature(h: Record<string, string>): Record<string, string> {
  return { ...h, Authorization: h.Authorization!.replace(/Signature=([0-9a-f])/, (_m, c: string) => `Signature=${c === '0' ? '1' : '0'}`) };
}
function scopeDate(h: Record<string, string>, date: string): Record<string, string> {
  return { ...h, Authorization: h.Authorization!.replace(/\/\d{4}-\d{2}-\d{2}\//, `/${date}/`) };
}

/** The SDKs' flattening (docs/contract/protocol.md#request-forms): `Tags.0.TagKey=k`; leaves written as text. */
export function flatten(params: unknown, prefix = '', depth = 0): Array<[string, string]> {
  if (params === null || params === undefined) return [];
  if (depth > 100) return [[prefix, 'deep']];
  if (Array.isArray(params)) return params.flatMap((v, i) => flatten(v, prefix ? `${prefix}.${i}` : String(i), depth + 1));
  if (typeof params === 'object') return Object.entries(params as Record<string, unknown>).flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k, depth + 1));
  // A form carries UTF-8: a lone surrogate has no encoding (the SDKs would send U+FFFD).
  return [[prefix.toWellFormed(), String(params).toWellFormed()]];
}

const enc = (s: string) => encodeURIComponent(s);

/** A v1 POST form, signed over the decoded values as docs/contract/protocol.md#v1 says; `kind` adds a malformation. */
function v1Request(t: FuzzTarget, action: string, region: string, entries: Array<[string, string]>, kind: string, secretKey = t.secretKey): RawRequest {
  const common: Array<[string, string]> = [
    ['Action', action],
    ['Version', '2019-01-18'],
    ['Region', region],
    ['Timestamp', String(Math.floor(Date.now() / 1000))],
    ['Nonce', String(Math.floor(Math.random() * 2 ** 30))],
    ['SecretId', t.secretId],
    ['SignatureMethod', 'HmacSHA256'],
  ];
  let fields = [...common, ...entries.filter(([k]) => !common.some(([c]) => c === k))];
  if (kind === 'v1-dup' && fields.length) fields = [...fields, fields[fields.length - 1]!];
  if (kind === 'v1-deepname') fields = [...fields, [`${'A.'.repeat(5_000)}B`, 'x']];
  if (kind === 'v1-gap') fields = [...fields, ['KeyIds.0', 'x'], ['KeyIds.2', 'y']];
  const toSign = [...new Map(fields)]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const signature = createHmac('sha256', secretKey).update(`POST${t.host}/?${toSign}`).digest('base64');
  let body = [...fields, ...(kind === 'v1-nosig' ? [] : [['Signature', signature] as [string, string]])].map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  if (kind === 'v1-badpct') body = `${body}&Bad=%E0%A4%A`;
  return { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Host: t.host }, body };
}

/** TC3 GET: the raw query is signed as sent. */
function signedGet(t: FuzzTarget, action: string, region: string, entries: Array<[string, string]>): RawRequest {
  const query = entries.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  const ts = Math.floor(Date.now() / 1000);
  const date = new Date(ts * 1000).toISOString().slice(0, 10);
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  const canonical = ['GET', '/', query, `content-type:application/x-www-form-urlencoded\nhost:${t.host.split(':')[0]}\n`, 'content-type;host', sha('')].join('\n');
  const scope = `${date}/kms/tc3_request`;
  const toSign = ['TC3-HMAC-SHA256', String(ts), scope, sha(canonical)].join('\n');
  const h = (k: Buffer | string, m: string) => createHmac('sha256', k).update(m).digest();
  const signature = createHmac('sha256', h(h(h(`TC3${t.secretKey}`, date), 'kms'), 'tc3_request'))
    .update(toSign)
    .digest('hex');
  return {
    method: 'GET',
    path: `/?${query}`,
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `TC3-HMAC-SHA256 Credential=${t.secretId}/${scope}, SignedHeaders=content-type;host, Signature=${signature}`,
      'X-TC-Action': action,
      'X-TC-Version': '2019-01-18',
      'X-TC-Region': region,
      'X-TC-Timestamp': String(ts),
    },
  };
}
