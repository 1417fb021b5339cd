import type * as DataKeyErrors from '../domain/data-keys.js';
import type { DataKeyRefusal } from '../domain/data-keys.js';
import type * as DomainErrors from '../domain/errors.js';
import type { Refusal } from '../domain/key-state.js';
import type * as HsmErrors from '../pkcs11/errors.js';
import type * as WhiteBoxErrors from '../domain/whitebox-keys.js';

// The one table from error kind to Tencent error code. Handlers map nothing
// themselves; API-layer errors (errors.ts) carry their Tencent code. Every table is keyed and
// valued by literal codes, so a misspelt code does not compile.

// Every code this service answers: docs/contract/protocol.md#error-codes, the common codes and the KMS ones, and
// CloudAudit's (docs/contract/audit.md#cloudaudit-error-codes).
export const TENCENT_ERROR_CODES = [
  'ActionOffline',
  'AuthFailure.InvalidAuthorization',
  'AuthFailure.InvalidSecretId',
  'AuthFailure.MFAFailure',
  'AuthFailure.SecretIdNotFound',
  'AuthFailure.SignatureExpire',
  'AuthFailure.SignatureFailure',
  'AuthFailure.TokenFailure',
  'AuthFailure.UnauthorizedOperation',
  'DryRunOperation',
  'FailedOperation',
  'InternalError',
  'InvalidAction',
  'InvalidParameter',
  'InvalidParameterValue',
  'InvalidRequest',
  'IpInBlacklist',
  'IpNotInWhitelist',
  'LimitExceeded',
  'MissingParameter',
  'NoSuchProduct',
  'NoSuchVersion',
  'RequestLimitExceeded',
  'RequestLimitExceeded.GlobalRegionUinLimitExceeded',
  'RequestLimitExceeded.IPLimitExceeded',
  'RequestLimitExceeded.UinLimitExceeded',
  'RequestSizeLimitExceeded',
  'ResponseSizeLimitExceeded',
  'ResourceInUse',
  'ResourceInsufficient',
  'ResourceNotFound',
  'ResourceUnavailable',
  'ServiceUnavailable',
  'UnauthorizedOperation',
  'UnknownParameter',
  'UnsupportedOperation',
  'UnsupportedProtocol',
  'UnsupportedRegion',
  'AuthFailure',
  'FailedOperation.CmkUsedByCloudProduct',
  'FailedOperation.DecryptError',
  'FailedOperation.EncryptionError',
  'FailedOperation.RotateTaskRunning',
  'FailedOperation.TaggingError',
  'InvalidParameter.DecryptMaterialError',
  'InvalidParameter.InvalidPendingWindowInDays',
  'InvalidParameterValue.AliasAlreadyExists',
  'InvalidParameterValue.InvalidAlias',
  'InvalidParameterValue.DataKeyNameAlreadyExists',
  'InvalidParameterValue.InvalidDataKeyName',
  'InvalidParameterValue.DuplicatedKeyId',
  'InvalidParameterValue.DuplicatedDataKeyId',
  'InvalidParameterValue.InvalidCiphertext',
  'InvalidParameterValue.InvalidKeyId',
  'InvalidParameterValue.InvalidDataKeyId',
  'InvalidParameterValue.InvalidHsmClusterId',
  'InvalidParameterValue.InvalidKeyUsage',
  'InvalidParameterValue.InvalidType',
  'InvalidParameterValue.InvalidPlaintext',
  'InvalidParameterValue.InvalidImportKeyMaterial',
  'InvalidParameterValue.MaterialNotMatch',
  'InvalidParameterValue.TagKeysDuplicated',
  'InvalidParameterValue.TagsNotExisted',
  'LimitExceeded.CmkLimitExceeded',
  'LimitExceeded.DataKeyLimitExceeded',
  'LimitExceeded.KeyLimitExceeded',
  'LimitExceeded.FingerprintsLimitExceeded',
  'RequestLimitExceeded.RotateRateLimited',
  'ResourceUnavailable.CmkNotFound',
  'ResourceUnavailable.CmkDisabled',
  'ResourceUnavailable.CmkArchived',
  'ResourceUnavailable.CmkNotPendingDelete',
  'ResourceUnavailable.CmkShouldBeDisabled',
  'ResourceUnavailable.CmkStateNotSupport',
  'ResourceUnavailable.KeyPendingDelete',
  'ResourceUnavailable.KeyDisabled',
  'ResourceUnavailable.DataKeyNotFound',
  'ResourceUnavailable.DataKeyDisabled',
  'ResourceUnavailable.DataKeyPendingDelete',
  'ResourceUnavailable.DataKeyNotPendingDelete',
  'ResourceUnavailable.DataKeyStateNotSupport',
  'ResourceUnavailable.CloudResourceBindingNotFound',
  'ResourceUnavailable.NotPurchased',
  'ResourceUnavailable.TokenExpired',
  'UnsupportedOperation.ExternalCmkCanNotRotate',
  'UnsupportedOperation.NotExternalCmk',
  'UnsupportedOperation.NotUserCreatedCmk',
  'UnsupportedOperation.NotRoleOperation',
  'UnsupportedOperation.RotateNotSupported',
  'UnsupportedOperation.ServiceTemporaryUnavailable',
  'UnsupportedOperation.UnsupportedKeyUsageInCurrentRegion',
  // CloudAudit's own (docs/contract/audit.md#cloudaudit-error-codes), for LookUpEvents and DescribeEvents.
  'FailedOperation.MemberNotAuditRole',
  'FailedOperation.MemberNotInOrganization',
  'InternalError.SearchError',
  'InvalidParameter.Time',
  'InvalidParameterValue.MaxResult',
  'InvalidParameterValue.Time',
  'InvalidParameterValue.attributeKey',
  'LimitExceeded.OverAmount',
  'LimitExceeded.OverTime',
] as const;
export type TencentErrorCode = (typeof TENCENT_ERROR_CODES)[number];

