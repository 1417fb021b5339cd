import { z } from 'zod';

// Request validation for every action of Tencent Cloud KMS 2019-01-18, and the SDK's response
// shapes. Field names, optionality and JSON types follow the CN Node SDK 4.1.313
// (`kms_models.d.ts`, the authority); Int vs UInt, which the .d.ts flattens to `number`, and the
// value limits follow kms-api.md (§ numbers below refer to it). test/unit/kms-schemas.test.ts
// re-reads the .d.ts so either side drifting fails the build.

export class ParameterError extends Error {
  constructor(
    /** Tencent error code: MissingParameter, InvalidParameter, InvalidParameterValue[.Sub]. */
    readonly code: string,
    /** Wire path of the offending field in flattened form (`Tags.0.TagKey`); '' for the whole request. */
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ParameterError';
  }
}

// ---------------------------------------------------------------------------------------------
// Building blocks. Every check carries a "must …" message: ParameterError prefixes the field
// name, and no message ever includes the submitted value (Plaintext, key material, tokens).

// A value rule broken at a field reports that field's sub-code where §4 names one (§1.7 step 6);
// type errors stay InvalidParameter whatever the field.
const fieldCodes = new WeakMap<z.ZodType, string>();
function coded<T extends z.ZodType>(schema: T, code: string): T {
  fieldCodes.set(schema, code);
  return schema;
}

// Optional fields whose documented meaning for '' is "not given" (SDK comments: "若为空…"):
// dropped before validation so handlers see one absent state, not two.
const emptyIsAbsent = new WeakSet<z.ZodType>();
function optionalOrEmpty<T extends z.ZodType>(schema: T): z.ZodOptional<T> {
  const optional = schema.optional();
  emptyIsAbsent.add(optional);
  return optional;
}

// Int and UInt differ on the wire only in sign, so a range says all there is to say.
const UInt = z.int().min(0, 'must not be negative');
function intRange(min: number, max: number): z.ZodNumber {
  return z.int().min(min, `must be from ${min} to ${max}`).max(max, `must be from ${min} to ${max}`);
}
function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, `must be one of ${values.join(', ')}`);
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
function maxBytes(max: number): z.ZodString {
  return z.string().refine((text) => utf8Bytes(text) <= max, `must be at most ${max} bytes of UTF-8`);
}
const NonEmpty = z.string().min(1, 'must not be empty');

// Padded standard base64, as every SDK's encoder writes it; Buffer.from(…,'base64') would accept
// anything, so the shape is checked first.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
function base64Length(text: string): number | undefined {
  if (!BASE64.test(text)) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}
function base64Of(min: number, max = Infinity): z.ZodString {
  const size = max === Infinity ? `at least ${min} bytes` : min === max ? `${min} bytes` : `${min} to ${max} bytes`;
  return z.string().refine((text) => {
    const length = base64Length(text);
    return length !== undefined && length >= min && length <= max;
  }, `must be base64 (standard alphabet, padded) of ${size}`);
}

// §2.10: ids keep the cloud's lower-case UUID shape, so anything else is malformed
// (…InvalidKeyId) rather than unknown (CmkNotFound).
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KeyId = coded(z.string().regex(UUID, 'must be a key id (lower-case UUID)'), 'InvalidParameterValue.InvalidKeyId');
const DataKeyId = coded(
  z.string().regex(UUID, 'must be a data key id (lower-case UUID)'),
  'InvalidParameterValue.InvalidDataKeyId',
);

function idList(id: z.ZodString, max: number, duplicateCode: string) {
  return z
    .array(id)
    .min(1, `must hold 1 to ${max} ids`)
    .max(max, `must hold 1 to ${max} ids`)
    .refine((ids) => new Set(ids).size === ids.length, { message: 'must not repeat an id', params: { code: duplicateCode } });
}
// §4.1 DescribeKeys/EnableKeys/DisableKeys, §4.6 *DataKeys: ≤100; §4.7 *WhiteBoxKeys: ≤50.
const KeyIds = idList(KeyId, 100, 'InvalidParameterValue.DuplicatedKeyId');
const WhiteBoxKeyIds = idList(KeyId, 50, 'InvalidParameterValue.DuplicatedKeyId');
const DataKeyIds = idList(DataKeyId, 100, 'InvalidParameterValue.DuplicatedDataKeyId');

// §4.1 CreateKey (and §7.6 for UpdateAlias): 1–60 of [A-Za-z0-9_-], first a letter or digit;
// the `kms-` prefix is reserved for aliases cloud products create.
const ALIAS = /^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$/;
const ALIAS_RULE = 'must be 1 to 60 of A-Z a-z 0-9 _ -, starting with a letter or digit';
const CmkAlias = coded(
  z.string().regex(ALIAS, ALIAS_RULE).refine((alias) => !/^kms-/i.test(alias), 'must not start with the reserved prefix kms-'),
  'InvalidParameterValue.InvalidAlias',
);
// §4.7: "same rule as CMK alias"; the SDK text says nothing of a reserved prefix here.
const WhiteBoxAlias = coded(z.string().regex(ALIAS, ALIAS_RULE), 'InvalidParameterValue.InvalidAlias');

