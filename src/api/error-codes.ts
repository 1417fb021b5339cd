import { DomainError } from '../domain/errors.js';
import { HsmError } from '../pkcs11/errors.js';
import { isStoreBusy } from '../store/db.js';
import { ParameterError } from './errors.js';
import { ApiRequestError } from './signature.js';

// The one table from error kind to Tencent error code (STYLE.md). Handlers map nothing
// themselves. API-layer errors already carry their Tencent code.

const DOMAIN: Record<string, string> = {
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
  // BYOK (kms-api.md §4.4)
  NotExternalKey: 'UnsupportedOperation.NotExternalCmk',
  ImportTokenInvalid: 'InvalidParameter',
  ImportTokenExpired: 'ResourceUnavailable.TokenExpired',
  ImportMaterialUnreadable: 'InvalidParameter.DecryptMaterialError',
  ImportMaterialSize: 'InvalidParameter',
  MaterialNotMatch: 'InvalidParameterValue.MaterialNotMatch',
  // The state machine's refusals (domain/key-state.ts), kms-api.md §2.3.
  'KeyState.Disabled': 'ResourceUnavailable.CmkDisabled',
  'KeyState.PendingDelete': 'ResourceUnavailable.KeyPendingDelete',
  'KeyState.Archived': 'ResourceUnavailable.CmkArchived',
  'KeyState.StateNotSupported': 'ResourceUnavailable.CmkStateNotSupport',
  'KeyState.ShouldBeDisabled': 'ResourceUnavailable.CmkShouldBeDisabled',
  'KeyState.NotPendingDelete': 'ResourceUnavailable.CmkNotPendingDelete',
  // Hosted data keys (domain/data-keys.ts), kms-api.md §4.6.
  DataKeyNotFound: 'ResourceUnavailable.DataKeyNotFound',
  DataKeyNameExists: 'InvalidParameterValue.DataKeyNameAlreadyExists',
  DataKeyLimit: 'LimitExceeded.DataKeyLimitExceeded',
  InvalidImportKeyMaterial: 'InvalidParameterValue.InvalidImportKeyMaterial',
  'DataKeyState.Disabled': 'ResourceUnavailable.DataKeyDisabled',
  'DataKeyState.PendingDelete': 'ResourceUnavailable.DataKeyPendingDelete',
  'DataKeyState.StateNotSupported': 'ResourceUnavailable.DataKeyStateNotSupport',
  'DataKeyState.NotPendingDelete': 'ResourceUnavailable.DataKeyNotPendingDelete',
};

const HSM: Record<string, string> = {
  TokenUnavailable: 'ServiceUnavailable',
  MechanismUnsupported: 'UnsupportedOperation',
  DecryptFailed: 'FailedOperation.DecryptError',
  InvalidInput: 'InvalidParameterValue',
};

export interface MappedError {
  code: string;
  message: string;
  /** true when the caller did nothing wrong: log the error in full, answer only the code. */
  internal: boolean;
}

export function mapError(err: unknown): MappedError {
  if (err instanceof ApiRequestError || err instanceof ParameterError) return { code: err.code, message: err.message, internal: false };
  if (err instanceof DomainError) {
    const code = DOMAIN[err.code];
    if (code) return { code, message: err.message, internal: false };
  }
  if (err instanceof HsmError) {
    const code = HSM[err.code];
    if (code === 'ServiceUnavailable') return { code, message: 'The key store is temporarily unavailable; retry later.', internal: true };
    if (code) return { code, message: err.message, internal: false };
  }
  // Another writer kept the database locked past SQLite's busy wait: transient, nothing was written.
  if (isStoreBusy(err)) return { code: 'ServiceUnavailable', message: 'The metadata store is busy; retry later.', internal: true };
  return { code: 'InternalError', message: 'An internal error occurred; quote the RequestId when reporting it.', internal: true };
}
