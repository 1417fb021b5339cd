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

/** No such CMK in the caller's account and region (or it was deleted). */
export class KeyNotFoundError extends DomainError {
  readonly code = 'KeyNotFound';
}

export class AliasExistsError extends DomainError {
  readonly code = 'AliasExists';
}

/** The key is bound to a cloud resource (BindCloudResource) and cannot be disabled, archived or deleted. */
export class KeyInUseError extends DomainError {
  readonly code = 'KeyInUse';
}

export class KeyLimitError extends DomainError {
  readonly code = 'KeyLimit';
}

/** The key usage is not offered in the region (its standard, or the token's mechanisms). */
export class UnsupportedKeyUsageError extends DomainError {
  readonly code = 'UnsupportedKeyUsage';
}

/** EXTERNAL material is for symmetric ENCRYPT_DECRYPT keys only. */
export class InvalidKeyTypeError extends DomainError {
  readonly code = 'InvalidKeyType';
}

export class ExternalKeyCannotRotateError extends DomainError {
  readonly code = 'ExternalKeyCannotRotate';
}

export class RotationNotSupportedError extends DomainError {
  readonly code = 'RotationNotSupported';
}

/** Manual rotation at most once per 24 hours (docs/contract/actions.md#group-rotation RotateKey). */
export class RotationRateLimitedError extends DomainError {
  readonly code = 'RotationRateLimited';
}

export class BindingNotFoundError extends DomainError {
  readonly code = 'BindingNotFound';
}

/** The ciphertext is malformed, tampered with, or its EncryptionContext does not match. */
export class InvalidCiphertextError extends DomainError {
  readonly code = 'InvalidCiphertext';
}

/** The key's usage does not allow the operation (e.g. Encrypt with a signing key). */
export class InvalidKeyUsageError extends DomainError {
  readonly code = 'InvalidKeyUsage';
}

/** Re-encrypting a plaintext to the caller's EncryptionPublicKey failed. */
export class EncryptionError extends DomainError {
  readonly code = 'EncryptionFailed';
}

/** Another rotation of the same key is in progress (docs/contract/actions.md#group-rotation RotateKey). */
export class RotationRunningError extends DomainError {
  readonly code = 'RotationRunning';
}

/** CAM denied the call (docs/contract/cam.md#evaluation). */
export class UnauthorizedError extends DomainError {
  readonly code = 'Unauthorized';
}

/** BYOK on a key whose material KMS generated (docs/contract/actions.md#group-import). */
export class NotExternalKeyError extends DomainError {
  readonly code = 'NotExternalKey';
}

/** The ImportToken was not issued for this key (unknown, another key's, another account's). */
export class ImportTokenInvalidError extends DomainError {
  readonly code = 'ImportTokenInvalid';
}

/** The ImportToken is past its 24 hours, or was already used. */
export class ImportTokenExpiredError extends DomainError {
  readonly code = 'ImportTokenExpired';
}

/** EncryptedKeyMaterial could not be unwrapped with the import parameters' private key. */
export class ImportMaterialUnreadableError extends DomainError {
  readonly code = 'ImportMaterialUnreadable';
}

/** Re-imported material differs from the material imported first. */
export class MaterialNotMatchError extends DomainError {
  readonly code = 'MaterialNotMatch';
}