const CmkDescription = maxBytes(1024); // §2.1, §4.1
const DataKeyDescription = maxBytes(100); // §2.9, §4.2 GenerateDataKey
// Naming rules for hosted data keys are undocumented; only the empty name is certainly invalid.
const DataKeyName = coded(z.string().min(1, 'must not be empty'), 'InvalidParameterValue.InvalidDataKeyName');

// §4.2 Encrypt: base64 of at most 4096 bytes. Empty plaintext is refused too (nothing to protect).
const Plaintext = coded(base64Of(1, 4096), 'InvalidParameterValue.InvalidPlaintext');
const Message = base64Of(1, 4096); // §4.3 Sign (RAW ≤4096; DIGEST length depends on the algorithm, §7.10)
const CiphertextBlob = coded(NonEmpty, 'InvalidParameterValue.InvalidCiphertext');

// §4.2, §7.5: a JSON object of key/value pairs, ≤1024 bytes of UTF-8 (CN says characters; bytes is
// the stricter reading). '' means "no context" (ReEncrypt: "empty if none").
function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
const EncryptionContext = optionalOrEmpty(
  maxBytes(1024).refine(isJsonObject, 'must be a JSON object of key/value pairs'),
);

// §4.2 Decrypt: the wrap of the returned plaintext to a caller key; '' = not wrapped / SM2.
const EncryptionPublicKey = optionalOrEmpty(z.string());
const EncryptionAlgorithm = optionalOrEmpty(
  oneOf(['SM2', 'SM2_C1C3C2_ASN1', 'RSAES_PKCS1_V1_5', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']),
);

// §2.4; the CreateKey SDK text also lists ECDSA384. PQC usages are undocumented (§7.9, §7.11).
export const KEY_USAGES = [
  'ENCRYPT_DECRYPT',
  'ASYMMETRIC_DECRYPT_RSA_2048',
  'ASYMMETRIC_DECRYPT_SM2',
  'ASYMMETRIC_SIGN_VERIFY_SM2',
  'ASYMMETRIC_SIGN_VERIFY_ECC',
  'ASYMMETRIC_SIGN_VERIFY_RSA_2048',
  'ASYMMETRIC_SIGN_VERIFY_ECDSA384',
  // Post-quantum (issue 13; names ours, listed by ListAlgorithms: domain/service-info.ts).
  'PQC_ENCRYPT_DECRYPT_ML_KEM_768',
  'PQC_SIGN_VERIFY_ML_DSA_65',
] as const;
const RSA_ENCRYPTION_ALGORITHMS = ['RSAES_PKCS1_V1_5', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const;
// §4.3: "SM2DSA / ECC_P256_R1 / RSA_PSS_SHA_256 / RSA_PKCS1_SHA_256 / … (ListAlgorithms is
// authoritative)" — an open list, so only the shape is checked here; the use case matches the
// algorithm against the key's usage.
const SignAlgorithm = z.string().regex(/^[A-Z0-9_]{1,64}$/, 'must be a signature algorithm name from ListAlgorithms');
const MessageType = oneOf(['RAW', 'DIGEST']);

const Tag = z.object({ TagKey: z.string().min(1, 'must not be empty'), TagValue: z.string() });
const Tags = z.array(Tag).refine((tags) => new Set(tags.map((tag) => tag.TagKey)).size === tags.length, {
  message: 'must not repeat a TagKey',
  params: { code: 'InvalidParameterValue.TagKeysDuplicated' },
});
const TagFilter = z.object({ TagKey: z.string(), TagValue: z.array(z.string()).optional() });
const MemberAccount = z.object({ MemberAppId: UInt.optional(), MemberUin: UInt.optional() }); // §2.8

// §2.6 / §4.6 list filters.
const Offset = UInt;
const Limit = intRange(1, 200);
const Role = intRange(0, 1);
const OrderType = intRange(0, 1);
const Origin = optionalOrEmpty(oneOf(['TENCENT_KMS', 'EXTERNAL', 'ALL']));
const HsmClusterId = optionalOrEmpty(z.string());
const PendingWindowInDays = coded(intRange(7, 30), 'InvalidParameter.InvalidPendingWindowInDays'); // §1.9

// §2.9: the fingerprint collector's format.
const DeviceFingerprint = z.object({
  Identity: z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{14}-[0-9a-f]{14}-[0-9a-f]{14}-[0-9a-f]{16}$/, 'must be a device fingerprint identity'),
  Description: maxBytes(1024).optional(),
});

// A rule spanning fields reports on one of them; when that field is absent the error is
// MissingParameter (see toParameterError).
type RuleContext = z.RefinementCtx;
function requireField(ctx: RuleContext, field: string, reason: string): void {
  ctx.addIssue({ code: 'custom', path: [field], message: reason });
}

// ---------------------------------------------------------------------------------------------
// One schema per action: exactly the SDK's XxxRequest fields. Unknown fields are stripped (§1.7:
// newer SDKs add optional fields, the cloud's UnknownParameter would break them).

const schemas = {
  // Lifecycle (§4.1)
  CreateKey: z.object({
    Alias: CmkAlias,
    Description: CmkDescription.optional(),
    KeyUsage: coded(oneOf(KEY_USAGES), 'InvalidParameterValue.InvalidKeyUsage').optional(),
    Type: coded(intRange(1, 2), 'InvalidParameterValue.InvalidType').optional(), // 1 KMS, 2 EXTERNAL (§2.5)
    Tags: Tags.optional(),
    HsmClusterId,
  }),
  DescribeKey: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
  DescribeKeys: z.object({ KeyIds, MemberAccount: MemberAccount.optional() }),
  ListKeys: z.object({ Offset: Offset.optional(), Limit: Limit.optional(), Role: Role.optional(), HsmClusterId }),
  ListKeyDetail: z.object({
    Offset: Offset.optional(),
    Limit: Limit.optional(),
    Role: Role.optional(),
    OrderType: OrderType.optional(),
    KeyState: intRange(0, 5).optional(), // 0 all, 1 Enabled … 5 Archived
    SearchKeyAlias: z.string().optional(),
    Origin,
    // '' and absent both mean ENCRYPT_DECRYPT only (§2.6).
    KeyUsage: optionalOrEmpty(oneOf(['ALL', ...KEY_USAGES])),
    TagFilters: z.array(TagFilter).optional(),
    HsmClusterId,
    MemberAccounts: z.array(MemberAccount).optional(),
  }),
  UpdateAlias: z.object({ Alias: CmkAlias, KeyId, MemberAccount: MemberAccount.optional() }),
  UpdateKeyDescription: z.object({ Description: CmkDescription, KeyId, MemberAccount: MemberAccount.optional() }),
  EnableKey: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
  EnableKeys: z.object({ KeyIds, MemberAccount: MemberAccount.optional() }),
  DisableKey: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
  DisableKeys: z.object({ KeyIds, MemberAccount: MemberAccount.optional() }),
  ScheduleKeyDeletion: z.object({ KeyId, PendingWindowInDays, MemberAccount: MemberAccount.optional() }),
  CancelKeyDeletion: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
  ArchiveKey: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
  CancelKeyArchive: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),

  // Symmetric crypto (§4.2)
  Encrypt: z.object({ KeyId, Plaintext, EncryptionContext }),
  Decrypt: z.object({ CiphertextBlob, EncryptionContext, EncryptionPublicKey, EncryptionAlgorithm }),
  ReEncrypt: z.object({
    CiphertextBlob,
    DestinationKeyId: optionalOrEmpty(KeyId), // '' = the source CMK
    SourceEncryptionContext: EncryptionContext,
    DestinationEncryptionContext: EncryptionContext,
  }),
  GenerateDataKey: z
    .object({
      KeyId,
      KeySpec: oneOf(['AES_128', 'AES_256']).optional(),
      NumberOfBytes: intRange(1, 1024).optional(),
      EncryptionContext,
      EncryptionPublicKey,
      EncryptionAlgorithm,
      IsHostedByKms: intRange(0, 1).optional(),
      DataKeyName: DataKeyName.optional(),
      Description: DataKeyDescription.optional(),
      HsmClusterId,
      Tags: Tags.optional(),
    })
    .superRefine((request, ctx) => {
      // SDK: "KeySpec 和 NumberOfBytes 必须指定一个".
      if (request.KeySpec === undefined && request.NumberOfBytes === undefined) {
        requireField(ctx, 'KeySpec', 'one of `KeySpec` and `NumberOfBytes` must be given');
      }
      // SDK: DataKeyName "当IsHostedByKms为1时,必须填写".
      if (request.IsHostedByKms === 1 && request.DataKeyName === undefined) {
        requireField(ctx, 'DataKeyName', 'a hosted data key (`IsHostedByKms` 1) needs a name');
      }
    }),
  GenerateRandom: z.object({ NumberOfBytes: intRange(1, 1024) }),

  // Asymmetric (§4.3)
  GetPublicKey: z.object({ KeyId }),
  AsymmetricRsaDecrypt: z.object({ KeyId, Ciphertext: base64Of(1), Algorithm: oneOf(RSA_ENCRYPTION_ALGORITHMS) }),
  // §4.3: raw C1C3C2 ASN.1 ciphertext ≤256 bytes.
  AsymmetricSm2Decrypt: z.object({ KeyId, Ciphertext: base64Of(1, 256) }),
  SignByAsymmetricKey: z.object({ Algorithm: SignAlgorithm, Message, KeyId, MessageType: MessageType.optional() }),
  VerifyByAsymmetricKey: z.object({
    KeyId,
    SignatureValue: base64Of(1),
    Message,
    Algorithm: SignAlgorithm,
    MessageType: MessageType.optional(),
  }),

  // Import (§4.4)
  GetParametersForImport: z.object({
    KeyId,
    WrappingAlgorithm: oneOf(RSA_ENCRYPTION_ALGORITHMS),
    WrappingKeySpec: oneOf(['RSA_2048']),
  }),
  ImportKeyMaterial: z.object({
    EncryptedKeyMaterial: base64Of(1),
    ImportToken: NonEmpty,
    KeyId,
    // 0/absent = never expires; "最大支持 2147443200". Being in the future is checked at use time.
    ValidTo: intRange(0, 2147443200).optional(),
  }),
  DeleteImportedKeyMaterial: z.object({ KeyId }),

  // Rotation (§4.5, §2.7)
  EnableKeyRotation: z.object({ KeyId, RotateDays: intRange(7, 365).optional(), MemberAccount: MemberAccount.optional() }),
  DisableKeyRotation: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
  GetKeyRotationStatus: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
  RotateKey: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),

  // Hosted data keys (§4.6)
  ImportDataKey: z
    .object({
      DataKeyName,
      ImportKeyMaterial: coded(NonEmpty, 'InvalidParameterValue.InvalidImportKeyMaterial'),
      ImportType: coded(intRange(1, 2), 'InvalidParameterValue.InvalidType'), // 1 ciphertext, 2 plaintext
      Description: DataKeyDescription.optional(),
      KeyId: optionalOrEmpty(KeyId),
      HsmClusterId,
      Tags: Tags.optional(),
    })
    .superRefine((request, ctx) => {
      if (request.ImportType !== 2) return;
      // §4.6: a plaintext import is sealed under KeyId, so it must be named.
      if (request.KeyId === undefined) requireField(ctx, 'KeyId', 'a plaintext import (`ImportType` 2) needs the wrapping CMK');
      // A plaintext data key is base64 like GenerateDataKey's output, 1–1024 bytes (§4.2 NumberOfBytes).
      const length = typeof request.ImportKeyMaterial === 'string' ? base64Length(request.ImportKeyMaterial) : 0;
      if (length === undefined || length < 1 || length > 1024) {
        ctx.addIssue({
          code: 'custom',
          path: ['ImportKeyMaterial'],
          message: 'must be base64 (standard alphabet, padded) of 1 to 1024 bytes for a plaintext import',
          params: { code: 'InvalidParameterValue.InvalidImportKeyMaterial' },
        });
      }
    }),
  DescribeDataKey: z.object({ DataKeyId, MemberAccount: MemberAccount.optional() }),
  DescribeDataKeys: z.object({ DataKeyIds, MemberAccount: MemberAccount.optional() }),
  ListDataKeys: z.object({ Offset: Offset.optional(), Limit: Limit.optional(), Role: Role.optional(), HsmClusterId }),
  ListDataKeyDetail: z.object({
    Offset: Offset.optional(),
    Limit: Limit.optional(),
    Role: Role.optional(),
    OrderType: OrderType.optional(),
    KeyState: intRange(0, 3).optional(), // 0 all, 1 Enabled, 2 Disabled, 3 PendingDelete
    SearchKeyAlias: z.string().optional(),
    Origin,
    HsmClusterId,
    KeyId: optionalOrEmpty(KeyId),
    DataKeyLen: UInt.optional(),
    TagFilters: z.array(TagFilter).optional(),
    MemberAccounts: z.array(MemberAccount).optional(),
  }),
  GetDataKeyPlaintext: z.object({ DataKeyId, EncryptionPublicKey, EncryptionAlgorithm }),
  GetDataKeyCiphertextBlob: z.object({ DataKeyId, MemberAccount: MemberAccount.optional() }),
  EnableDataKey: z.object({ DataKeyId, MemberAccount: MemberAccount.optional() }),
  EnableDataKeys: z.object({ DataKeyIds, MemberAccount: MemberAccount.optional() }),
  DisableDataKey: z.object({ DataKeyId, MemberAccount: MemberAccount.optional() }),
  DisableDataKeys: z.object({ DataKeyIds, MemberAccount: MemberAccount.optional() }),
  ScheduleDataKeyDeletion: z.object({ DataKeyId, PendingWindowInDays, MemberAccount: MemberAccount.optional() }),
  CancelDataKeyDeletion: z.object({ DataKeyId, MemberAccount: MemberAccount.optional() }),
  UpdateDataKeyName: z.object({ DataKeyId, DataKeyName, MemberAccount: MemberAccount.optional() }),
  UpdateDataKeyDescription: z.object({
    DataKeyId,
    Description: DataKeyDescription,
    MemberAccount: MemberAccount.optional(),
  }),

  // White-box (§4.7)
  CreateWhiteBoxKey: z.object({
    Alias: WhiteBoxAlias,
    Algorithm: oneOf(['AES_256', 'SM4']),
    Description: CmkDescription.optional(),
    Tags: Tags.optional(),
  }),
  DeleteWhiteBoxKey: z.object({ KeyId }),
  DescribeWhiteBoxKey: z.object({ KeyId }),
  DescribeWhiteBoxKeyDetails: z.object({
    KeyStatus: intRange(0, 1).optional(), // Int in the SDKs: 0 disabled, 1 enabled
    Offset: Offset.optional(),
    Limit: UInt.optional(), // 0 (default) = everything, no page size limit documented
    TagFilters: z.array(TagFilter).optional(),
  }),
  DescribeWhiteBoxDecryptKey: z.object({ KeyId }),
  DescribeWhiteBoxServiceStatus: z.object({}),
  EnableWhiteBoxKey: z.object({ KeyId }),
  EnableWhiteBoxKeys: z.object({ KeyIds: WhiteBoxKeyIds }),
  DisableWhiteBoxKey: z.object({ KeyId }),
  DisableWhiteBoxKeys: z.object({ KeyIds: WhiteBoxKeyIds }),
  EncryptByWhiteBox: z.object({
    KeyId,
    PlainText: base64Of(1, 4096),
    InitializationVector: optionalOrEmpty(base64Of(16, 16)), // '' / absent: the server draws one
  }),
  DescribeWhiteBoxDeviceFingerprints: z.object({ KeyId }),
  OverwriteWhiteBoxDeviceFingerprints: z.object({
    KeyId,
    DeviceFingerprints: z.array(DeviceFingerprint).max(200, 'must hold at most 200 fingerprints').optional(),
  }),

  // Post-quantum (§4.8): note PlainText with a capital T (§7.9).
  PostQuantumCryptoEncrypt: z.object({ KeyId, PlainText: Plaintext }),
  PostQuantumCryptoDecrypt: z.object({ CiphertextBlob, EncryptionPublicKey, EncryptionAlgorithm }),
  PostQuantumCryptoSign: z.object({ Message, KeyId }),
  PostQuantumCryptoVerify: z.object({ KeyId, SignatureValue: base64Of(1), Message }),

  // Binding (§4.9)
  BindCloudResource: z.object({ KeyId, ProductId: NonEmpty, ResourceId: NonEmpty }),
  UnbindCloudResource: z.object({ KeyId, ProductId: NonEmpty, ResourceId: NonEmpty }),

  // Service info (§4.10)
  GetServiceStatus: z.object({}),
  GetRegions: z.object({}),
  ListAlgorithms: z.object({}),
};

