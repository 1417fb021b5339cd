import { describe, expect, it } from 'vitest';
import { DOMAIN, HSM, TENCENT_ERROR_CODES } from '../../src/api/error-codes.js';
import { InvalidActionError, mapError, ParameterError } from '../../src/api/errors.js';
import { KeyNotFoundError } from '../../src/domain/errors.js';
import { KeyStateError } from '../../src/domain/key-state.js';
import { DecryptFailedError, HsmInternalError, LoginFailedError, ObjectNotFoundError, TokenUnavailableError } from '../../src/pkcs11/errors.js';
import { CONTRACT_CODES } from '../helpers/contract-codes.js';

// The error tables (src/api/error-codes.ts) speak only the contract's codes (docs/contract/protocol.md#error-codes),
// and mapError keeps the answer of every error kind.

describe('error codes', () => {
  it('the codes the service may answer are exactly the contract’s', () => {
    expect([...TENCENT_ERROR_CODES].sort()).toEqual([...CONTRACT_CODES].sort());
  });

  it('every domain and HSM error kind maps to a contract code', () => {
    for (const code of [...Object.values(DOMAIN), ...Object.values(HSM)]) expect(CONTRACT_CODES.has(code), code).toBe(true);
  });

  it('mapError: API, parameter and domain errors answer their code and message', () => {
    expect(mapError(new InvalidActionError('no such action'))).toEqual({ code: 'InvalidAction', message: 'no such action', internal: false });
    expect(mapError(new ParameterError('InvalidParameterValue.InvalidKeyId', 'KeyId', 'bad id'))).toEqual({
      code: 'InvalidParameterValue.InvalidKeyId',
      message: 'bad id',
      internal: false,
    });
    expect(mapError(new KeyNotFoundError('gone'))).toEqual({ code: 'ResourceUnavailable.CmkNotFound', message: 'gone', internal: false });
    expect(mapError(new KeyStateError('Disabled', 'Encrypt', 'Disabled', 'k')).code).toBe('ResourceUnavailable.CmkDisabled');
  });

  it('mapError: the token’s own failures are internal, answered without their message', () => {
    expect(mapError(new DecryptFailedError('tag mismatch'))).toEqual({ code: 'FailedOperation.DecryptError', message: 'tag mismatch', internal: false });
    expect(mapError(new TokenUnavailableError('gone'))).toMatchObject({ code: 'ServiceUnavailable', internal: true });
    for (const err of [new ObjectNotFoundError('secret detail'), new LoginFailedError('secret detail'), new HsmInternalError('secret detail')]) {
      const mapped = mapError(err);
      expect(mapped).toMatchObject({ code: 'InternalError', internal: true });
      expect(mapped.message).not.toContain('secret detail');
    }
    expect(mapError(new Error('anything'))).toMatchObject({ code: 'InternalError', internal: true });
  });
});
