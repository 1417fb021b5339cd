import { ApiRequestError } from './signature.js';

// Rejections decided by the router itself (kms-api.md §1.7). Each code is the Tencent code.

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
  // Exactly this code: Go's automatic retry matches it literally (§1.7 step 5).
  readonly code = 'RequestLimitExceeded';
}

/** Fail-closed: the audit trail cannot be written, so calls are refused rather than served unaudited. */
export class AuditDownError extends ApiRequestError {
  readonly code = 'InternalError';
}

/** A request parameter that fails validation (validation.ts). */
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
