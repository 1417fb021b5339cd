import { z } from 'zod';
import type { WrappingAlgorithm } from '../../domain/imports.js';
import { callerOf } from '../key-wire.js';
import { base64Of, intRange, KeyId, NonEmpty, oneOf, RSA_ENCRYPTION_ALGORITHMS } from './fields.js';
import { b64 } from './plaintext.js';
import { cmk } from './resources.js';
import { opt, req } from './shapes.js';
import { action, kmsAudit, RESOURCE } from './spec.js';

// Importing key material into EXTERNAL CMKs (docs/contract/actions.md#group-import).

export const byok = {
  GetParametersForImport: action({
    schema: z.object({
      KeyId,
      WrappingAlgorithm: oneOf(RSA_ENCRYPTION_ALGORITHMS),
      WrappingKeySpec: oneOf(['RSA_2048']),
    }),
    response: {
      KeyId: req('string'),
      ImportToken: req('string'),
      PublicKey: req('string'),
      ParametersValidTo: req('uint'),
      RequestId: opt('string'),
    },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CmkNotFound',
      'UnsupportedOperation.NotExternalCmk',
      'UnsupportedOperation.ServiceTemporaryUnavailable',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('获取导入主密钥（CMK）材料的参数'),
    handler: async ({ imports }, p, ctx) => {
      const r = await imports.parameters(callerOf(ctx), p.KeyId, p.WrappingAlgorithm as WrappingAlgorithm);
      return { KeyId: r.keyId, ImportToken: r.importToken, PublicKey: r.publicKeyDer.toString('base64'), ParametersValidTo: r.validTo };
    },
  }),
  ImportKeyMaterial: action({
    schema: z.object({
      EncryptedKeyMaterial: base64Of(1),
      ImportToken: NonEmpty,
      KeyId,
      // 0/absent = never expires; "最大支持 2147443200". Being in the future is checked at use time.
      ValidTo: intRange(0, 2147443200).optional(),
    }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameter.DecryptMaterialError',
      'InvalidParameterValue.InvalidKeyId',
      'InvalidParameterValue.MaterialNotMatch',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'ResourceUnavailable.TokenExpired',
      'UnsupportedOperation.NotExternalCmk',
      'UnsupportedOperation.ServiceTemporaryUnavailable',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('导入密钥材料'),
    handler: async ({ imports }, p, ctx) => (await imports.importMaterial(callerOf(ctx), p.KeyId, p.ImportToken, b64(p.EncryptedKeyMaterial), p.ValidTo ?? 0), {}),
  }),
  DeleteImportedKeyMaterial: action({
    schema: z.object({ KeyId }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'FailedOperation.CmkUsedByCloudProduct',
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'UnsupportedOperation.NotExternalCmk',
      'UnsupportedOperation.ServiceTemporaryUnavailable',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('删除导入的密钥材料', { sensitive: true }),
    handler: async ({ imports }, p, ctx) => (await imports.deleteMaterial(callerOf(ctx), p.KeyId), {}),
  }),
};
