import type { TencentErrorCode } from './error-codes.js';

// Which codes an action may answer (docs/contract/actions.md#error-lists): the codes of its own
// documented list (its ActionSpec's `errors`) and the common codes below, nothing else. A refusal
// whose natural code (mapError's) the action does not list is answered with the nearest code it
// does list, so a client matching the documented codes always sees one of them; only where the
// list has none that fits is a common code answered (docs/contract/actions.md#common-answers).

/**
 * Every action may answer these besides its own list: the steps of the processing order that
 * come before the action itself (transport, common parameters, routing, authentication, CAM,
 * rate limit; docs/contract/protocol.md#processing-order), the two codes of a failure of the
 * service rather than the request, and the classes answered where an action lists nothing that
 * fits: InvalidParameter (a value that cannot be read, or none the list names fits),
 * ResourceUnavailable (a key in a state the action's list has no code for).
 */
export const COMMON_CODES = [
  'UnsupportedProtocol',
  'RequestSizeLimitExceeded',
  'MissingParameter',
  'InvalidParameter',
  'InvalidAction',
  'NoSuchVersion',
  'UnsupportedRegion',
  'AuthFailure.InvalidAuthorization',
  'AuthFailure.InvalidSecretId',
  'AuthFailure.SecretIdNotFound',
  'AuthFailure.SignatureExpire',
  'AuthFailure.SignatureFailure',
  'AuthFailure.TokenFailure',
  'AuthFailure.UnauthorizedOperation',
  'RequestLimitExceeded',
  'InternalError',
  'ServiceUnavailable',
  'ResourceUnavailable',
] as const satisfies readonly TencentErrorCode[];

const COMMON: ReadonlySet<TencentErrorCode> = new Set(COMMON_CODES);

/**
 * The nearest codes to answer instead, in order of preference, when the action does not list a
 * code. A key state refusal becomes the nearest state code the action lists (a key pending
 * deletion or awaiting material cannot be used, as a disabled one cannot); a business-level
 * refusal of authorisation becomes CAM's; a service this server does not offer is one not
 * purchased. Parameter sub-codes fall back to their class (parameterChain).
 */
const NEAREST: Partial<Record<TencentErrorCode, readonly TencentErrorCode[]>> = {
  'ResourceUnavailable.KeyPendingDelete': ['ResourceUnavailable.CmkStateNotSupport', 'ResourceUnavailable.CmkDisabled', 'ResourceUnavailable'],
  'ResourceUnavailable.CmkArchived': ['ResourceUnavailable.CmkStateNotSupport', 'ResourceUnavailable.CmkDisabled', 'ResourceUnavailable'],
  'ResourceUnavailable.CmkStateNotSupport': ['ResourceUnavailable.CmkDisabled', 'ResourceUnavailable'],
  'ResourceUnavailable.CmkShouldBeDisabled': ['ResourceUnavailable.CmkStateNotSupport', 'ResourceUnavailable'],
  'ResourceUnavailable.CmkNotPendingDelete': ['ResourceUnavailable.CmkStateNotSupport', 'ResourceUnavailable'],
  'ResourceUnavailable.CmkDisabled': ['ResourceUnavailable.CmkStateNotSupport', 'ResourceUnavailable'],
  'ResourceUnavailable.DataKeyPendingDelete': ['ResourceUnavailable.DataKeyStateNotSupport', 'ResourceUnavailable.DataKeyDisabled', 'ResourceUnavailable'],
  'ResourceUnavailable.DataKeyDisabled': ['ResourceUnavailable.DataKeyStateNotSupport', 'ResourceUnavailable'],
  'ResourceUnavailable.DataKeyNotPendingDelete': ['ResourceUnavailable.DataKeyStateNotSupport', 'ResourceUnavailable'],
  'ResourceUnavailable.DataKeyStateNotSupport': ['ResourceUnavailable.DataKeyDisabled', 'ResourceUnavailable'],
  'FailedOperation.CmkUsedByCloudProduct': ['ResourceUnavailable.CmkStateNotSupport', 'ResourceUnavailable'],
  UnauthorizedOperation: ['AuthFailure.UnauthorizedOperation'],
  UnsupportedOperation: ['ResourceUnavailable.NotPurchased'],
  'InvalidParameterValue.DataKeyNameAlreadyExists': ['InvalidParameterValue.InvalidDataKeyName'],
  'UnsupportedOperation.UnsupportedKeyUsageInCurrentRegion': ['InvalidParameterValue.InvalidKeyUsage', 'InvalidParameterValue', 'InvalidParameter'],
  // A key whose usage does not rotate (EnableKeyRotation of an asymmetric key): the key named is the wrong kind.
  'UnsupportedOperation.RotateNotSupported': ['InvalidParameterValue.InvalidKeyUsage', 'InvalidParameterValue', 'InvalidParameter'],
};

function parameterChain(code: TencentErrorCode): readonly TencentErrorCode[] {
  if (code.startsWith('InvalidParameterValue.')) return ['InvalidParameterValue', 'InvalidParameter'];
  if (code === 'InvalidParameterValue' || code.startsWith('InvalidParameter.')) return ['InvalidParameter'];
  return [];
}

const listed = new WeakMap<readonly TencentErrorCode[], ReadonlySet<TencentErrorCode>>();
function setOf(errors: readonly TencentErrorCode[]): ReadonlySet<TencentErrorCode> {
  let set = listed.get(errors);
  if (!set) listed.set(errors, (set = new Set(errors)));
  return set;
}

/** Whether an action with this list may answer `code`: listed, or common. */
export function mayAnswer(errors: readonly TencentErrorCode[], code: string): boolean {
  return setOf(errors).has(code as TencentErrorCode) || COMMON.has(code as TencentErrorCode);
}

/**
 * The code an action with this error list answers for an error whose natural code is `code`:
 * `code` itself when the action may answer it, else the first of its nearest codes the action
 * lists, else the first of them that is common. A code with no fitting replacement stays as it is
 * (the error-list test, test/api/error-lists.test.ts, finds it).
 */
export function answerCode(errors: readonly TencentErrorCode[], code: TencentErrorCode): TencentErrorCode {
  const own = setOf(errors);
  if (own.has(code) || COMMON.has(code)) return code;
  const chain = [...(NEAREST[code] ?? []), ...parameterChain(code)];
  return chain.find((c) => own.has(c)) ?? chain.find((c) => COMMON.has(c)) ?? code;
}
