// CAM policy engine, syntax version 2.0 (docs/contract/cam.md#policy-syntax–docs/contract/cam.md#evaluation). Pure: no I/O.
//
// Semantic choices where docs/contract/cam.md says "unconfirmed":
// - Action and resource matching is case-sensitive; `name/` is optional (`kms:Encrypt`
//   == `name/kms:Encrypt`); `permid/…` entries are accepted and never match (docs/contract/cam.md#policy-syntax).
// - Resources are compared segment by segment (six `:`-separated segments). Inside a
//   segment `*` matches any run of characters, `/` included (`key/*` covers
//   `key/creatorUin/1/abc`); it never crosses a `:`. An empty region segment in a pattern
//   matches every region (docs/contract/cam.md#resources "empty region = all"). A pattern of exactly `*` matches
//   everything, including the `*` that operation-level APIs request; any other pattern
//   never matches the requested `*` (seed 004: naming a resource excludes op-level APIs).
// - Several resources (batch calls): the request is evaluated per resource. Deny if a
//   deny statement matches ANY resource; allow only if EVERY resource is matched by some
//   allow statement (not necessarily the same one); an empty resource list is denied.
// - Conditions: operators ANDed, keys ANDed, values ORed; negated operators
//   (`*_not_*`) are true when the request value matches none of the values. A key absent
//   from the context makes the condition false, except `null_equal` and `_if_exist`
//   (absent → true); this includes `for_all_value:` (unlike AWS, absent is not vacuously
//   true), while a present but empty multi-valued key satisfies `for_all_value:`.
//   A plain operator on a multi-valued key is true when any value satisfies it.
// - Dates: ISO 8601 with an explicit zone (`Z` or `±hh:mm`) or a date alone (UTC), or
//   Unix seconds. IPs: IPv4 and IPv4 CIDR; IPv4-mapped IPv6 request addresses
//   (`::ffff:10.0.0.1`) are compared as IPv4; other IPv6 by literal (lower-case) compare.
// - Actions without IP-condition support (BindCloudResource: the request says `ipCondition`
//   false) are evaluated without `qcs:ip`, so `ip_*` conditions see a missing key.
// - Policy size cap: 6144 characters of the submitted text (JSON.stringify for objects).

export const POLICY_MAX_CHARS = 6144;

