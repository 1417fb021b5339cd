import { isPlainObject } from '../validation.js';
import { cloudAuditActions, isKmsAction, kmsActions, type CloudAuditAction, type KmsAction } from './index.js';
import { req, struct, type FieldSpec, type FieldType } from './shapes.js';

// Holding a response body against the SDK's model of the action (the registry's `response`),
// for the tests.

// docs/contract/protocol.md#envelope error body; RequestId is present on errors too.
const errorResponseFields: FieldSpec = {
  Error: req(struct({ Code: req('string'), Message: req('string') })),
  RequestId: req('string'),
};

/**
 * Mismatches between a response body and the SDK model of `action`: unknown fields, missing
 * required ones, wrong JSON types, non-integer numbers and negative UInts (which the Go SDK fails
 * to decode, docs/contract/protocol.md#envelope). Takes the `Response` object or the whole `{Response: …}` envelope; an
 * `Error` body is checked against the docs/contract/protocol.md#envelope error shape. Values are never quoted.
 */
export function checkAgainstSdkResponse(action: KmsAction | CloudAuditAction, body: unknown): string[] {
  const inner = isPlainObject(body) && isPlainObject(body.Response) ? body.Response : body;
  if (!isPlainObject(inner)) return ['Response: expected an object'];
  const spec = Object.hasOwn(inner, 'Error') ? errorResponseFields : (isKmsAction(action) ? kmsActions[action] : cloudAuditActions[action]).response;
  const problems: string[] = [];
  checkStruct(spec, inner, '', problems);
  return problems;
}

function checkStruct(spec: FieldSpec, value: Record<string, unknown>, prefix: string, problems: string[]): void {
  for (const name of Object.keys(value)) {
    if (!Object.hasOwn(spec, name)) problems.push(`${prefix}${name}: unknown field`);
  }
  for (const [name, def] of Object.entries(spec)) {
    const field = value[name];
    if (field === undefined || field === null) {
      if (!def.optional) problems.push(`${prefix}${name}: required field is ${field === null ? 'null' : 'missing'}`);
      continue;
    }
    checkValue(def.type, field, `${prefix}${name}`, problems);
  }
}

function checkValue(type: FieldType, value: unknown, path: string, problems: string[]): void {
  if (typeof type === 'string') {
    const ok =
      type === 'string'
        ? typeof value === 'string'
        : type === 'boolean'
          ? typeof value === 'boolean'
          : typeof value === 'number' && Number.isSafeInteger(value) && (type === 'int' || value >= 0);
    if (!ok) {
      const negative = type === 'uint' && typeof value === 'number' && Number.isInteger(value) && value < 0;
      problems.push(`${path}: expected ${type}, got ${negative ? 'a negative integer' : describe(value)}`);
    }
    return;
  }
  if ('list' in type) {
    if (!Array.isArray(value)) {
      problems.push(`${path}: expected array, got ${describe(value)}`);
      return;
    }
    value.forEach((element, index) => checkValue(type.list, element, `${path}.${index}`, problems));
    return;
  }
  if (!isPlainObject(value)) {
    problems.push(`${path}: expected object, got ${describe(value)}`);
    return;
  }
  checkStruct(type.struct, value, `${path}.`, problems);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return 'non-integer number';
    return Number.isSafeInteger(value) ? 'integer' : 'integer beyond 2^53';
  }
  return typeof value;
}
