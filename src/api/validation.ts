import { z } from 'zod';
import type { TencentErrorCode } from './error-codes.js';
import { ParameterError } from './errors.js';

// Request validation for every action (KMS and CloudAudit): the action's zod schema holds the
// rules, this engine the wire's reading of them — flat-form coercion (docs/contract/protocol.md#request-forms), JSON null as "not
// given", '' as "not given" where the SDK says so, and the docs/contract/protocol.md#processing-step-6 choice of error code.
// § numbers refer to docs/contract.

// A value rule broken at a field reports that field's sub-code where docs/contract/actions.md names one (docs/contract/protocol.md#processing-step-6);
// type errors stay InvalidParameter and absent fields MissingParameter, unless the action's list
// has a code for exactly that (LookUpEvents' InvalidParameter.Time: "start and end time must be
// given, as integers").
export interface FieldCodes {
  readonly value?: TencentErrorCode;
  readonly type?: TencentErrorCode;
  readonly missing?: TencentErrorCode;
}
const fieldCodes = new WeakMap<z.ZodType, FieldCodes>();
export function coded<T extends z.ZodType>(schema: T, code: TencentErrorCode | FieldCodes): T {
  fieldCodes.set(schema, typeof code === 'string' ? { value: code } : code);
  return schema;
}

// Optional fields whose documented meaning for '' is "not given" (SDK comments: "若为空…"):
// dropped before validation so handlers see one absent state, not two.
const emptyIsAbsent = new WeakSet<z.ZodType>();
export function optionalOrEmpty<T extends z.ZodType>(schema: T): z.ZodOptional<T> {
  const optional = schema.optional();
  emptyIsAbsent.add(optional);
  return optional;
}

/**
 * `json`: a TC3 JSON body, already typed — nothing is coerced, so `"Type":"1"` is
 * InvalidParameter. `flat`: v1 form / GET query after unflattenParams, every leaf a string —
 * leaves are coerced to the schema's type first (docs/contract/protocol.md#request-forms): canonical decimal integers to numbers,
 * `true`/`false` to booleans; anything else stays a string and fails as InvalidParameter.
 * Throws ParameterError; returns the request with unknown fields removed and '' dropped from
 * fields where the SDK defines '' as "not given".
 */
export function validateParams<S extends z.ZodObject>(schema: S, params: Record<string, unknown>, form: 'json' | 'flat'): z.output<S> {
  if (!isPlainObject(params)) {
    throw new ParameterError('InvalidParameter', '', 'The request parameters must be a JSON object.');
  }
  const typed = form === 'flat' ? coerceFlat(schema, params) : withoutNulls(params);
  const input = withoutEmptyOptionals(schema, typed as Record<string, unknown>);
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw toParameterError(schema, input, result.error.issues);
}

const CANONICAL_INTEGER = /^(?:0|-?[1-9][0-9]*)$/;

function coerceFlat(schema: z.ZodType, value: unknown): unknown {
  const target = unwrapOptional(schema);
  if (typeof value === 'string') {
    switch (kindOf(target)) {
      case 'integer':
        return CANONICAL_INTEGER.test(value) ? Number(value) : value;
      case 'boolean':
        return value === 'true' ? true : value === 'false' ? false : value;
      default:
        return value;
    }
  }
  if (Array.isArray(value) && target instanceof z.ZodArray) {
    return value.map((element) => coerceFlat(target.element as z.ZodType, element));
  }
  if (isPlainObject(value) && target instanceof z.ZodObject) {
    const shape = target.shape as Record<string, z.ZodType>;
    return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, Object.hasOwn(shape, key) ? coerceFlat(shape[key], field) : field]));
  }
  return value;
}

// docs/contract/protocol.md#request-forms: SDKs omit null fields, so a JSON null is "not provided", at any depth.
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, field]) => field !== null)
      .map(([key, field]) => [key, withoutNulls(field)]),
  );
}

function withoutEmptyOptionals(schema: z.ZodObject, params: Record<string, unknown>): Record<string, unknown> {
  const shape = schema.shape as Record<string, z.ZodType>;
  return Object.fromEntries(Object.entries(params).filter(([key, value]) => !(value === '' && Object.hasOwn(shape, key) && emptyIsAbsent.has(shape[key]))));
}

