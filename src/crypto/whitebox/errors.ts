// Typed failures of the white-box library. The API layer and the client CLI choose their answer
// from `code`, never from the message.

export abstract class WhiteboxError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export type WhiteboxFormatProblem = 'magic' | 'version' | 'truncated' | 'checksum' | 'malformed';

/** The bytes are not a table set this library can read; `problem` says which check refused them. */
export class WhiteboxFormatError extends WhiteboxError {
  readonly code = 'WhiteboxFormat';
  constructor(
    readonly problem: WhiteboxFormatProblem,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The table set is bound to device fingerprints and the one given (or none) opens no slot.
 * Identities are not secret (docs/whitebox.md), so this is a deployment check, not access control.
 */
export class FingerprintNotBoundError extends WhiteboxError {
  readonly code = 'FingerprintNotBound';
}

/** An identity to bind does not have the shape the fingerprint collector produces. */
export class InvalidFingerprintError extends WhiteboxError {
  readonly code = 'InvalidFingerprint';
}

/** More identities than one table set may carry (200, OverwriteWhiteBoxDeviceFingerprints). */
export class FingerprintLimitExceededError extends WhiteboxError {
  readonly code = 'FingerprintLimitExceeded';
}

/** CBC input that cannot be a PKCS#7-padded message under this key: wrong length or padding. */
export class WhiteboxPaddingError extends WhiteboxError {
  readonly code = 'BadPadding';
}

/** An EncryptKey used to decrypt, or a DecryptKey used to encrypt. */
export class WrongTableDirectionError extends WhiteboxError {
  readonly code = 'WrongTableDirection';
}

/** A caller's argument is out of range: key or IV length, seed length, key id shape. */
export class WhiteboxParameterError extends WhiteboxError {
  readonly code = 'InvalidParameter';
}