export type KmsAction = keyof typeof schemas;
export type KmsRequest<A extends KmsAction> = z.output<(typeof schemas)[A]>;
export const kmsRequestSchemas: { readonly [A in KmsAction]: (typeof schemas)[A] } = schemas;
export const KMS_ACTIONS = Object.keys(schemas) as readonly KmsAction[];

export function isKmsAction(name: string): name is KmsAction {
  return Object.prototype.hasOwnProperty.call(schemas, name);
}

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * `json`: a TC3 JSON body, already typed — nothing is coerced, so `"Type":"1"` is
 * InvalidParameter. `flat`: v1 form / GET query after unflattenParams, every leaf a string —
 * leaves are coerced to the schema's type first (§1.2): canonical decimal integers to numbers,
 * `true`/`false` to booleans; anything else stays a string and fails as InvalidParameter.
 * Throws ParameterError; returns the request with unknown fields removed and '' dropped from
 * fields where the SDK defines '' as "not given".
 */
export function validateKmsParams<A extends KmsAction>(
  action: A,
  params: Record<string, unknown>,
  form: 'json' | 'flat',
): KmsRequest<A> {
  const schema: z.ZodObject = kmsRequestSchemas[action];
  if (!isPlainObject(params)) {
    throw new ParameterError('InvalidParameter', '', 'The request parameters must be a JSON object.');
  }
  const typed = form === 'flat' ? coerceFlat(schema, params) : withoutNulls(params);
  const input = withoutEmptyOptionals(schema, typed as Record<string, unknown>);
  const result = schema.safeParse(input);
  if (result.success) return result.data as KmsRequest<A>;
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
    return Object.fromEntries(
      Object.entries(value).map(([key, field]) => [key, Object.hasOwn(shape, key) ? coerceFlat(shape[key], field) : field]),
    );
  }
  return value;
}

