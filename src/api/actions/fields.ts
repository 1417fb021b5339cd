import { RSA_ENCRYPTION_ALGORITHMS as RSA_ENCRYPTION_SCHEMES, type RsaEncryptionAlgorithm } from '../../domain/key-usages.js';
import { z } from 'zod';
import type { TencentErrorCode } from '../error-codes.js';
import { coded, optionalOrEmpty } from '../validation.js';

// Request building blocks shared by the actions' schemas. Field names, optionality and JSON
// types follow the CN Node SDK 4.1.313 (`kms_models.d.ts`, the authority); Int vs UInt, which the
// .d.ts flattens to `number`, and the value limits follow docs/contract (§ numbers below refer to
// it). test/unit/kms-schemas.test.ts re-reads the .d.ts so either side drifting fails the build.
//
// Every check carries a "must …" message: ParameterError prefixes the field name, and no message
// ever includes the submitted value (Plaintext, key material, tokens).

// Int and UInt differ on the wire only in sign, so a range says all there is to say.
export const UInt = z.int().min(0, 'must not be negative');
export function intRange(min: number, max: number): z.ZodNumber {
  return z.int().min(min, `must be from ${min} to ${max}`).max(max, `must be from ${min} to ${max}`);
}
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, `must be one of ${values.join(', ')}`);
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
export function maxBytes(max: number): z.ZodString {
  return z.string().refine((text) => utf8Bytes(text) <= max, `must be at most ${max} bytes of UTF-8`);
}
/** Characters as the SDK text counts them: code points, so a character outside the BMP is one. */
export function maxChars(max: number): z.ZodString {
  return z.string().refine((text) => text.length <= max || [...text].length <= max, `must be at most ${max} characters`);
}
export const NonEmpty = z.string().min(1, 'must not be empty');

// Padded standard base64, as every SDK's encoder writes it; Buffer.from(…,'base64') would accept
// anything, so the shape is checked first.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
export function base64Length(text: string): number | undefined {
  if (!BASE64.test(text)) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}
export function base64Of(min: number, max = Infinity): z.ZodString {
  const size = max === Infinity ? `at least ${min} bytes` : min === max ? `${min} bytes` : `${min} to ${max} bytes`;
  return z.string().refine((text) => {
    const length = base64Length(text);
    return length !== undefined && length >= min && length <= max;
  }, `must be base64 (standard alphabet, padded) of ${size}`);
}

// docs/contract/keys.md#ciphertext: ids keep the cloud's lower-case UUID shape, so anything else is malformed
// (…InvalidKeyId) rather than unknown (CmkNotFound).
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const KeyId = coded(z.string().regex(UUID, 'must be a key id (lower-case UUID)'), 'InvalidParameterValue.InvalidKeyId');
export const DataKeyId = coded(z.string().regex(UUID, 'must be a data key id (lower-case UUID)'), 'InvalidParameterValue.InvalidDataKeyId');

function idList(id: z.ZodString, max: number, duplicateCode: TencentErrorCode) {
  return z
    .array(id)
    .min(1, `must hold 1 to ${max} ids`)
    .max(max, `must hold 1 to ${max} ids`)
    .refine((ids) => new Set(ids).size === ids.length, { message: 'must not repeat an id', params: { code: duplicateCode } });
}
// docs/contract/actions.md#group-lifecycle DescribeKeys/EnableKeys/DisableKeys, docs/contract/actions.md#group-data-keys *DataKeys: ≤100; docs/contract/actions.md#group-white-box *WhiteBoxKeys: ≤50.
export const KeyIds = idList(KeyId, 100, 'InvalidParameterValue.DuplicatedKeyId');
export const WhiteBoxKeyIds = idList(KeyId, 50, 'InvalidParameterValue.DuplicatedKeyId');
export const DataKeyIds = idList(DataKeyId, 100, 'InvalidParameterValue.DuplicatedDataKeyId');

// docs/contract/actions.md#group-lifecycle CreateKey (and docs/contract/ambiguities.md#alias-rule for UpdateAlias): 1–60 of [A-Za-z0-9_-], first a letter or digit;
// the `kms-` prefix is reserved for aliases cloud products create.
const ALIAS = /^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$/;
const ALIAS_RULE = 'must be 1 to 60 of A-Z a-z 0-9 _ -, starting with a letter or digit';
export const CmkAlias = coded(
  z
    .string()
    .regex(ALIAS, ALIAS_RULE)
    .refine((alias) => !/^kms-/i.test(alias), 'must not start with the reserved prefix kms-'),
  'InvalidParameterValue.InvalidAlias',
);
// docs/contract/actions.md#group-white-box: "same rule as CMK alias"; the SDK text says nothing of a reserved prefix here.
export const WhiteBoxAlias = coded(z.string().regex(ALIAS, ALIAS_RULE), 'InvalidParameterValue.InvalidAlias');