type Kind = 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object';

function unwrapOptional(schema: z.ZodType): z.ZodType {
  let inner = schema;
  while (inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  return inner;
}

function kindOf(schema: z.ZodType): Kind | undefined {
  const inner = unwrapOptional(schema);
  if (inner instanceof z.ZodString || inner instanceof z.ZodEnum) return 'string';
  if (inner instanceof z.ZodNumber) return inner.isInt ? 'integer' : 'number';
  if (inner instanceof z.ZodBoolean) return 'boolean';
  if (inner instanceof z.ZodArray) return 'array';
  if (inner instanceof z.ZodObject) return 'object';
  return undefined;
}

function hasKind(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isPlainObject(value);
  }
}

const KIND_NAMES: Record<Kind, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  array: 'an array',
  object: 'an object',
};

type PathSegment = string | number;

function schemaAt(root: z.ZodType, path: readonly PathSegment[]): z.ZodType | undefined {
  let node: z.ZodType | undefined = root;
  for (const segment of path) {
    const inner: z.ZodType = unwrapOptional(node);
    if (inner instanceof z.ZodObject && typeof segment === 'string') {
      const shape = inner.shape as Record<string, z.ZodType>;
      node = Object.hasOwn(shape, segment) ? shape[segment] : undefined;
    } else if (inner instanceof z.ZodArray && typeof segment === 'number') {
      node = inner.element as z.ZodType;
    } else {
      node = undefined;
    }
    if (node === undefined) return undefined;
  }
  return node;
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let node = root;
  for (const segment of path) {
    if (Array.isArray(node) && typeof segment === 'number') node = node[segment];
    else if (isPlainObject(node) && typeof segment === 'string' && Object.hasOwn(node, segment)) node = node[segment];
    else return undefined;
  }
  return node;
}

function codesOf(schema: z.ZodType | undefined): FieldCodes | undefined {
  return schema && (fieldCodes.get(schema) ?? fieldCodes.get(unwrapOptional(schema)));
}

// docs/contract/protocol.md#processing-step-6: absent → MissingParameter, wrong JSON type → InvalidParameter, bad value →
// InvalidParameterValue or the field's sub-code. Classification looks at the value itself, not at
// zod's issue kinds (z.enum reports a number as an invalid option, not a wrong type). With several
// problems the most basic class wins, then the first in field order.
function toParameterError(schema: z.ZodObject, input: unknown, issues: readonly z.core.$ZodIssue[]): ParameterError {
  let best: { rank: number; error: ParameterError } | undefined;
  for (const issue of issues) {
    const path = issue.path.filter((segment): segment is PathSegment => typeof segment !== 'symbol');
    const field = path.join('.');
    const value = valueAt(input, path);
    const target = schemaAt(schema, path);
    const kind = target ? kindOf(target) : undefined;
    let rank: number;
    let error: ParameterError;
    if (value === undefined) {
      rank = 0;
      const reason = issue.code === 'custom' ? `: ${issue.message}` : '';
      error = new ParameterError(codesOf(target)?.missing ?? 'MissingParameter', field, `The request is missing a required parameter \`${field}\`${reason}.`);
    } else if (kind !== undefined && !hasKind(value, kind)) {
      rank = 1;
      error = new ParameterError(codesOf(target)?.type ?? 'InvalidParameter', field, `Parameter \`${field}\` must be ${KIND_NAMES[kind]}.`);
    } else {
      rank = 2;
      // A rule's own code (`params: { code }`, written with `satisfies TencentErrorCode`).
      const params = issue.code === 'custom' ? (issue.params as { code?: unknown } | undefined) : undefined;
      const code = (typeof params?.code === 'string' ? (params.code as TencentErrorCode) : undefined) ?? codesOf(target)?.value ?? 'InvalidParameterValue';
      // Only messages our schemas write start with "must"; zod's own wording is quoted.
      const reason = issue.message.startsWith('must ') ? issue.message : `is invalid (${issue.message})`;
      error = new ParameterError(code, field, `Parameter \`${field || 'request'}\` ${reason}.`);
    }
    if (best === undefined || rank < best.rank) best = { rank, error };
  }
  return best?.error ?? new ParameterError('InvalidParameter', '', 'The request parameters are invalid.');
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
