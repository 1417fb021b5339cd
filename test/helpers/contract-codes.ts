// The error codes of the wire contract (docs/contract/protocol.md#error-codes "Common error codes" and its KMS-specific
// table, transcribed from the Tencent Cloud API 3.0 and Go SDK errors.go lists), written out here
// so the tests judge the server against the contract, not against src/api/error-codes.ts.

const COMMON = [
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
];

const KMS = [
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
];

// docs/contract/audit.md#cloudaudit-error-codes: CloudAudit's own codes of LookUpEvents and DescribeEvents.
const CLOUDAUDIT = [
  'FailedOperation.MemberNotAuditRole',
  'FailedOperation.MemberNotInOrganization',
  'InternalError.SearchError',
  'InvalidParameter.Time',
  'InvalidParameterValue.MaxResult',
  'InvalidParameterValue.Time',
  'InvalidParameterValue.attributeKey',
  'LimitExceeded.OverAmount',
  'LimitExceeded.OverTime',
];

export const CONTRACT_CODES: ReadonlySet<string> = new Set([...COMMON, ...KMS, ...CLOUDAUDIT]);

export function isContractCode(code: unknown): code is string {
  return typeof code === 'string' && CONTRACT_CODES.has(code);
}

export interface EnvelopeVerdict {
  ok: boolean;
  /** The error code, or undefined for a success envelope. */
  code: string | undefined;
  problem?: string;
}

/**
 * docs/contract/protocol.md#envelope: HTTP 200, `{"Response":{…,"RequestId":"<uuid>"}}`, an error carrying
 * `Error.Code` (a contract code) and `Error.Message`. InternalError fails unless allowed.
 */
export function judgeEnvelope(status: number, text: string, opts: { allowInternal?: boolean } = {}): EnvelopeVerdict {
  if (status !== 200) return { ok: false, code: undefined, problem: `HTTP ${status}` };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, code: undefined, problem: 'answer is not JSON' };
  }
  const response = (body as { Response?: Record<string, unknown> } | null)?.Response;
  if (typeof response !== 'object' || response === null) return { ok: false, code: undefined, problem: 'no Response object' };
  if (typeof response.RequestId !== 'string' || !/^[0-9a-f-]{36}$/.test(response.RequestId)) return { ok: false, code: undefined, problem: 'no RequestId' };
  if (response.Error === undefined) return { ok: true, code: undefined };
  const error = response.Error as { Code?: unknown; Message?: unknown };
  if (typeof error.Message !== 'string') return { ok: false, code: undefined, problem: 'Error.Message missing' };
  if (!isContractCode(error.Code)) return { ok: false, code: String(error.Code), problem: `code ${String(error.Code)} is not in the contract` };
  if (error.Code === 'InternalError' && !opts.allowInternal) return { ok: false, code: error.Code, problem: 'InternalError' };
  if (/\n\s+at .+:\d+:\d+/.test(error.Message)) return { ok: false, code: error.Code, problem: 'stack trace in the message' };
  return { ok: true, code: error.Code };
}