// §1.2: SDKs omit null fields, so a JSON null is "not provided", at any depth.
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
  return Object.fromEntries(
    Object.entries(params).filter(
      ([key, value]) => !(value === '' && Object.hasOwn(shape, key) && emptyIsAbsent.has(shape[key])),
    ),
  );
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

function subCodeOf(schema: z.ZodType): string | undefined {
  return fieldCodes.get(schema) ?? fieldCodes.get(unwrapOptional(schema));
}

// §1.7 step 6: absent → MissingParameter, wrong JSON type → InvalidParameter, bad value →
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
      error = new ParameterError('MissingParameter', field, `The request is missing a required parameter \`${field}\`${reason}.`);
    } else if (kind !== undefined && !hasKind(value, kind)) {
      rank = 1;
      error = new ParameterError('InvalidParameter', field, `Parameter \`${field}\` must be ${KIND_NAMES[kind]}.`);
    } else {
      rank = 2;
      const params = issue.code === 'custom' ? (issue.params as { code?: unknown } | undefined) : undefined;
      const code =
        (typeof params?.code === 'string' ? params.code : undefined) ??
        (target ? subCodeOf(target) : undefined) ??
        'InvalidParameterValue';
      // Only messages written in this file start with "must"; zod's own wording is quoted.
      const reason = issue.message.startsWith('must ') ? issue.message : `is invalid (${issue.message})`;
      error = new ParameterError(code, field, `Parameter \`${field || 'request'}\` ${reason}.`);
    }
    if (best === undefined || rank < best.rank) best = { rank, error };
  }
  return best?.error ?? new ParameterError('InvalidParameter', '', 'The request parameters are invalid.');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// Response shapes (SDK XxxResponse), for tests that hold a response body against the SDK model.
