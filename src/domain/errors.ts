// Domain errors: typed, with a stable code. api/error-codes.ts is the one table from these
// codes to Tencent error codes; nothing chooses behaviour from message text.

export abstract class DomainError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A caller's argument is malformed in a way schema validation cannot see. */
export class InvalidArgumentError extends DomainError {
  readonly code = 'InvalidArgument';
}

export class NotFoundError extends DomainError {
  readonly code = 'NotFound';
}

export class AlreadyExistsError extends DomainError {
  readonly code = 'AlreadyExists';
}

/** A quota, such as two API keys per user. */
export class QuotaExceededError extends DomainError {
  readonly code = 'QuotaExceeded';
}

/** The credential is unknown, deleted or disabled (Tencent: AuthFailure.SecretIdNotFound). */
export class CredentialNotFoundError extends DomainError {
  readonly code = 'CredentialNotFound';
}

/** The action exists in the contract but this server does not provide it. */
export class NotSupportedError extends DomainError {
  readonly code = 'NotSupported';
}