export class PolicyError extends Error {
  readonly code = 'MalformedPolicy';
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

export type Effect = 'allow' | 'deny';

export type BaseOperator =
  | 'string_equal'
  | 'string_not_equal'
  | 'string_equal_ignore_case'
  | 'string_not_equal_ignore_case'
  | 'string_like'
  | 'string_not_like'
  | 'numeric_equal'
  | 'numeric_not_equal'
  | 'numeric_less_than'
  | 'numeric_less_than_equal'
  | 'numeric_greater_than'
  | 'numeric_greater_than_equal'
  | 'date_equal'
  | 'date_not_equal'
  | 'date_less_than'
  | 'date_less_than_equal'
  | 'date_greater_than'
  | 'date_greater_than_equal'
  | 'bool_equal'
  | 'binary_equal'
  | 'ip_equal'
  | 'ip_not_equal'
  | 'null_equal';

export type Qualifier = 'for_any_value' | 'for_all_value';

export interface Condition {
  /** The operator as written, e.g. `for_any_value:string_equal_if_exist`. */
  readonly operator: string;
  readonly base: BaseOperator;
  readonly qualifier?: Qualifier;
  readonly ifExist: boolean;
  readonly key: string;
  readonly values: readonly string[];
}

export interface Statement {
  readonly effect: Effect;
  /** Normalised: `*`, `<service>:<name>` (no `name/`), or `permid/…`. */
  readonly action: readonly string[];
  readonly resource: readonly string[];
  readonly condition: readonly Condition[];
}

export interface Policy {
  readonly version: '2.0';
  readonly statement: readonly Statement[];
}

export interface ParseOptions {
  /** KMS action names; when given, non-wildcard `kms:` actions must be in it. */
  readonly knownActions?: ReadonlySet<string>;
}

export type ContextValue = string | number | boolean | Date | readonly string[];

export interface AuthzContext {
  'qcs:ip'?: string;
  'qcs:current_time'?: Date;
  /** `"<tagKey>&<tagValue>"` per tag of the resource. */
  'qcs:resource_tag'?: readonly string[];
  /** `"<tagKey>&<tagValue>"` per tag in the request. */
  'qcs:request_tag'?: readonly string[];
  [key: string]: ContextValue | undefined;
}

export interface AuthzRequest {
  /** API name, e.g. `Encrypt`. */
  readonly action: string;
  readonly service: string;
  /** Every resource the call touches; `['*']` for operation-level APIs. */
  readonly resources: readonly string[];
  readonly context: AuthzContext;
  readonly isRoot: boolean;
  /** false: the action does not support IP conditions (seed 004); `qcs:ip` is not evaluated. */
  readonly ipCondition?: boolean;
}

export interface Decision {
  readonly allowed: boolean;
  readonly reason: 'root' | 'explicit-deny' | 'allow' | 'implicit-deny';
  readonly matched?: { readonly policyIndex: number; readonly statementIndex: number };
}

export function keyResource(region: string, ownerUin: string, creatorUin: string, keyId: string): string {
  return `qcs::kms:${region}:uin/${ownerUin}:key/creatorUin/${creatorUin}/${keyId}`;
}

// ---------------------------------------------------------------------------------------
// Parsing

const BASE_OPERATORS: ReadonlySet<string> = new Set<BaseOperator>([
  'string_equal',
  'string_not_equal',
  'string_equal_ignore_case',
  'string_not_equal_ignore_case',
  'string_like',
  'string_not_like',
  'numeric_equal',
  'numeric_not_equal',
  'numeric_less_than',
  'numeric_less_than_equal',
  'numeric_greater_than',
  'numeric_greater_than_equal',
  'date_equal',
  'date_not_equal',
  'date_less_than',
  'date_less_than_equal',
  'date_greater_than',
  'date_greater_than_equal',
  'bool_equal',
  'binary_equal',
  'ip_equal',
  'ip_not_equal',
  'null_equal',
]);

const STATEMENT_KEYS = new Set(['effect', 'action', 'resource', 'condition']);
const SERVICE_RE = /^[a-z]+$/;
const ACTION_NAME_RE = /^[A-Za-z0-9*]+$/;
const CONDITION_KEY_RE = /^[A-Za-z0-9_-]+:[A-Za-z0-9_\-./&]+$/;
const UIN_ACCOUNT_RE = /^uin\/\d+$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(message: string): never {
  throw new PolicyError(message);
}

export function parsePolicy(json: string | unknown, options: ParseOptions = {}): Policy {
  let doc: unknown;
  if (typeof json === 'string') {
    if (json.length > POLICY_MAX_CHARS) fail(`policy is ${json.length} characters; the limit is ${POLICY_MAX_CHARS}`);
    try {
      doc = JSON.parse(json);
    } catch (e) {
      fail(`policy is not valid JSON: ${(e as Error).message}`);
    }
  } else {
    doc = json;
    const size = JSON.stringify(doc)?.length ?? 0;
    if (size > POLICY_MAX_CHARS) fail(`policy is ${size} characters; the limit is ${POLICY_MAX_CHARS}`);
  }
  if (!isRecord(doc)) fail('policy must be a JSON object');
  for (const k of Object.keys(doc)) {
    if (k !== 'version' && k !== 'statement') fail(`policy has unknown element "${k}"`);
  }
  if (doc.version === undefined) fail('version is required');
  if (doc.version !== '2.0') fail('version must be "2.0"');
  const raw = doc.statement;
  if (raw === undefined) fail('statement is required');
  let list: unknown[];
  if (Array.isArray(raw)) {
    if (raw.length === 0) fail('statement must not be empty');
    list = raw;
  } else if (isRecord(raw)) {
    list = [raw];
  } else {
    fail('statement must be an object or an array of objects');
  }
  return { version: '2.0', statement: list.map((s, i) => parseStatement(s, `statement[${i}]`, options)) };
}

function parseStatement(s: unknown, at: string, options: ParseOptions): Statement {
  if (!isRecord(s)) fail(`${at} must be an object`);
  for (const k of Object.keys(s)) {
    if (k === 'principal') fail(`${at}.principal is not allowed in an identity policy`);
    if (k === 'not_action' || k === 'not_resource') fail(`${at}.${k} is not supported`);
    if (!STATEMENT_KEYS.has(k)) fail(`${at} has unknown element "${k}"`);
  }
  if (s.effect === undefined) fail(`${at}.effect is required`);
  if (s.effect !== 'allow' && s.effect !== 'deny') fail(`${at}.effect must be "allow" or "deny"`);
  const action = stringList(s.action, `${at}.action`).map((a, i) => parseAction(a, `${at}.action[${i}]`, options));
  const resource = stringList(s.resource, `${at}.resource`).map((r, i) => parseResource(r, `${at}.resource[${i}]`));
  const condition = s.condition === undefined ? [] : parseConditionBlock(s.condition, `${at}.condition`);
  return { effect: s.effect, action, resource, condition };
}

function stringList(v: unknown, at: string): string[] {
  if (v === undefined) fail(`${at} is required`);
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) fail(`${at} must not be empty`);
  list.forEach((x, i) => {
    if (typeof x !== 'string') fail(Array.isArray(v) ? `${at}[${i}] must be a string` : `${at} must be a string or an array of strings`);
  });
  return list as string[];
}