// Generated once from kms_models.d.ts with the TypeScript compiler API, then hand-checked; Int vs
// UInt from kms-api.md §2 and §4 (Int: KeyMetadata.Type, IsSyncReplica, SyncStatus;
// GetServiceStatus.InvalidType). Optional fields may also be null (§1.8: "Absent outputs may be
// omitted or null"); required ones (GenerateRandom, GetPublicKey, GetParametersForImport) may not.

export type FieldType =
  | 'string'
  | 'int'
  | 'uint'
  | 'boolean'
  | { readonly list: FieldType }
  | { readonly struct: FieldSpec };
export interface FieldDef {
  readonly type: FieldType;
  readonly optional: boolean;
}
export type FieldSpec = { readonly [field: string]: FieldDef };

const req = (type: FieldType): FieldDef => ({ type, optional: false });
const opt = (type: FieldType): FieldDef => ({ type, optional: true });
const list = (type: FieldType): FieldType => ({ list: type });
const struct = (fields: FieldSpec): FieldType => ({ struct: fields });

const KeyMetadata = struct({
  KeyId: opt('string'), Alias: opt('string'), CreateTime: opt('uint'), Description: opt('string'),
  KeyState: opt('string'), KeyUsage: opt('string'), Type: opt('int'), CreatorUin: opt('uint'),
  KeyRotationEnabled: opt('boolean'), Owner: opt('string'), NextRotateTime: opt('uint'),
  DeletionDate: opt('uint'), Origin: opt('string'), ValidTo: opt('uint'), ResourceId: opt('string'),
  HsmClusterId: opt('string'), RotateDays: opt('uint'), LastRotateTime: opt('uint'),
  IsSyncReplica: opt('int'), SourceRegion: opt('string'), SyncStatus: opt('int'), SyncMessages: opt('string'),
  SyncStartTime: opt('uint'), SyncEndTime: opt('uint'), SourceHsmClusterId: opt('string'),
  AccountAppId: opt('uint'), AccountUin: opt('uint'), AccountName: opt('string'),
  CreatorUinString: opt('string'),
});
const Key = struct({ KeyId: opt('string') });
// IsSyncReplica/SyncStatus typed as in KeyMetadata; §2.9 lists them without types.
const DataKeyMetadata = struct({
  DataKeyId: opt('string'), KeyId: opt('string'), KeyName: opt('string'), DataKeyName: opt('string'),
  NumberOfBytes: opt('uint'), CreateTime: opt('uint'), Description: opt('string'), KeyState: opt('string'),
  CreatorUin: opt('uint'), Owner: opt('string'), DeletionDate: opt('uint'), Origin: opt('string'),
  HsmClusterId: opt('string'), ResourceId: opt('string'), IsSyncReplica: opt('int'),
  SourceRegion: opt('string'), SyncStatus: opt('int'), SyncMessages: opt('string'),
  SyncStartTime: opt('uint'), SyncEndTime: opt('uint'), SourceHsmClusterId: opt('string'),
  AccountAppId: opt('uint'), AccountUin: opt('uint'), AccountName: opt('string'),
  CreatorUinString: opt('string'),
});
const DataKey = struct({ DataKeyId: opt('string') });
const WhiteboxKeyInfo = struct({
  KeyId: opt('string'), Alias: opt('string'), CreatorUin: opt('uint'), Description: opt('string'),
  CreateTime: opt('uint'), Status: opt('string'), OwnerUin: opt('uint'), Algorithm: opt('string'),
  EncryptKey: opt('string'), DecryptKey: opt('string'), ResourceId: opt('string'),
  DeviceFingerprintBind: opt('boolean'),
});
const DeviceFingerprintInfo = struct({ Identity: req('string'), Description: opt('string') });
const ExclusiveHSM = struct({ HsmClusterId: opt('string'), HsmClusterName: opt('string') });
const DestinationSyncConfig = struct({ DestinationRegion: opt('string'), HsmClusterId: opt('string') });
const RegionQps = struct({ Region: opt('string'), Qps: opt('uint') });
const AlgorithmInfo = struct({ KeyUsage: opt('string'), Algorithm: opt('string') });

