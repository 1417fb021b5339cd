import { DomainError } from '../domain/errors.js';
import { HsmError } from '../pkcs11/errors.js';
import { StoreBusyError } from '../model/errors.js';
import { DOMAIN, HSM, type DomainErrorCode, type HsmErrorCode, type TencentErrorCode } from './error-codes.js';

// The API's errors and their answers. The API layer's own refusals carry their Tencent code
// (docs/contract/protocol.md#error-codes); mapError turns any error into the envelope's code and message.

// Each error's `code` is the Tencent error code (docs/contract/protocol.md#error-codes) the envelope carries.

export abstract class ApiRequestError extends Error {
  abstract readonly code: TencentErrorCode;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class UnsupportedProtocolError extends ApiRequestError {
  readonly code = 'UnsupportedProtocol';
}

export class RequestSizeLimitExceededError extends ApiRequestError {
  readonly code = 'RequestSizeLimitExceeded';
}

export class MissingParameterError extends ApiRequestError {
  readonly code = 'MissingParameter';
  constructor(readonly parameter: string) {
    super(`The request is missing a required parameter \`${parameter}\`.`);
  }
}

export class InvalidParameterError extends ApiRequestError {
  readonly code = 'InvalidParameter';
}

export class InvalidParameterValueError extends ApiRequestError {
  readonly code = 'InvalidParameterValue';
}

export class InvalidAuthorizationError extends ApiRequestError {
  readonly code = 'AuthFailure.InvalidAuthorization';
}

export class SignatureExpireError extends ApiRequestError {
  readonly code = 'AuthFailure.SignatureExpire';
}

export class SignatureFailureError extends ApiRequestError {
  readonly code = 'AuthFailure.SignatureFailure';
}

// API 3.0 has no replay code; a replay is a signature that is no longer acceptable.
export class ReplayedRequestError extends ApiRequestError {
  readonly code = 'AuthFailure.SignatureFailure';
}

// Rejections decided by the router itself (docs/contract/protocol.md#processing-order). Each code is the Tencent code.

export class InvalidActionError extends ApiRequestError {
  readonly code = 'InvalidAction';
}

export class NoSuchVersionError extends ApiRequestError {
  readonly code = 'NoSuchVersion';
}

export class UnsupportedRegionError extends ApiRequestError {
  readonly code = 'UnsupportedRegion';
}

export class TokenFailureError extends ApiRequestError {
  readonly code = 'AuthFailure.TokenFailure';
}

export class RequestLimitExceededError extends ApiRequestError {
  // Exactly this code: Go's automatic retry matches it literally (docs/contract/protocol.md#processing-step-5).
  readonly code = 'RequestLimitExceeded';
}

/** A MemberAccount naming another account: there are no organisation members on premises (docs/contract/keys.md#member-account). */
export class MemberAccountError extends ApiRequestError {
  readonly code = 'UnauthorizedOperation';
}

/** Fail-closed: the audit trail cannot be written, so calls are refused rather than served unaudited. */
export class AuditDownError extends ApiRequestError {
  readonly code = 'InternalError';
}

/** A request parameter that fails validation (validation.ts). */
export class ParameterError extends Error {
  constructor(
    /** Tencent error code: MissingParameter, InvalidParameter, InvalidParameterValue[.Sub]. */
    readonly code: TencentErrorCode,
    /** Wire path of the offending field in flattened form (`Tags.0.TagKey`); '' for the whole request. */
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ParameterError';
  }
}

export interface MappedError {
  code: TencentErrorCode;
  message: string;
  /** true when the caller did nothing wrong: log the error in full, answer only the code. */
  internal: boolean;
}

export function mapError(err: unknown): MappedError {
  if (err instanceof ApiRequestError || err instanceof ParameterError) return { code: err.code, message: err.message, internal: false };
  if (err instanceof DomainError) {
    const code = DOMAIN[err.code as DomainErrorCode];
    if (code) return { code, message: err.message, internal: false };
  }
  if (err instanceof HsmError) {
    const code = HSM[err.code as HsmErrorCode];
    if (code === 'ServiceUnavailable') return { code, message: 'The key store is temporarily unavailable; retry later.', internal: true };
    if (code && code !== 'InternalError') return { code, message: err.message, internal: false };
  }
  // Another writer kept the database locked past SQLite's busy wait: transient, nothing was written.
  if (err instanceof StoreBusyError) return { code: 'ServiceUnavailable', message: 'The metadata store is busy; retry later.', internal: true };
  return { code: 'InternalError', message: 'An internal error occurred; quote the RequestId when reporting it.', internal: true };
}