function parseAction(a: string, at: string, options: ParseOptions): string {
  if (a === '*') return '*';
  if (a.startsWith('permid/')) {
    if (a.length === 'permid/'.length) fail(`${at} "${a}" has an empty permission id`);
    return a;
  }
  const body = a.startsWith('name/') ? a.slice('name/'.length) : a;
  const colon = body.indexOf(':');
  if (colon < 0) fail(`${at} "${a}" must have the form name/<service>:<action>`);
  const service = body.slice(0, colon);
  const name = body.slice(colon + 1);
  if (!SERVICE_RE.test(service)) fail(`${at} "${a}" has an invalid service "${service}" (expected lower-case letters)`);
  if (name === '') fail(`${at} "${a}" has an empty action name`);
  if (!ACTION_NAME_RE.test(name)) fail(`${at} "${a}" has an invalid action name "${name}"`);
  if (service === 'kms' && !name.includes('*') && options.knownActions && !options.knownActions.has(name)) {
    fail(`${at} "${a}" is not a known kms action`);
  }
  return `${service}:${name}`;
}

function parseResource(r: string, at: string): string {
  if (r === '*') return r;
  const seg = r.split(':');
  if (seg.length !== 6) fail(`${at} "${r}" must have six segments qcs:<project>:<service>:<region>:<account>:<resource> (found ${seg.length})`);
  const [qcs, , service, , account, resource] = seg;
  if (qcs !== 'qcs') fail(`${at} "${r}" must start with "qcs:"`);
  if (service === '') fail(`${at} "${r}" has an empty service segment`);
  if (!service.includes('*') && !SERVICE_RE.test(service)) fail(`${at} "${r}" has an invalid service "${service}"`);
  if (!account.includes('*') && !UIN_ACCOUNT_RE.test(account)) fail(`${at} "${r}" account must be uin/<digits> (found "${account}")`);
  if (resource === '') fail(`${at} "${r}" has an empty resource segment`);
  return r;
}

function parseOperator(op: string, at: string): { base: BaseOperator; qualifier?: Qualifier; ifExist: boolean } {
  let rest = op;
  let qualifier: Qualifier | undefined;
  for (const q of ['for_any_value', 'for_all_value'] as const) {
    if (rest.startsWith(`${q}:`)) {
      qualifier = q;
      rest = rest.slice(q.length + 1);
      break;
    }
  }
  let ifExist = false;
  if (rest.endsWith('_if_exist')) {
    ifExist = true;
    rest = rest.slice(0, -'_if_exist'.length);
  }
  if (!BASE_OPERATORS.has(rest)) fail(`${at}: unknown condition operator "${op}"`);
  if (rest === 'null_equal' && (qualifier || ifExist)) fail(`${at}: null_equal cannot take a qualifier or _if_exist ("${op}")`);
  return { base: rest as BaseOperator, qualifier, ifExist };
}