export const CmkDescription = maxBytes(1024); // docs/contract/keys.md#key-metadata, docs/contract/actions.md#group-lifecycle
export const DataKeyDescription = maxBytes(100); // docs/contract/keys.md#structures, docs/contract/actions.md#group-symmetric GenerateDataKey
// Naming rules for hosted data keys are undocumented; only the empty name is certainly invalid.
export const DataKeyName = coded(z.string().min(1, 'must not be empty'), 'InvalidParameterValue.InvalidDataKeyName');

// docs/contract/actions.md#group-symmetric Encrypt: base64 of at most 4096 bytes. Empty plaintext is refused too (nothing to protect).
export const Plaintext = coded(base64Of(1, 4096), 'InvalidParameterValue.InvalidPlaintext');
export const Message = base64Of(1, 4096); // docs/contract/actions.md#group-asymmetric Sign (RAW ≤4096; DIGEST length depends on the algorithm, docs/contract/ambiguities.md#digest-length)
export const CiphertextBlob = coded(NonEmpty, 'InvalidParameterValue.InvalidCiphertext');

// docs/contract/actions.md#group-symmetric: a JSON object of key/value pairs; '' means "no context" (ReEncrypt:
// "empty if none"). At most 1024 characters where the SDK model states it (Encrypt, Decrypt), none
// elsewhere (docs/contract/ambiguities.md#encryption-context-limit).
function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
export const EncryptionContext = optionalOrEmpty(z.string().refine(isJsonObject, 'must be a JSON object of key/value pairs'));
export const EncryptionContextOf1024 = optionalOrEmpty(maxChars(1024).refine(isJsonObject, 'must be a JSON object of key/value pairs'));

// docs/contract/actions.md#group-symmetric Decrypt: the wrap of the returned plaintext to a caller key; '' = not wrapped / SM2.
export const EncryptionPublicKey = optionalOrEmpty(z.string());
export const EncryptionAlgorithm = optionalOrEmpty(oneOf(['SM2', 'SM2_C1C3C2_ASN1', 'RSAES_PKCS1_V1_5', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']));

// The key usages and RSA algorithm names come from the one catalogue (domain/key-usages.ts).
export { KEY_USAGES } from '../../domain/key-usages.js';
export const RSA_ENCRYPTION_ALGORITHMS = Object.keys(RSA_ENCRYPTION_SCHEMES) as [RsaEncryptionAlgorithm, ...RsaEncryptionAlgorithm[]];
// docs/contract/actions.md#group-asymmetric: "SM2DSA / ECC_P256_R1 / RSA_PSS_SHA_256 / RSA_PKCS1_SHA_256 / … (ListAlgorithms is
// authoritative)" — an open list, so only the shape is checked here; the use case matches the
// algorithm against the key's usage.
export const SignAlgorithm = z.string().regex(/^[A-Z0-9_]{1,64}$/, 'must be a signature algorithm name from ListAlgorithms');
export const MessageType = oneOf(['RAW', 'DIGEST']);

export const Tag = z.object({ TagKey: z.string().min(1, 'must not be empty'), TagValue: z.string() });
export const Tags = z.array(Tag).refine((tags) => new Set(tags.map((tag) => tag.TagKey)).size === tags.length, {
  message: 'must not repeat a TagKey',
  params: { code: 'InvalidParameterValue.TagKeysDuplicated' satisfies TencentErrorCode },
});
export const TagFilter = z.object({ TagKey: z.string(), TagValue: z.array(z.string()).optional() });
export const MemberAccount = z.object({ MemberAppId: UInt.optional(), MemberUin: UInt.optional() }); // docs/contract/keys.md#multi-account

// docs/contract/keys.md#list-key-detail-filters / docs/contract/actions.md#group-data-keys list filters.
export const Offset = UInt;
export const Limit = intRange(1, 200);
export const Role = intRange(0, 1);
export const OrderType = intRange(0, 1);
export const Origin = optionalOrEmpty(oneOf(['TENCENT_KMS', 'EXTERNAL', 'ALL']));
// docs/contract/keys.md#hsm-cluster: one cluster on premises, the service's own token, which the
// cloud's text calls `default` (the shared cluster); '' or absent means the same. Any other id
// names a cluster that does not exist here.
export const HsmClusterId = optionalOrEmpty(
  coded(
    z.string().refine((id) => id === 'default', 'must be empty or `default`: this service has one HSM cluster, its own token'),
    'InvalidParameterValue.InvalidHsmClusterId',
  ),
);
export const PendingWindowInDays = coded(intRange(7, 30), 'InvalidParameter.InvalidPendingWindowInDays'); // docs/contract/protocol.md#error-codes

// docs/contract/keys.md#structures: the fingerprint collector's format.
export const DeviceFingerprint = z.object({
  Identity: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{14}-[0-9a-f]{14}-[0-9a-f]{14}-[0-9a-f]{16}$/, 'must be a device fingerprint identity'),
  Description: maxBytes(1024).optional(),
});

// A rule spanning fields reports on one of them; when that field is absent the error is
// MissingParameter (see toParameterError).
type RuleContext = z.RefinementCtx;
export function requireField(ctx: RuleContext, field: string, reason: string): void {
  ctx.addIssue({ code: 'custom', path: [field], message: reason });
}
