import { z } from 'zod';
import type { MessageType as DomainMessageType } from '../../domain/asymmetric-ops.js';
import { callerOf } from '../key-wire.js';
import { base64Of, KeyId, Message, MessageType, oneOf, RSA_ENCRYPTION_ALGORITHMS, SignAlgorithm } from './fields.js';
import { b64, releaseBase64 } from './plaintext.js';
import { cmk } from './resources.js';
import { opt, req } from './shapes.js';
import { action, kmsAudit, RESOURCE } from './spec.js';

// Asymmetric keys (docs/contract/actions.md#group-asymmetric).

export const asymmetric = {
  GetPublicKey: action({
    schema: z.object({ KeyId }),
    response: {
      KeyId: req('string'),
      PublicKey: req('string'),
      PublicKeyPem: req('string'),
      RequestId: opt('string'),
    },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'UnauthorizedOperation',
    ],
    access: 'read',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('获取非对称密钥的公钥'),
    handler: async ({ asymmetric }, p, ctx) => {
      const r = await asymmetric.getPublicKey(callerOf(ctx), p.KeyId);
      return { KeyId: r.keyId, PublicKey: r.der.toString('base64'), PublicKeyPem: r.pem };
    },
  }),
  AsymmetricRsaDecrypt: action({
    schema: z.object({ KeyId, Ciphertext: base64Of(1), Algorithm: oneOf(RSA_ENCRYPTION_ALGORITHMS) }),
    response: { KeyId: opt('string'), Plaintext: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 200,
    errors: [
      'FailedOperation.DecryptError',
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'InvalidParameterValue.InvalidKeyUsage',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'UnauthorizedOperation',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('非对称密钥RSA解密'),
    handler: async ({ asymmetric }, p, ctx) => {
      const r = await asymmetric.rsaDecrypt(callerOf(ctx), p.KeyId, b64(p.Ciphertext), p.Algorithm);
      return { KeyId: r.keyId, Plaintext: releaseBase64(r.plaintext) };
    },
  }),
  AsymmetricSm2Decrypt: action({
    // docs/contract/actions.md#group-asymmetric: raw C1C3C2 ASN.1 ciphertext ≤256 bytes.
    schema: z.object({ KeyId, Ciphertext: base64Of(1, 256) }),
    response: { KeyId: opt('string'), Plaintext: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 200,
    errors: [
      'FailedOperation.DecryptError',
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'InvalidParameterValue.InvalidKeyUsage',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'UnauthorizedOperation',
      'UnsupportedOperation.UnsupportedKeyUsageInCurrentRegion',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('非对称密钥Sm2解密'),
    handler: async ({ asymmetric }, p, ctx) => {
      const r = await asymmetric.sm2Decrypt(callerOf(ctx), p.KeyId, b64(p.Ciphertext));
      return { KeyId: r.keyId, Plaintext: releaseBase64(r.plaintext) };
    },
  }),
  SignByAsymmetricKey: action({
    schema: z.object({ Algorithm: SignAlgorithm, Message, KeyId, MessageType: MessageType.optional() }),
    response: { Signature: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'AuthFailure',
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'MissingParameter',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('签名'),
    handler: async ({ asymmetric }, p, ctx) => ({
      Signature: (await asymmetric.sign(callerOf(ctx), p.KeyId, p.Algorithm, b64(p.Message), (p.MessageType ?? 'RAW') as DomainMessageType)).toString('base64'),
    }),
  }),
  VerifyByAsymmetricKey: action({
    schema: z.object({
      KeyId,
      SignatureValue: base64Of(1),
      Message,
      Algorithm: SignAlgorithm,
      MessageType: MessageType.optional(),
    }),
    response: { SignatureValid: opt('boolean'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('验证签名'),
    handler: async ({ asymmetric }, p, ctx) => ({
      SignatureValid: await asymmetric.verify(callerOf(ctx), p.KeyId, p.Algorithm, b64(p.Message), b64(p.SignatureValue), (p.MessageType ?? 'RAW') as DomainMessageType),
    }),
  }),
};