function parseConditionBlock(c: unknown, at: string): Condition[] {
  if (!isRecord(c)) fail(`${at} must be an object`);
  const ops = Object.entries(c);
  if (ops.length === 0) fail(`${at} must not be empty`);
  const out: Condition[] = [];
  for (const [operator, block] of ops) {
    const opAt = `${at}.${operator}`;
    const { base, qualifier, ifExist } = parseOperator(operator, at);
    if (!isRecord(block)) fail(`${opAt} must be an object of condition keys`);
    const keys = Object.entries(block);
    if (keys.length === 0) fail(`${opAt} must not be empty`);
    for (const [key, raw] of keys) {
      const keyAt = `${opAt}["${key}"]`;
      if (!CONDITION_KEY_RE.test(key)) fail(`${opAt}: invalid condition key "${key}"`);
      const list = Array.isArray(raw) ? raw : [raw];
      if (list.length === 0) fail(`${keyAt} must not be empty`);
      const values = list.map((v, i) => {
        const vAt = Array.isArray(raw) ? `${keyAt}[${i}]` : keyAt;
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
          fail(`${vAt} must be a string, number or boolean`);
        }
        const s = String(v);
        checkValue(base, s, vAt);
        return s;
      });
      out.push({ operator, base, qualifier, ifExist, key, values });
    }
  }
  return out;
}

function checkValue(base: BaseOperator, v: string, at: string): void {
  if (base.startsWith('numeric_')) {
    if (parseNumber(v) === undefined) fail(`${at} "${v}" is not a number`);
  } else if (base.startsWith('date_')) {
    if (parseDate(v) === undefined) fail(`${at} "${v}" is not an ISO 8601 date with a zone or Unix seconds`);
  } else if (base === 'bool_equal' || base === 'null_equal') {
    if (v !== 'true' && v !== 'false') fail(`${at} "${v}" must be true or false`);
  } else if (base === 'binary_equal') {
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v)) fail(`${at} "${v}" is not base64`);
  } else if (base === 'ip_equal' || base === 'ip_not_equal') {
    if (parseIpPattern(v) === undefined) fail(`${at} "${v}" is not an IPv4 address, IPv4 CIDR block or IPv6 address`);
  }
}

// ---------------------------------------------------------------------------------------
// Value helpers

function parseNumber(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (!/^-?\d+(\.\d+)?$/.test(v)) return undefined;
  return Number(v);
}

const ISO_DATE_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** Milliseconds since the epoch. Unix values are seconds. */
function parseDate(v: string | number | Date): number | undefined {
  if (v instanceof Date) {
    const t = v.getTime();
    return Number.isNaN(t) ? undefined : t;
  }
  if (typeof v === 'number') return Number.isFinite(v) ? v * 1000 : undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!ISO_DATE_RE.test(v)) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i];
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const b = Number(part);
    if (b > 255) return undefined;
    n = n * 256 + b;
  }
  return n;
}

type IpPattern = { v4: true; base: number; prefix: number } | { v4: false; literal: string };

function isIpv6Literal(s: string): boolean {
  return s.includes(':') && /^[0-9A-Fa-f:.]+$/.test(s) && !s.includes(':::') && (s.match(/::/g)?.length ?? 0) <= 1;
}

function parseIpPattern(s: string): IpPattern | undefined {
  const slash = s.indexOf('/');
  if (slash >= 0) {
    const addr = parseIpv4(s.slice(0, slash));
    const p = s.slice(slash + 1);
    if (addr === undefined || !/^\d{1,2}$/.test(p) || Number(p) > 32) return undefined;
    return { v4: true, base: addr, prefix: Number(p) };
  }
  const addr = parseIpv4(s);
  if (addr !== undefined) return { v4: true, base: addr, prefix: 32 };
  if (isIpv6Literal(s)) return { v4: false, literal: s.toLowerCase() };
  return undefined;
}

function parseRequestIp(s: string): { v4: true; addr: number } | { v4: false; literal: string } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  const addr = parseIpv4(mapped ? mapped[1] : s);
  if (addr !== undefined) return { v4: true, addr };
  if (isIpv6Literal(s)) return { v4: false, literal: s.toLowerCase() };
  return undefined;
}

