import pkcs11js from 'pkcs11js';

// PKCS#11 failures are translated once, here, into typed errors. No CKR code
// travels above src/pkcs11 except as a diagnostic string for logs.

export abstract class HsmError extends Error {
  abstract readonly code: string;
  /** CKR name for logs only; never choose behaviour from it above this layer. */
  readonly ckr: string | undefined;
  constructor(message: string, ckr?: string) {
    super(message);
    this.name = new.target.name;
    this.ckr = ckr;
  }
}

/** The token cannot be reached (removed, finalised, directory gone); retried with back-off before surfacing. */
export class TokenUnavailableError extends HsmError {
  readonly code = 'TokenUnavailable';
}

/** No object with that name in the token. */
export class ObjectNotFoundError extends HsmError {
  readonly code = 'ObjectNotFound';
}

/** The token does not offer a mechanism (or parameters) the operation needs. */
export class MechanismUnsupportedError extends HsmError {
  readonly code = 'MechanismUnsupported';
}

/** Decryption, unwrapping or tag verification failed. Says nothing more, on purpose. */
export class DecryptFailedError extends HsmError {
  readonly code = 'DecryptFailed';
}

/** Imported key material is not the material a keyed fingerprint was taken of. */
export class MaterialMismatchError extends HsmError {
  readonly code = 'MaterialMismatch';
}

/** Imported key material is not a key of the size it must have (BYOK). */
export class MaterialSizeError extends HsmError {
  readonly code = 'MaterialSize';
}

/** A signature did not verify. */
export class SignatureInvalidError extends HsmError {
  readonly code = 'SignatureInvalid';
}

/** Input the token refused as malformed (data length, key size, template). */
export class InvalidInputError extends HsmError {
  readonly code = 'InvalidInput';
}

/** The operation is refused by the key's attributes (e.g. export of a non-extractable key). */
export class OperationNotPermittedError extends HsmError {
  readonly code = 'OperationNotPermitted';
}

/** Login failed: wrong PIN, locked PIN, token not initialised. */
export class LoginFailedError extends HsmError {
  readonly code = 'LoginFailed';
}

/** Anything else the token reported. */
export class HsmInternalError extends HsmError {
  readonly code = 'HsmInternal';
}

const ckrNames = new Map<number, string>();
const ckrValues = new Map<string, number>();
for (const [name, value] of Object.entries(pkcs11js)) {
  if (!name.startsWith('CKR_') || typeof value !== 'number') continue;
  if (!ckrNames.has(value)) ckrNames.set(value, name);
  ckrValues.set(name, value);
}

export function ckrName(code: number): string {
  return ckrNames.get(code) ?? `CKR_0x${code.toString(16)}`;
}

/**
 * The CKR code of a pkcs11js error, or undefined for anything else. pkcs11js throws two forms:
 * a `Pkcs11Error` with `.code` from most calls, and a plain `Error("CKR_NAME:n")` from
 * C_CreateObject, C_CopyObject and C_Initialize (docs/contract/token-facts.md#pkcs11js-errors).
 */
export function ckrOf(err: unknown): number | undefined {
  if (err instanceof pkcs11js.Pkcs11Error) return err.code;
  if (!(err instanceof Error) || err instanceof HsmError) return undefined;
  const m = /^(CKR_[A-Z0-9_]+):(\d+)/.exec(err.message.trim());
  if (!m) return undefined;
  return ckrValues.get(m[1]!) ?? Number(m[2]);
}

// Codes that mean the session or the whole token is gone (docs/contract/token-facts.md#token-lost):
// the caller recovers (reopen, re-login, or finalize/initialise) and retries.
const LOST = new Set<number>([
  pkcs11js.CKR_SESSION_HANDLE_INVALID,
  pkcs11js.CKR_SESSION_CLOSED,
  pkcs11js.CKR_CRYPTOKI_NOT_INITIALIZED,
  pkcs11js.CKR_DEVICE_REMOVED,
  pkcs11js.CKR_DEVICE_ERROR,
  pkcs11js.CKR_TOKEN_NOT_PRESENT,
  pkcs11js.CKR_TOKEN_NOT_RECOGNIZED,
  pkcs11js.CKR_USER_NOT_LOGGED_IN,
  pkcs11js.CKR_SLOT_ID_INVALID,
]);

export function isTokenLost(err: unknown): boolean {
  const code = ckrOf(err);
  return code !== undefined && LOST.has(code);
}

export function isHandleInvalid(err: unknown): boolean {
  const code = ckrOf(err);
  return code === pkcs11js.CKR_OBJECT_HANDLE_INVALID || code === pkcs11js.CKR_KEY_HANDLE_INVALID;
}

