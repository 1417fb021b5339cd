import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { z } from 'zod';
import { cloudAuditActions, isKmsAction, KMS_ACTIONS, kmsActions, kmsRequestSchemas, validateKmsParams, type KmsAction } from '../../src/api/actions/index.js';
import { checkAgainstSdkResponse } from '../../src/api/actions/response-check.js';
import type { FieldType } from '../../src/api/actions/shapes.js';
import { ParameterError } from '../../src/api/errors.js';
import { validateParams } from '../../src/api/validation.js';

// The SDK's own model files are the authority (docs/contract/README.md#sources): read them at test time so a
// schema or an SDK upgrade that drifts fails here.
const require = createRequire(import.meta.url);
const sdkDir = join(dirname(require.resolve('tencentcloud-sdk-nodejs/package.json')), 'tencentcloud/services/kms/v20190118');

function parseDts(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(join(sdkDir, file), 'utf8'), ts.ScriptTarget.ES2022, true);
}

const clientActions: string[] = (() => {
  const source = parseDts('kms_client.d.ts');
  const names: string[] = [];
  source.forEachChild((node) => {
    if (!ts.isClassDeclaration(node)) return;
    for (const member of node.members) {
      if (ts.isMethodDeclaration(member) && ts.isIdentifier(member.name) && /^[A-Z]/.test(member.name.text)) {
        names.push(member.name.text);
      }
    }
  });
  return names.sort();
})();

// Model name → its members (a `= null` alias is an empty request). CloudAudit's LookUpEvents
// models come from that service's own model file.
type Models = Map<string, readonly ts.PropertySignature[]>;
function readModels(source: ts.SourceFile): Models {
  const models: Models = new Map();
  source.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node)) models.set(node.name.text, node.members.filter(ts.isPropertySignature));
    else if (ts.isTypeAliasDeclaration(node)) models.set(node.name.text, []);
  });
  return models;
}
const kmsModels = readModels(parseDts('kms_models.d.ts'));
const cloudAuditDir = join(dirname(require.resolve('tencentcloud-sdk-nodejs/package.json')), 'tencentcloud/services/cloudaudit/v20190319');
const cloudAuditModels = readModels(
  ts.createSourceFile('cloudaudit_models.d.ts', readFileSync(join(cloudAuditDir, 'cloudaudit_models.d.ts'), 'utf8'), ts.ScriptTarget.ES2022, true),
);

// A neutral description both sides reduce to: JSON type, array element, struct fields, optionality.
type Shape = string | { array: Shape } | { object: Record<string, { optional: boolean; type: Shape }> };

function sdkShape(typeNode: ts.TypeNode, models: Models): Shape {
  if (typeNode.kind === ts.SyntaxKind.StringKeyword) return 'string';
  if (typeNode.kind === ts.SyntaxKind.NumberKeyword) return 'number';
  if (typeNode.kind === ts.SyntaxKind.BooleanKeyword) return 'boolean';
  if (ts.isTypeReferenceNode(typeNode)) {
    const name = typeNode.typeName.getText();
    if (name === 'Array' && typeNode.typeArguments?.length === 1) return { array: sdkShape(typeNode.typeArguments[0], models) };
    return { object: sdkModel(name, models) };
  }
  throw new Error(`unhandled SDK type ${typeNode.getText()}`);
}

function sdkModel(name: string, models: Models = kmsModels): Record<string, { optional: boolean; type: Shape }> {
  const members = models.get(name);
  if (!members) throw new Error(`SDK model ${name} not found`);
  return Object.fromEntries(members.map((member) => [member.name.getText(), { optional: member.questionToken !== undefined, type: sdkShape(member.type!, models) }]));
}

function zodShape(schema: z.ZodType): { optional: boolean; type: Shape } {
  let inner = schema;
  let optional = false;
  while (inner instanceof z.ZodOptional) {
    optional = true;
    inner = inner.unwrap() as z.ZodType;
  }
  if (inner instanceof z.ZodString || inner instanceof z.ZodEnum) return { optional, type: 'string' };
  if (inner instanceof z.ZodNumber) {
    // Every KMS number is an Int or UInt.
    expect(inner.isInt).toBe(true);
    return { optional, type: 'number' };
  }
  if (inner instanceof z.ZodBoolean) return { optional, type: 'boolean' };
  if (inner instanceof z.ZodArray) return { optional, type: { array: zodShape(inner.element as z.ZodType).type } };
  if (inner instanceof z.ZodObject) return { optional, type: { object: zodObjectShape(inner) } };
  throw new Error(`unhandled zod type ${inner.type}`);
}