function ipMatches(request: string, pattern: string): boolean | undefined {
  const r = parseRequestIp(request);
  const p = parseIpPattern(pattern);
  if (!r || !p) return undefined;
  if (r.v4 !== p.v4) return false;
  if (!r.v4 || !p.v4) return !r.v4 && !p.v4 && r.literal === p.literal;
  const size = 2 ** (32 - p.prefix);
  return Math.floor(r.addr / size) === Math.floor(p.base / size);
}

const globCache = new Map<string, RegExp>();

/** `*` → any run (including `/`); `?` → one character when `withQuestion`. */
function glob(pattern: string, withQuestion: boolean): RegExp {
  const cacheKey = `${withQuestion ? '?' : '-'}${pattern}`;
  let re = globCache.get(cacheKey);
  if (!re) {
    let src = '';
    for (const ch of pattern) {
      if (ch === '*') src += '.*';
      else if (ch === '?' && withQuestion) src += '.';
      else src += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
    re = new RegExp(`^${src}$`, 's');
    if (globCache.size > 10_000) globCache.clear();
    globCache.set(cacheKey, re);
  }
  return re;
}

// ---------------------------------------------------------------------------------------
// Matching

function actionMatches(pattern: string, service: string, action: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('permid/')) return false;
  const colon = pattern.indexOf(':');
  if (pattern.slice(0, colon) !== service) return false;
  const name = pattern.slice(colon + 1);
  return name.includes('*') ? glob(name, false).test(action) : name === action;
}

function resourceMatches(pattern: string, resource: string): boolean {
  if (pattern === '*') return true;
  if (resource === '*') return false;
  const p = pattern.split(':');
  const r = resource.split(':');
  if (r.length !== 6) return false;
  for (let i = 0; i < 6; i++) {
    if (i === 3 && p[i] === '') continue; // empty region in a pattern = every region (docs/contract/cam.md#resources)
    if (p[i].includes('*') ? !glob(p[i], false).test(r[i]) : p[i] !== r[i]) return false;
  }
  return true;
}

type Scalar = string | number | boolean | Date;

const NEGATED: ReadonlySet<BaseOperator> = new Set<BaseOperator>([
  'string_not_equal',
  'string_not_equal_ignore_case',
  'string_not_like',
  'numeric_not_equal',
  'date_not_equal',
  'ip_not_equal',
]);

const POSITIVE_OF: Partial<Record<BaseOperator, BaseOperator>> = {
  string_not_equal: 'string_equal',
  string_not_equal_ignore_case: 'string_equal_ignore_case',
  string_not_like: 'string_like',
  numeric_not_equal: 'numeric_equal',
  date_not_equal: 'date_equal',
  ip_not_equal: 'ip_equal',
};

function asString(v: Scalar): string {
  return v instanceof Date ? v.toISOString() : String(v);
}

/** One request value against one policy value; undefined = type mismatch. */
function compareOne(op: BaseOperator, req: Scalar, pol: string): boolean | undefined {
  switch (op) {
    case 'string_equal':
      return asString(req) === pol;
    case 'string_equal_ignore_case':
      return asString(req).toLowerCase() === pol.toLowerCase();
    case 'string_like':
      return glob(pol, true).test(asString(req));
    case 'binary_equal':
      return asString(req) === pol;
    case 'bool_equal': {
      const b = typeof req === 'boolean' ? req : req === 'true' ? true : req === 'false' ? false : undefined;
      return b === undefined ? undefined : String(b) === pol;
    }
    case 'ip_equal':
      return typeof req === 'string' ? ipMatches(req, pol) : undefined;
    default:
      break;
  }
  if (op.startsWith('numeric_')) {
    const a = typeof req === 'number' || typeof req === 'string' ? parseNumber(req) : undefined;
    const b = parseNumber(pol);
    return a === undefined || b === undefined ? undefined : ordered(op.slice('numeric_'.length), a, b);
  }
  if (op.startsWith('date_')) {
    const a = typeof req === 'boolean' ? undefined : parseDate(req);
    const b = parseDate(pol);
    return a === undefined || b === undefined ? undefined : ordered(op.slice('date_'.length), a, b);
  }
  return undefined;
}