export function isGeneralError(err: unknown): boolean {
  return ckrOf(err) === pkcs11js.CKR_GENERAL_ERROR;
}

/**
 * Translate an error thrown by pkcs11js during `operation`. `kind` tells how to
 * read the ambiguous codes: SoftHSM2 reports a bad GCM tag as CKR_GENERAL_ERROR.
 */
export function translate(err: unknown, operation: string, kind: 'decrypt' | 'verify' | 'other' = 'other'): HsmError {
  if (err instanceof HsmError) return err;
  const code = ckrOf(err);
  if (code === undefined) {
    const msg = err instanceof Error ? err.message : String(err);
    return new HsmInternalError(`${operation}: ${msg}`);
  }
  const name = ckrName(code);
  const p = pkcs11js;
  if (LOST.has(code)) return new TokenUnavailableError(`${operation}: token unavailable`, name);
  // A ciphertext of a length the key cannot have (NSS answers RSA decryption and unwrap so) is a
  // decryption that failed, like any other.
  if (kind === 'decrypt' && (code === p.CKR_DATA_LEN_RANGE || code === p.CKR_DATA_INVALID)) return new DecryptFailedError(`${operation}: failed`, name);
  switch (code) {
    case p.CKR_MECHANISM_INVALID:
    case p.CKR_MECHANISM_PARAM_INVALID:
    case p.CKR_FUNCTION_NOT_SUPPORTED:
      return new MechanismUnsupportedError(`${operation}: the token does not support this mechanism or its parameters`, name);
    case p.CKR_ARGUMENTS_BAD:
      // SoftHSM2 answers OAEP with SHA-256 this way; NSS a signature of the wrong length.
      if (kind === 'verify') return new SignatureInvalidError(`${operation}: signature does not verify`, name);
      return kind === 'other'
        ? new MechanismUnsupportedError(`${operation}: the token refused the mechanism parameters`, name)
        : new DecryptFailedError(`${operation}: failed`, name);
    case p.CKR_SIGNATURE_INVALID:
    case p.CKR_SIGNATURE_LEN_RANGE:
      return new SignatureInvalidError(`${operation}: signature does not verify`, name);
    case p.CKR_ENCRYPTED_DATA_INVALID:
    case p.CKR_ENCRYPTED_DATA_LEN_RANGE:
    case p.CKR_WRAPPED_KEY_INVALID:
    case p.CKR_WRAPPED_KEY_LEN_RANGE:
    case p.CKR_UNWRAPPING_KEY_HANDLE_INVALID:
      return new DecryptFailedError(`${operation}: failed`, name);
    // openCryptoki answers a failed OAEP decoding CKR_FUNCTION_FAILED; SoftHSM2 a bad GCM tag
    // CKR_GENERAL_ERROR: in a decryption (or verification) both mean it did not succeed.
    case p.CKR_FUNCTION_FAILED:
    case p.CKR_GENERAL_ERROR:
      if (kind === 'decrypt') return new DecryptFailedError(`${operation}: failed`, name);
      if (kind === 'verify') return new SignatureInvalidError(`${operation}: signature does not verify`, name);
      return new HsmInternalError(`${operation}: token error`, name);
    case p.CKR_KEY_UNEXTRACTABLE:
    case p.CKR_KEY_FUNCTION_NOT_PERMITTED:
    case p.CKR_KEY_TYPE_INCONSISTENT:
    case p.CKR_ATTRIBUTE_SENSITIVE:
    case p.CKR_KEY_NOT_WRAPPABLE:
      return new OperationNotPermittedError(`${operation}: not permitted by the key's attributes`, name);
    case p.CKR_DATA_LEN_RANGE:
    case p.CKR_DATA_INVALID:
    case p.CKR_KEY_SIZE_RANGE:
    case p.CKR_TEMPLATE_INCONSISTENT:
    case p.CKR_TEMPLATE_INCOMPLETE:
    case p.CKR_ATTRIBUTE_VALUE_INVALID:
    case p.CKR_DOMAIN_PARAMS_INVALID:
      return new InvalidInputError(`${operation}: input refused by the token`, name);
    case p.CKR_PIN_INCORRECT:
    case p.CKR_PIN_LOCKED:
    case p.CKR_PIN_EXPIRED:
    case p.CKR_USER_PIN_NOT_INITIALIZED:
      return new LoginFailedError(`${operation}: login refused by the token`, name);
    default:
      return new HsmInternalError(`${operation}: token error`, name);
  }
}