function zodObjectShape(schema: z.ZodObject): Record<string, { optional: boolean; type: Shape }> {
  return Object.fromEntries(Object.entries(schema.shape as Record<string, z.ZodType>).map(([name, field]) => [name, zodShape(field)]));
}

function specShape(type: FieldType): Shape {
  if (typeof type === 'string') return type === 'int' || type === 'uint' ? 'number' : type;
  if ('list' in type) return { array: specShape(type.list) };
  return {
    object: Object.fromEntries(Object.entries(type.struct).map(([name, def]) => [name, { optional: def.optional, type: specShape(def.type) }])),
  };
}

const KEY_ID = '23e80852-1e38-11e9-b129-5cb9019b4b01';
const OTHER_KEY_ID = '0b9ee47c-3e4a-11ee-9d7a-5254000f1c4d';
const DATA_KEY_ID = '8a3f2b1c-5d6e-11ef-a1b2-525400c3d4e5';

function keyIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`);
}

function failure(action: KmsAction, params: Record<string, unknown>, form: 'json' | 'flat' = 'json'): ParameterError {
  try {
    validateKmsParams(action, params, form);
  } catch (error) {
    if (error instanceof ParameterError) return error;
    throw error;
  }
  throw new Error(`${action} accepted ${JSON.stringify(params)}`);
}

describe('action table matches the CN SDK client', () => {
  it('has a request schema and a response spec for every client action, and nothing else', () => {
    expect(clientActions).toHaveLength(69);
    expect([...KMS_ACTIONS].sort()).toEqual(clientActions);
    expect(Object.keys(kmsRequestSchemas).sort()).toEqual(clientActions);
    expect(Object.keys(kmsActions).sort()).toEqual(clientActions);
    expect(isKmsAction('Encrypt')).toBe(true);
    expect(isKmsAction('encrypt')).toBe(false);
    expect(isKmsAction('toString')).toBe(false);
  });

  it.each(clientActions)('%s request schema has exactly the SDK request fields, optionality and types', (action) => {
    const schema: z.ZodObject = kmsRequestSchemas[action as KmsAction];
    expect(zodObjectShape(schema)).toEqual(sdkModel(`${action}Request`));
  });

  it.each(clientActions)('%s response spec has exactly the SDK response fields, optionality and types', (action) => {
    expect(specShape({ struct: kmsActions[action as KmsAction].response })).toEqual({ object: sdkModel(`${action}Response`) });
  });

  it.each(['LookUpEvents', 'DescribeEvents'] as const)('%s (CloudAudit) request schema and response spec have exactly the SDK fields', (action) => {
    expect(zodObjectShape(cloudAuditActions[action].schema)).toEqual(sdkModel(`${action}Request`, cloudAuditModels));
    expect(specShape({ struct: cloudAuditActions[action].response })).toEqual({ object: sdkModel(`${action}Response`, cloudAuditModels) });
  });
});

describe('flat form coerces string leaves to the schema type (docs/contract/protocol.md#request-forms)', () => {
  const flatCreateKey = { Alias: 'a', KeyUsage: 'ENCRYPT_DECRYPT', Type: '1', Tags: [{ TagKey: 'k', TagValue: 'v' }] };

  it('turns canonical decimal text into an integer', () => {
    const request = validateKmsParams('CreateKey', flatCreateKey, 'flat');
    expect(request).toEqual({ Alias: 'a', KeyUsage: 'ENCRYPT_DECRYPT', Type: 1, Tags: [{ TagKey: 'k', TagValue: 'v' }] });
  });

  it.each(['1.0', '01', '+1', ' 1', '1e0', '0x1', ''])('leaves non-canonical integer text %j a string → InvalidParameter', (type) => {
    const error = failure('CreateKey', { ...flatCreateKey, Type: type }, 'flat');
    expect(error.code).toBe('InvalidParameter');
    expect(error.field).toBe('Type');
    expect(error.message).toContain('`Type`');
  });

  it('coerces nested integers (MemberAccount, MemberAccounts.N)', () => {
    const request = validateKmsParams(
      'ListKeyDetail',
      { Limit: '200', MemberAccounts: [{ MemberUin: '100000000001', MemberAppId: '0' }], TagFilters: [{ TagKey: 'env', TagValue: ['1'] }] },
      'flat',
    );
    expect(request.Limit).toBe(200);
    expect(request.MemberAccounts).toEqual([{ MemberUin: 100000000001, MemberAppId: 0 }]);
    // Strings stay strings even when they look like numbers.
    expect(request.TagFilters).toEqual([{ TagKey: 'env', TagValue: ['1'] }]);
  });

  it('keeps digit-only strings as strings where the schema wants a string', () => {
    expect(validateKmsParams('CreateKey', { Alias: '123' }, 'flat').Alias).toBe('123');
  });

  it('still range-checks coerced numbers: -1 for a UInt is a value error', () => {
    expect(failure('ListKeys', { Offset: '-1' }, 'flat').code).toBe('InvalidParameterValue');
  });
});

describe('json form is typed as sent', () => {
  it('refuses a number sent as a string with InvalidParameter', () => {
    const error = failure('CreateKey', { Alias: 'a', Type: '1' });
    expect(error.code).toBe('InvalidParameter');
    expect(error.message).toBe('Parameter `Type` must be an integer.');
  });

  it('refuses a fractional number for an integer field with InvalidParameter', () => {
    expect(failure('GenerateRandom', { NumberOfBytes: 16.5 }).code).toBe('InvalidParameter');
  });

  it('refuses a number where an enum string belongs with InvalidParameter, not the enum sub-code', () => {
    expect(failure('CreateKey', { Alias: 'a', KeyUsage: 5 }).code).toBe('InvalidParameter');
  });

  it('ignores unknown fields (docs/contract/protocol.md#processing-order leniency) and treats null as absent (docs/contract/protocol.md#request-forms)', () => {
    expect(validateKmsParams('Encrypt', { KeyId: KEY_ID, Plaintext: 'aGVsbG8=', Future: 1, EncryptionContext: null }, 'json')).toEqual({
      KeyId: KEY_ID,
      Plaintext: 'aGVsbG8=',
    });
    expect(failure('Encrypt', { KeyId: KEY_ID, Plaintext: null }).code).toBe('MissingParameter');
  });

  it('drops empty strings only where the SDK defines empty as "not given"', () => {
    expect(validateKmsParams('ReEncrypt', { CiphertextBlob: 'x', DestinationKeyId: '', SourceEncryptionContext: '' }, 'json')).toEqual({
      CiphertextBlob: 'x',
    });
    expect(validateKmsParams('ListKeyDetail', { KeyUsage: '', Origin: '' }, 'json')).toEqual({});
    expect(failure('CreateKey', { Alias: 'a', KeyUsage: '' }).code).toBe('InvalidParameterValue.InvalidKeyUsage');
  });

  it('accepts actions without parameters as {}', () => {
    expect(validateKmsParams('GetServiceStatus', {}, 'json')).toEqual({});
    expect(validateKmsParams('ListAlgorithms', { Anything: 1 }, 'flat')).toEqual({});
  });
});

describe('error selection (docs/contract/protocol.md#processing-step-6)', () => {
  it('required field absent → MissingParameter naming the field', () => {
    const error = failure('Encrypt', { Plaintext: 'aGVsbG8=' });
    expect(error).toMatchObject({ code: 'MissingParameter', field: 'KeyId' });
    expect(error.message).toBe('The request is missing a required parameter `KeyId`.');
  });

  it('reports MissingParameter before type and value errors', () => {
    expect(failure('Encrypt', { KeyId: 7 }).code).toBe('MissingParameter');
    expect(failure('Encrypt', { KeyId: 'bad', Plaintext: 1 }).code).toBe('InvalidParameter');
  });

  it('names nested paths in flattened wire form', () => {
    const error = failure('CreateKey', {
      Alias: 'a',
      Tags: [
        { TagKey: 'k', TagValue: 'v' },
        { TagKey: 3, TagValue: 'v' },
      ],
    });
    expect(error).toMatchObject({ code: 'InvalidParameter', field: 'Tags.1.TagKey' });
    expect(error.message).toContain('`Tags.1.TagKey`');
    const missing = failure('CreateKey', { Alias: 'a', Tags: [{ TagKey: 'k' }] });
    expect(missing).toMatchObject({ code: 'MissingParameter', field: 'Tags.0.TagValue' });
  });

  it('KeyIds element malformed → InvalidParameterValue.InvalidKeyId at KeyIds.N', () => {
    const ids = keyIds(5);
    ids[3] = 'not-a-key-id';
    expect(failure('DescribeKeys', { KeyIds: ids })).toMatchObject({
      code: 'InvalidParameterValue.InvalidKeyId',
      field: 'KeyIds.3',
    });
  });

  it('malformed KeyId / DataKeyId → their sub-codes', () => {
    expect(failure('DescribeKey', { KeyId: 'alias/abc' }).code).toBe('InvalidParameterValue.InvalidKeyId');
    expect(failure('DescribeKey', { KeyId: KEY_ID.toUpperCase() }).code).toBe('InvalidParameterValue.InvalidKeyId');
    expect(failure('DescribeDataKey', { DataKeyId: '' }).code).toBe('InvalidParameterValue.InvalidDataKeyId');
  });
});

describe('alias rules (docs/contract/actions.md#group-lifecycle CreateKey, docs/contract/ambiguities.md#alias-rule)', () => {
  it.each(['a', 'A-b_9', '9key', 'x'.repeat(60), 'kmsalias', 'my-kms-key'])('accepts %j', (alias) => {
    expect(validateKmsParams('CreateKey', { Alias: alias }, 'json').Alias).toBe(alias);
    expect(validateKmsParams('UpdateAlias', { Alias: alias, KeyId: KEY_ID }, 'json').Alias).toBe(alias);
  });

  it.each(['', '-abc', '_abc', 'x'.repeat(61), 'has space', 'dot.ted', 'ünï', 'kms-reserved', 'KMS-reserved'])('refuses %j with InvalidParameterValue.InvalidAlias', (alias) => {
    const error = failure('CreateKey', { Alias: alias });
    expect(error).toMatchObject({ code: 'InvalidParameterValue.InvalidAlias', field: 'Alias' });
    expect(error.message).toMatch(/^Parameter `Alias` must /);
    expect(failure('UpdateAlias', { Alias: alias, KeyId: KEY_ID }).code).toBe('InvalidParameterValue.InvalidAlias');
  });

  it('white-box aliases follow the same character rule', () => {
    expect(failure('CreateWhiteBoxKey', { Alias: '-x', Algorithm: 'SM4' }).code).toBe('InvalidParameterValue.InvalidAlias');
  });
});

describe('numeric ranges', () => {
  it.each([6, 31, 0])('PendingWindowInDays %i → InvalidParameter.InvalidPendingWindowInDays', (days) => {
    const error = failure('ScheduleKeyDeletion', { KeyId: KEY_ID, PendingWindowInDays: days });
    expect(error).toMatchObject({ code: 'InvalidParameter.InvalidPendingWindowInDays', field: 'PendingWindowInDays' });
    expect(error.message).toContain('7 to 30');
    expect(failure('ScheduleDataKeyDeletion', { DataKeyId: DATA_KEY_ID, PendingWindowInDays: days }).code).toBe('InvalidParameter.InvalidPendingWindowInDays');
  });

  it.each([7, 30])('PendingWindowInDays %i is accepted', (days) => {
    expect(validateKmsParams('ScheduleKeyDeletion', { KeyId: KEY_ID, PendingWindowInDays: days }, 'json').PendingWindowInDays).toBe(days);
  });

  it.each([0, 1025])('NumberOfBytes %i → InvalidParameterValue', (bytes) => {
    expect(failure('GenerateRandom', { NumberOfBytes: bytes })).toMatchObject({ code: 'InvalidParameterValue', field: 'NumberOfBytes' });
    expect(failure('GenerateDataKey', { KeyId: KEY_ID, NumberOfBytes: bytes }).code).toBe('InvalidParameterValue');
  });

  it('NumberOfBytes 1 and 1024 are accepted', () => {
    expect(validateKmsParams('GenerateRandom', { NumberOfBytes: 1 }, 'json').NumberOfBytes).toBe(1);
    expect(validateKmsParams('GenerateRandom', { NumberOfBytes: '1024' }, 'flat').NumberOfBytes).toBe(1024);
  });

  it('RotateDays 7–365, Limit ≤200, CreateKey Type 1|2 with InvalidType', () => {
    expect(failure('EnableKeyRotation', { KeyId: KEY_ID, RotateDays: 6 }).code).toBe('InvalidParameterValue');
    expect(failure('EnableKeyRotation', { KeyId: KEY_ID, RotateDays: 366 }).code).toBe('InvalidParameterValue');
    expect(validateKmsParams('EnableKeyRotation', { KeyId: KEY_ID, RotateDays: 365 }, 'json').RotateDays).toBe(365);
    expect(failure('ListKeys', { Limit: 201 }).code).toBe('InvalidParameterValue');
    expect(failure('CreateKey', { Alias: 'a', Type: 3 }).code).toBe('InvalidParameterValue.InvalidType');
  });

  it('an integer beyond 2^53 is a value error, not a type error', () => {
    expect(failure('ListKeys', { Offset: 2 ** 60 }).code).toBe('InvalidParameterValue');
  });
});

describe('batches of ids', () => {
  it('KeyIds of 100 is accepted, 101 → InvalidParameterValue, [] → InvalidParameterValue', () => {
    expect(validateKmsParams('DescribeKeys', { KeyIds: keyIds(100) }, 'json').KeyIds).toHaveLength(100);
    expect(failure('DescribeKeys', { KeyIds: keyIds(101) })).toMatchObject({ code: 'InvalidParameterValue', field: 'KeyIds' });
    expect(failure('EnableKeys', { KeyIds: [] }).code).toBe('InvalidParameterValue');
  });

  it('white-box batches stop at 50 (docs/contract/actions.md#group-white-box)', () => {
    expect(failure('EnableWhiteBoxKeys', { KeyIds: keyIds(51) }).code).toBe('InvalidParameterValue');
  });

  it('duplicated ids → DuplicatedKeyId / DuplicatedDataKeyId', () => {
    expect(failure('DisableKeys', { KeyIds: [KEY_ID, OTHER_KEY_ID, KEY_ID] })).toMatchObject({
      code: 'InvalidParameterValue.DuplicatedKeyId',
      field: 'KeyIds',
    });
    expect(failure('DisableWhiteBoxKeys', { KeyIds: [KEY_ID, KEY_ID] }).code).toBe('InvalidParameterValue.DuplicatedKeyId');
    expect(failure('EnableDataKeys', { DataKeyIds: [DATA_KEY_ID, DATA_KEY_ID] }).code).toBe('InvalidParameterValue.DuplicatedDataKeyId');
  });

  it('duplicated tag keys → TagKeysDuplicated', () => {
    const tags = [
      { TagKey: 'env', TagValue: 'a' },
      { TagKey: 'env', TagValue: 'b' },
    ];
    expect(failure('CreateKey', { Alias: 'a', Tags: tags }).code).toBe('InvalidParameterValue.TagKeysDuplicated');
  });
});

describe('plaintext and context rules (docs/contract/actions.md#group-symmetric)', () => {
  const secret = Buffer.alloc(4097, 0x5a).toString('base64');

  it('Plaintext of 4096 bytes is accepted, 4097 → InvalidPlaintext without echoing it', () => {
    const ok = Buffer.alloc(4096, 0x5a).toString('base64');
    expect(validateKmsParams('Encrypt', { KeyId: KEY_ID, Plaintext: ok }, 'json').Plaintext).toBe(ok);
    const error = failure('Encrypt', { KeyId: KEY_ID, Plaintext: secret });
    expect(error).toMatchObject({ code: 'InvalidParameterValue.InvalidPlaintext', field: 'Plaintext' });
    expect(error.message).not.toContain(secret.slice(0, 16));
  });

  it.each(['not base64!', 'aGVsbG8', 'aGVs bG8=', 'aGVsbG8-', ''])('Plaintext %j → InvalidPlaintext, value not echoed', (plaintext) => {
    const error = failure('Encrypt', { KeyId: KEY_ID, Plaintext: plaintext });
    expect(error.code).toBe('InvalidParameterValue.InvalidPlaintext');
    if (plaintext) expect(error.message).not.toContain(plaintext);
    expect(failure('PostQuantumCryptoEncrypt', { KeyId: KEY_ID, PlainText: plaintext }).code).toBe('InvalidParameterValue.InvalidPlaintext');
  });

  it('no message carries a submitted secret, whichever rule fails', () => {
    const marker = 'S3cr3tS3cr3tS3cr3t';
    const attempts: Array<[KmsAction, Record<string, unknown>]> = [
      ['Encrypt', { KeyId: KEY_ID, Plaintext: `${marker}!` }],
      ['Encrypt', { KeyId: marker, Plaintext: 'aGVsbG8=' }],
      ['ImportKeyMaterial', { EncryptedKeyMaterial: `${marker}!`, ImportToken: 't', KeyId: KEY_ID }],
      ['ImportDataKey', { DataKeyName: 'd', ImportKeyMaterial: `${marker}!`, ImportType: 2, KeyId: KEY_ID }],
      ['EncryptByWhiteBox', { KeyId: KEY_ID, PlainText: `${marker}!` }],
      ['Decrypt', { CiphertextBlob: 'x', EncryptionContext: `${marker}{` }],
    ];
    for (const [action, params] of attempts) {
      expect(failure(action, params).message).not.toContain(marker);
    }
  });

  it('EncryptionContext must be a JSON object; at most 1024 characters on Encrypt and Decrypt only (docs/contract/ambiguities.md#encryption-context-limit)', () => {
    expect(failure('Encrypt', { KeyId: KEY_ID, Plaintext: 'aA==', EncryptionContext: 'not json' })).toMatchObject({
      code: 'InvalidParameterValue',
      field: 'EncryptionContext',
    });
    expect(failure('Encrypt', { KeyId: KEY_ID, Plaintext: 'aA==', EncryptionContext: '["a"]' }).code).toBe('InvalidParameterValue');
    const exactly1024 = JSON.stringify({ k: 'v'.repeat(1024 - 8) });
    expect(exactly1024).toHaveLength(1024);
    expect(validateKmsParams('Encrypt', { KeyId: KEY_ID, Plaintext: 'aA==', EncryptionContext: exactly1024 }, 'json')).toBeTruthy();
    // 1024 characters, 2,000 bytes and more: characters are what count.
    const multibyte = JSON.stringify({ k: 'é'.repeat(1024 - 8) });
    expect(Buffer.byteLength(multibyte)).toBeGreaterThan(2000);
    expect(validateKmsParams('Decrypt', { CiphertextBlob: 'x', EncryptionContext: multibyte }, 'json')).toBeTruthy();
    // A character outside the BMP is one character (two UTF-16 units).
    const astral = JSON.stringify({ k: '😀'.repeat(1024 - 8) });
    expect(validateKmsParams('Encrypt', { KeyId: KEY_ID, Plaintext: 'aA==', EncryptionContext: astral }, 'json')).toBeTruthy();
    const over = JSON.stringify({ k: 'v'.repeat(1024 - 7) });
    expect(failure('Encrypt', { KeyId: KEY_ID, Plaintext: 'aA==', EncryptionContext: over })).toMatchObject({ code: 'InvalidParameterValue', field: 'EncryptionContext' });
    expect(failure('Decrypt', { CiphertextBlob: 'x', EncryptionContext: over }).code).toBe('InvalidParameterValue');
    // GenerateDataKey and ReEncrypt state no limit.
    const long = JSON.stringify({ k: 'v'.repeat(5000) });
    expect(validateKmsParams('GenerateDataKey', { KeyId: KEY_ID, NumberOfBytes: 16, EncryptionContext: long }, 'json')).toBeTruthy();
    expect(validateKmsParams('ReEncrypt', { CiphertextBlob: 'x', SourceEncryptionContext: long, DestinationEncryptionContext: long }, 'json')).toBeTruthy();
  });

  it('GenerateDataKey needs KeySpec or NumberOfBytes, and a name when hosted', () => {
    expect(failure('GenerateDataKey', { KeyId: KEY_ID })).toMatchObject({ code: 'MissingParameter', field: 'KeySpec' });
    expect(failure('GenerateDataKey', { KeyId: KEY_ID, KeySpec: 'AES_256', IsHostedByKms: 1 })).toMatchObject({
      code: 'MissingParameter',
      field: 'DataKeyName',
    });
    expect(validateKmsParams('GenerateDataKey', { KeyId: KEY_ID, KeySpec: 'AES_128' }, 'json').KeySpec).toBe('AES_128');
  });

  it('ImportDataKey plaintext import needs KeyId and base64 material', () => {
    expect(failure('ImportDataKey', { DataKeyName: 'd', ImportKeyMaterial: 'aGVsbG8=', ImportType: 2 })).toMatchObject({
      code: 'MissingParameter',
      field: 'KeyId',
    });
    expect(failure('ImportDataKey', { DataKeyName: 'd', ImportKeyMaterial: 'blob?', ImportType: 2, KeyId: KEY_ID }).code).toBe('InvalidParameterValue.InvalidImportKeyMaterial');
    expect(failure('ImportDataKey', { DataKeyName: 'd', ImportKeyMaterial: 'x', ImportType: 3 }).code).toBe('InvalidParameterValue.InvalidType');
  });
});

describe('enumerations', () => {
  it('unknown KeyUsage → InvalidParameterValue.InvalidKeyUsage', () => {
    const error = failure('CreateKey', { Alias: 'a', KeyUsage: 'ENCRYPT_ONLY' });
    expect(error).toMatchObject({ code: 'InvalidParameterValue.InvalidKeyUsage', field: 'KeyUsage' });
    expect(error.message).toContain('ENCRYPT_DECRYPT');
  });

  it.each<[KmsAction, Record<string, unknown>, string]>([
    ['AsymmetricRsaDecrypt', { KeyId: KEY_ID, Ciphertext: 'aA==', Algorithm: 'RSA_OAEP' }, 'Algorithm'],
    ['GetParametersForImport', { KeyId: KEY_ID, WrappingAlgorithm: 'RSAES_OAEP_SHA_512', WrappingKeySpec: 'RSA_2048' }, 'WrappingAlgorithm'],
    ['GetParametersForImport', { KeyId: KEY_ID, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_4096' }, 'WrappingKeySpec'],
    ['SignByAsymmetricKey', { KeyId: KEY_ID, Algorithm: 'SM2DSA', Message: 'aA==', MessageType: 'HASH' }, 'MessageType'],
    ['GenerateDataKey', { KeyId: KEY_ID, KeySpec: 'AES_192' }, 'KeySpec'],
    ['Decrypt', { CiphertextBlob: 'x', EncryptionAlgorithm: 'RSA' }, 'EncryptionAlgorithm'],
    ['CreateWhiteBoxKey', { Alias: 'a', Algorithm: 'AES_128' }, 'Algorithm'],
    ['ListKeyDetail', { Origin: 'tencent_kms' }, 'Origin'],
  ])('%s with a bad %s value → InvalidParameterValue', (action, params, field) => {
    expect(failure(action, params)).toMatchObject({ code: 'InvalidParameterValue', field });
  });
});

describe('LookUpEvents (CloudAudit docs/contract/audit.md#lookup-events) through the same engine', () => {
  const lookUp = (params: Record<string, unknown>, form: 'json' | 'flat' = 'json') => validateParams(cloudAuditActions.LookUpEvents.schema, params, form);
  const lookUpFailure = (params: Record<string, unknown>, form: 'json' | 'flat' = 'json') => {
    try {
      lookUp(params, form);
    } catch (error) {
      if (error instanceof ParameterError) return { code: error.code, field: error.field };
      throw error;
    }
    throw new Error(`LookUpEvents accepted ${JSON.stringify(params)}`);
  };

  it('accepts a time range with attributes, in both forms', () => {
    expect(lookUp({ StartTime: 10, EndTime: 20, LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Encrypt' }], MaxResults: 50, Extra: 1 })).toEqual({
      StartTime: 10,
      EndTime: 20,
      LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Encrypt' }],
      MaxResults: 50,
    });
    expect(lookUp({ StartTime: '10', EndTime: '10', MaxResults: '3', NextToken: '42' }, 'flat')).toEqual({ StartTime: 10, EndTime: 10, MaxResults: 3, NextToken: '42' });
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    // LookUpEvents' own codes (docs/contract/audit.md#cloudaudit-error-codes) where its list has one.
    ['unknown AttributeKey', { StartTime: 1, EndTime: 2, LookupAttributes: [{ AttributeKey: 'Colour' }] }, 'InvalidParameterValue.attributeKey', 'LookupAttributes.0.AttributeKey'],
    ['EndTime before StartTime', { StartTime: 20, EndTime: 10 }, 'InvalidParameterValue.Time', 'EndTime'],
    ['no StartTime', { EndTime: 10 }, 'InvalidParameter.Time', 'StartTime'],
    ['MaxResults above 50', { StartTime: 1, EndTime: 2, MaxResults: 51 }, 'InvalidParameterValue.MaxResult', 'MaxResults'],
    ['NextToken not a token', { StartTime: 1, EndTime: 2, NextToken: 'abc' }, 'InvalidParameterValue', 'NextToken'],
    ['negative StartTime', { StartTime: -1, EndTime: 2 }, 'InvalidParameter.Time', 'StartTime'],
    ['StartTime of the wrong JSON type', { StartTime: '1', EndTime: 2 }, 'InvalidParameter.Time', 'StartTime'],
    [
      'ReadOnly neither true nor false',
      { StartTime: 1, EndTime: 2, LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'maybe' }] },
      'InvalidParameter',
      'LookupAttributes.0.AttributeValue',
    ],
    [
      'Tags not a list of tags',
      { StartTime: 1, EndTime: 2, LookupAttributes: [{ AttributeKey: 'Tags', AttributeValue: '{"key":"a"}' }] },
      'InvalidParameter',
      'LookupAttributes.0.AttributeValue',
    ],
  ])('%s → %s', (_name, params, code, field) => {
    expect(lookUpFailure(params)).toEqual({ code, field });
  });
});

describe('checkAgainstSdkResponse', () => {
  const keyMetadata = {
    KeyId: KEY_ID,
    Alias: 'payments',
    CreateTime: 1700000000,
    Description: '',
    KeyState: 'Enabled',
    KeyUsage: 'ENCRYPT_DECRYPT',
    Type: 4,
    CreatorUin: 100000000001,
    KeyRotationEnabled: false,
    Owner: 'user',
    NextRotateTime: 0,
    DeletionDate: 0,
    Origin: 'TENCENT_KMS',
    ValidTo: 0,
    ResourceId: `creatorUin/100000000001/${KEY_ID}`,
    HsmClusterId: '',
    RotateDays: 365,
    LastRotateTime: 0,
    IsSyncReplica: 0,
    SourceRegion: '',
    SyncStatus: 0,
    SyncMessages: '',
    SyncStartTime: 0,
    SyncEndTime: 0,
    SourceHsmClusterId: '',
    AccountAppId: 0,
    AccountUin: 0,
    AccountName: '',
    CreatorUinString: '100000000001',
  };
  const requestId = '6e6f0c4e-1c8e-4c43-9d3b-2a8a0c0f5b11';

  it('passes a complete DescribeKey body, bare or enveloped', () => {
    expect(checkAgainstSdkResponse('DescribeKey', { KeyMetadata: keyMetadata, RequestId: requestId })).toEqual([]);
    expect(checkAgainstSdkResponse('DescribeKey', { Response: { KeyMetadata: keyMetadata, RequestId: requestId } })).toEqual([]);
  });

  it('accepts null or absent optional fields', () => {
    expect(checkAgainstSdkResponse('DescribeKey', { KeyMetadata: { ...keyMetadata, HsmClusterId: null }, RequestId: requestId })).toEqual([]);
    expect(checkAgainstSdkResponse('DescribeKey', { RequestId: requestId })).toEqual([]);
  });

  it('catches a wrong type', () => {
    expect(checkAgainstSdkResponse('DescribeKey', { KeyMetadata: { ...keyMetadata, CreateTime: '1700000000' } })).toEqual(['KeyMetadata.CreateTime: expected uint, got string']);
    expect(checkAgainstSdkResponse('GetKeyRotationStatus', { KeyRotationEnabled: 1 })).toEqual(['KeyRotationEnabled: expected boolean, got integer']);
  });

  it('catches an unknown field', () => {
    expect(checkAgainstSdkResponse('DescribeKey', { KeyMetadata: { ...keyMetadata, KeyVersion: 2 }, RequestId: requestId })).toEqual(['KeyMetadata.KeyVersion: unknown field']);
  });

  it('catches a negative UInt but allows a negative Int', () => {
    expect(checkAgainstSdkResponse('ListKeys', { Keys: [{ KeyId: KEY_ID }], TotalCount: -1 })).toEqual(['TotalCount: expected uint, got a negative integer']);
    expect(checkAgainstSdkResponse('DescribeKeys', { KeyMetadatas: [keyMetadata, { ...keyMetadata, DeletionDate: -5 }] })).toEqual([
      'KeyMetadatas.1.DeletionDate: expected uint, got a negative integer',
    ]);
    expect(checkAgainstSdkResponse('GetServiceStatus', { InvalidType: -1 })).toEqual([]);
  });

  it('requires the fields the SDK marks required', () => {
    expect(checkAgainstSdkResponse('GenerateRandom', { RequestId: requestId })).toEqual(['Plaintext: required field is missing']);
  });

  it('checks error bodies against the docs/contract/protocol.md#envelope error shape', () => {
    const error = { Response: { Error: { Code: 'InvalidParameter', Message: 'm' }, RequestId: requestId } };
    expect(checkAgainstSdkResponse('Encrypt', error)).toEqual([]);
    expect(checkAgainstSdkResponse('Encrypt', { Error: { Code: 1 } })).toEqual([
      'Error.Code: expected string, got integer',
      'Error.Message: required field is missing',
      'RequestId: required field is missing',
    ]);
  });
});