function ordered(rel: string, a: number, b: number): boolean {
  switch (rel) {
    case 'equal':
      return a === b;
    case 'less_than':
      return a < b;
    case 'less_than_equal':
      return a <= b;
    case 'greater_than':
      return a > b;
    case 'greater_than_equal':
      return a >= b;
    default:
      return false;
  }
}

/** One request value against the ORed policy values; negated operators: matches none. */
function valueSatisfies(op: BaseOperator, req: Scalar, values: readonly string[]): boolean {
  const positive = POSITIVE_OF[op] ?? op;
  let any = false;
  for (const v of values) {
    const r = compareOne(positive, req, v);
    if (r === undefined) return false; // a type mismatch never satisfies, negated or not
    if (r) any = true;
  }
  return NEGATED.has(op) ? !any : any;
}

function conditionHolds(c: Condition, context: AuthzContext): boolean {
  const raw = context[c.key];
  const absent = raw === undefined;
  if (c.base === 'null_equal') return c.values.some((v) => (v === 'true') === absent);
  if (absent) return c.ifExist;
  const list: readonly Scalar[] = Array.isArray(raw) ? raw : [raw as Scalar];
  if (c.qualifier === 'for_all_value') return list.every((v) => valueSatisfies(c.base, v, c.values));
  return list.some((v) => valueSatisfies(c.base, v, c.values));
}

function statementApplies(s: Statement, service: string, action: string, context: AuthzContext): boolean {
  return s.action.some((a) => actionMatches(a, service, action)) && s.condition.every((c) => conditionHolds(c, context));
}

// ---------------------------------------------------------------------------------------
// Evaluation (docs/contract/cam.md#evaluation)

export function evaluate(request: AuthzRequest, policies: readonly Policy[]): Decision {
  if (request.isRoot) return { allowed: true, reason: 'root' };
  if (request.resources.length === 0) return { allowed: false, reason: 'implicit-deny' };

  let context = request.context;
  if (request.ipCondition === false && context['qcs:ip'] !== undefined) {
    // Seed 004: IP restriction not supported for this API — the key is not available.
    const { 'qcs:ip': _dropped, ...rest } = context;
    context = rest;
  }

  const applicable: { policyIndex: number; statementIndex: number; s: Statement }[] = [];
  policies.forEach((p, policyIndex) =>
    p.statement.forEach((s, statementIndex) => {
      if (statementApplies(s, request.service, request.action, context)) applicable.push({ policyIndex, statementIndex, s });
    }),
  );

  for (const a of applicable) {
    if (a.s.effect === 'deny' && request.resources.some((r) => a.s.resource.some((p) => resourceMatches(p, r)))) {
      return { allowed: false, reason: 'explicit-deny', matched: { policyIndex: a.policyIndex, statementIndex: a.statementIndex } };
    }
  }

  let first: { policyIndex: number; statementIndex: number } | undefined;
  for (const r of request.resources) {
    const a = applicable.find((x) => x.s.effect === 'allow' && x.s.resource.some((p) => resourceMatches(p, r)));
    if (!a) return { allowed: false, reason: 'implicit-deny' };
    first ??= { policyIndex: a.policyIndex, statementIndex: a.statementIndex };
  }
  return { allowed: true, reason: 'allow', matched: first };
}

// ---------------------------------------------------------------------------------------
// Preset policies

// The read-only preset lists its actions, given by the caller, rather than `Describe*`/`List*`/
// `Get*`, which would also grant reads of key material (docs/contract/cam.md#examples).
export type PresetPolicyName = 'QcloudKMSFullAccess' | 'QcloudKMSReadOnlyAccess';

export function presetPolicies(readOnlyActions: readonly string[]): Readonly<Record<PresetPolicyName, Policy>> {
  return Object.freeze({
    QcloudKMSFullAccess: parsePolicy({ version: '2.0', statement: [{ effect: 'allow', action: ['name/kms:*'], resource: ['*'] }] }),
    QcloudKMSReadOnlyAccess: parsePolicy({ version: '2.0', statement: [{ effect: 'allow', action: readOnlyActions.map((a) => `name/kms:${a}`), resource: ['*'] }] }),
  });
}