/** The `code` literal of every error class a module exports; a class whose code is computed has none here. */
type CodesOf<M> = {
  [K in keyof M]: M[K] extends abstract new (...args: never[]) => { readonly code: infer C extends string } ? (string extends C ? never : C) : never;
}[keyof M];

/** Every DomainError code: the classes' literals, and the state machines' refusals (KeyStateError, DataKeyStateError). */
export type DomainErrorCode =
  | CodesOf<typeof DomainErrors>
  | CodesOf<typeof DataKeyErrors>
  | CodesOf<typeof WhiteBoxErrors>
  | `KeyState.${Refusal}`
  | `DataKeyState.${DataKeyRefusal}`;
export type HsmErrorCode = CodesOf<typeof HsmErrors>;

export const DOMAIN: Readonly<Record<DomainErrorCode, TencentErrorCode>> = {
  InvalidArgument: 'InvalidParameterValue',
  NotFound: 'ResourceNotFound',
  AlreadyExists: 'InvalidParameterValue',
  QuotaExceeded: 'LimitExceeded',
  CredentialNotFound: 'AuthFailure.SecretIdNotFound',
  NotSupported: 'UnsupportedOperation',
  KeyNotFound: 'ResourceUnavailable.CmkNotFound',
  Unauthorized: 'AuthFailure.UnauthorizedOperation',
  AliasExists: 'InvalidParameterValue.AliasAlreadyExists',
  KeyInUse: 'FailedOperation.CmkUsedByCloudProduct',
  KeyLimit: 'LimitExceeded.CmkLimitExceeded',
  UnsupportedKeyUsage: 'UnsupportedOperation.UnsupportedKeyUsageInCurrentRegion',
  InvalidKeyType: 'InvalidParameterValue.InvalidType',
  ExternalKeyCannotRotate: 'UnsupportedOperation.ExternalCmkCanNotRotate',
  RotationNotSupported: 'UnsupportedOperation.RotateNotSupported',
  RotationRateLimited: 'RequestLimitExceeded.RotateRateLimited',
  RotationRunning: 'FailedOperation.RotateTaskRunning',
  BindingNotFound: 'ResourceUnavailable.CloudResourceBindingNotFound',
  InvalidCiphertext: 'InvalidParameterValue.InvalidCiphertext',
  InvalidKeyUsage: 'InvalidParameterValue.InvalidKeyUsage',
  EncryptionFailed: 'FailedOperation.EncryptionError',
  // BYOK (docs/contract/actions.md#group-import)
  NotExternalKey: 'UnsupportedOperation.NotExternalCmk',
  ImportTokenInvalid: 'InvalidParameter',
  ImportTokenExpired: 'ResourceUnavailable.TokenExpired',
  ImportMaterialUnreadable: 'InvalidParameter.DecryptMaterialError',
  MaterialNotMatch: 'InvalidParameterValue.MaterialNotMatch',
  // The state machine's refusals (domain/key-state.ts), docs/contract/keys.md#state-table.
  'KeyState.Disabled': 'ResourceUnavailable.CmkDisabled',
  'KeyState.PendingDelete': 'ResourceUnavailable.KeyPendingDelete',
  'KeyState.Archived': 'ResourceUnavailable.CmkArchived',
  'KeyState.StateNotSupported': 'ResourceUnavailable.CmkStateNotSupport',
  'KeyState.ShouldBeDisabled': 'ResourceUnavailable.CmkShouldBeDisabled',
  'KeyState.NotPendingDelete': 'ResourceUnavailable.CmkNotPendingDelete',
  // Hosted data keys (domain/data-keys.ts), docs/contract/actions.md#group-data-keys.
  DataKeyNotFound: 'ResourceUnavailable.DataKeyNotFound',
  DataKeyNameExists: 'InvalidParameterValue.DataKeyNameAlreadyExists',
  DataKeyLimit: 'LimitExceeded.DataKeyLimitExceeded',
  InvalidImportKeyMaterial: 'InvalidParameterValue.InvalidImportKeyMaterial',
  'DataKeyState.Disabled': 'ResourceUnavailable.DataKeyDisabled',
  'DataKeyState.PendingDelete': 'ResourceUnavailable.DataKeyPendingDelete',
  'DataKeyState.StateNotSupported': 'ResourceUnavailable.DataKeyStateNotSupport',
  'DataKeyState.NotPendingDelete': 'ResourceUnavailable.DataKeyNotPendingDelete',
  // White-box keys (domain/whitebox-keys.ts): each the code its actions list (docs/contract/actions.md#group-white-box).
  WhiteBoxKeyNotFound: 'ResourceNotFound',
  WhiteBoxKeyDisabled: 'ResourceUnavailable.KeyDisabled',
  // DeleteWhiteBoxKey's list names no state code: FailedOperation is the one that fits.
  WhiteBoxKeyNotDisabled: 'FailedOperation',
  WhiteBoxKeyLimit: 'LimitExceeded.KeyLimitExceeded',
  WhiteBoxFingerprintLimit: 'LimitExceeded.FingerprintsLimitExceeded',
  // docs/contract/protocol.md#common-error-codes: "the API is not offered in that region".
  WhiteBoxRegion: 'UnsupportedRegion',
};

export const HSM: Readonly<Record<HsmErrorCode, TencentErrorCode>> = {
  TokenUnavailable: 'ServiceUnavailable',
  MechanismUnsupported: 'UnsupportedOperation',
  DecryptFailed: 'FailedOperation.DecryptError',
  InvalidInput: 'InvalidParameterValue',
  // BYOK material of the wrong size; ImportService answers it with the action's own code first.
  MaterialSize: 'InvalidParameter',
  // The token's own failures, which no request causes: internal, answered without their message.
  ObjectNotFound: 'InternalError',
  MaterialMismatch: 'InternalError',
  SignatureInvalid: 'InternalError',
  OperationNotPermitted: 'InternalError',
  LoginFailed: 'InternalError',
  HsmInternal: 'InternalError',
};