export const kmsResponseFields: Record<KmsAction, FieldSpec> = {
  // Lifecycle (§4.1)
  CreateKey: {
    KeyId: opt('string'), Alias: opt('string'), CreateTime: opt('uint'), Description: opt('string'),
    KeyState: opt('string'), KeyUsage: opt('string'), TagCode: opt('uint'), TagMsg: opt('string'),
    HsmClusterId: opt('string'), RequestId: opt('string'),
  },
  DescribeKey: { KeyMetadata: opt(KeyMetadata), RequestId: opt('string') },
  DescribeKeys: { KeyMetadatas: opt(list(KeyMetadata)), RequestId: opt('string') },
  ListKeys: { Keys: opt(list(Key)), TotalCount: opt('uint'), RequestId: opt('string') },
  ListKeyDetail: { TotalCount: opt('uint'), KeyMetadatas: opt(list(KeyMetadata)), RequestId: opt('string') },
  UpdateAlias: { RequestId: opt('string') },
  UpdateKeyDescription: { RequestId: opt('string') },
  EnableKey: { RequestId: opt('string') },
  EnableKeys: { RequestId: opt('string') },
  DisableKey: { RequestId: opt('string') },
  DisableKeys: { RequestId: opt('string') },
  ScheduleKeyDeletion: { DeletionDate: opt('uint'), KeyId: opt('string'), RequestId: opt('string') },
  CancelKeyDeletion: { KeyId: opt('string'), RequestId: opt('string') },
  ArchiveKey: { RequestId: opt('string') },
  CancelKeyArchive: { RequestId: opt('string') },
  // Symmetric crypto (§4.2)
  Encrypt: { CiphertextBlob: opt('string'), KeyId: opt('string'), RequestId: opt('string') },
  Decrypt: { KeyId: opt('string'), Plaintext: opt('string'), RequestId: opt('string') },
  ReEncrypt: {
    CiphertextBlob: opt('string'), KeyId: opt('string'), SourceKeyId: opt('string'),
    ReEncrypted: opt('boolean'), RequestId: opt('string'),
  },
  GenerateDataKey: {
    KeyId: opt('string'), Plaintext: opt('string'), CiphertextBlob: opt('string'), DataKeyId: opt('string'),
    TagCode: opt('uint'), TagMsg: opt('string'), RequestId: opt('string'),
  },
  GenerateRandom: { Plaintext: req('string'), RequestId: opt('string') },
  // Asymmetric (§4.3)
  GetPublicKey: {
    KeyId: req('string'), PublicKey: req('string'), PublicKeyPem: req('string'), RequestId: opt('string'),
  },
  AsymmetricRsaDecrypt: { KeyId: opt('string'), Plaintext: opt('string'), RequestId: opt('string') },
  AsymmetricSm2Decrypt: { KeyId: opt('string'), Plaintext: opt('string'), RequestId: opt('string') },
  SignByAsymmetricKey: { Signature: opt('string'), RequestId: opt('string') },
  VerifyByAsymmetricKey: { SignatureValid: opt('boolean'), RequestId: opt('string') },
  // Import (§4.4)
  GetParametersForImport: {
    KeyId: req('string'), ImportToken: req('string'), PublicKey: req('string'),
    ParametersValidTo: req('uint'), RequestId: opt('string'),
  },
  ImportKeyMaterial: { RequestId: opt('string') },
  DeleteImportedKeyMaterial: { RequestId: opt('string') },
  // Rotation (§4.5)
  EnableKeyRotation: { RequestId: opt('string') },
  DisableKeyRotation: { RequestId: opt('string') },
  GetKeyRotationStatus: { KeyRotationEnabled: opt('boolean'), RequestId: opt('string') },
  RotateKey: { TaskId: opt('string'), RequestId: opt('string') },
  // Hosted data keys (§4.6)
  ImportDataKey: {
    KeyId: opt('string'), DataKeyId: opt('string'), TagCode: opt('uint'), TagMsg: opt('string'),
    RequestId: opt('string'),
  },
  DescribeDataKey: { DataKeyMetadata: opt(DataKeyMetadata), RequestId: opt('string') },
  DescribeDataKeys: { DataKeyMetadatas: opt(list(DataKeyMetadata)), RequestId: opt('string') },
  ListDataKeys: { DataKeys: opt(list(DataKey)), TotalCount: opt('uint'), RequestId: opt('string') },
  ListDataKeyDetail: {
    DataKeyMetadatas: opt(list(DataKeyMetadata)), TotalCount: opt('uint'), RequestId: opt('string'),
  },
  GetDataKeyPlaintext: { Plaintext: opt('string'), RequestId: opt('string') },
  GetDataKeyCiphertextBlob: { CiphertextBlob: opt('string'), RequestId: opt('string') },
  EnableDataKey: { RequestId: opt('string') },
  EnableDataKeys: { RequestId: opt('string') },
  DisableDataKey: { RequestId: opt('string') },
  DisableDataKeys: { RequestId: opt('string') },
  ScheduleDataKeyDeletion: { DeletionDate: opt('uint'), DataKeyId: opt('string'), RequestId: opt('string') },
  CancelDataKeyDeletion: { DataKeyId: opt('string'), RequestId: opt('string') },
  UpdateDataKeyName: { RequestId: opt('string') },
  UpdateDataKeyDescription: { RequestId: opt('string') },
  // White-box (§4.7)
  CreateWhiteBoxKey: {
    EncryptKey: opt('string'), DecryptKey: opt('string'), KeyId: opt('string'), TagCode: opt('uint'),
    TagMsg: opt('string'), RequestId: opt('string'),
  },
  DeleteWhiteBoxKey: { RequestId: opt('string') },
  DescribeWhiteBoxKey: { KeyInfo: opt(WhiteboxKeyInfo), RequestId: opt('string') },
  DescribeWhiteBoxKeyDetails: {
    KeyInfos: opt(list(WhiteboxKeyInfo)), TotalCount: opt('uint'), RequestId: opt('string'),
  },
  DescribeWhiteBoxDecryptKey: { DecryptKey: opt('string'), RequestId: opt('string') },
  DescribeWhiteBoxServiceStatus: { ServiceEnabled: opt('boolean'), RequestId: opt('string') },
  EnableWhiteBoxKey: { RequestId: opt('string') },
  EnableWhiteBoxKeys: { RequestId: opt('string') },
  DisableWhiteBoxKey: { RequestId: opt('string') },
  DisableWhiteBoxKeys: { RequestId: opt('string') },
  EncryptByWhiteBox: {
    InitializationVector: opt('string'), CipherText: opt('string'), RequestId: opt('string'),
  },
  DescribeWhiteBoxDeviceFingerprints: {
    DeviceFingerprints: opt(list(DeviceFingerprintInfo)), RequestId: opt('string'),
  },
  OverwriteWhiteBoxDeviceFingerprints: { RequestId: opt('string') },
  // Post-quantum (§4.8)
  PostQuantumCryptoEncrypt: { CiphertextBlob: opt('string'), KeyId: opt('string'), RequestId: opt('string') },
  PostQuantumCryptoDecrypt: { KeyId: opt('string'), PlainText: opt('string'), RequestId: opt('string') },
  PostQuantumCryptoSign: { Signature: opt('string'), RequestId: opt('string') },
  PostQuantumCryptoVerify: { SignatureValid: opt('boolean'), RequestId: opt('string') },
  // Binding (§4.9)
  BindCloudResource: { RequestId: opt('string') },
  UnbindCloudResource: { RequestId: opt('string') },
  // Service info (§4.10)
  GetServiceStatus: {
    ServiceEnabled: opt('boolean'), InvalidType: opt('int'), UserLevel: opt('uint'),
    ProExpireTime: opt('uint'), ProRenewFlag: opt('uint'), ProResourceId: opt('string'),
    ExclusiveVSMEnabled: opt('boolean'), ExclusiveHSMEnabled: opt('boolean'), SubscriptionInfo: opt('string'),
    CmkUserCount: opt('uint'), CmkLimit: opt('uint'), ExclusiveHSMList: opt(list(ExclusiveHSM)),
    IsAllowedDataKeyHosted: opt('boolean'), DataKeyLimit: opt('uint'), FreeDataKeyLimit: opt('uint'),
    DataKeyUsedCount: opt('uint'), SyncTaskList: opt(list(DestinationSyncConfig)),
    IsAllowedSync: opt('boolean'), QpsLimit: opt('uint'), QpsTotalLimit: opt('uint'),
    RegionsQps: opt(list(RegionQps)), ResourceZone: opt('uint'), ResourceRegion: opt('uint'),
    RequestId: opt('string'),
  },
  GetRegions: { Regions: opt(list('string')), RequestId: opt('string') },
  ListAlgorithms: {
    SymmetricAlgorithms: opt(list(AlgorithmInfo)), AsymmetricAlgorithms: opt(list(AlgorithmInfo)),
    AsymmetricSignVerifyAlgorithms: opt(list(AlgorithmInfo)), RequestId: opt('string'),
  },
};

// §1.8 error body; RequestId is present on errors too.
const errorResponseFields: FieldSpec = {
  Error: req(struct({ Code: req('string'), Message: req('string') })),
  RequestId: req('string'),
};

/**
 * Mismatches between a response body and the SDK model of `action`: unknown fields, missing
 * required ones, wrong JSON types, non-integer numbers and negative UInts (which the Go SDK fails
 * to decode, §1.8). Takes the `Response` object or the whole `{Response: …}` envelope; an
 * `Error` body is checked against the §1.8 error shape. Values are never quoted.
 */
export function checkAgainstSdkResponse(action: KmsAction, body: unknown): string[] {
  const inner = isPlainObject(body) && isPlainObject(body.Response) ? body.Response : body;
  if (!isPlainObject(inner)) return ['Response: expected an object'];
  const spec = Object.hasOwn(inner, 'Error') ? errorResponseFields : kmsResponseFields[action];
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
