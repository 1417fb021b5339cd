import { z } from 'zod';
import { callerOf } from '../key-wire.js';
import { base64Of, CiphertextBlob, EncryptionAlgorithm, EncryptionPublicKey, KeyId, Message, Plaintext } from './fields.js';
import { b64, checkPlaintextOut, plaintextOut } from './plaintext.js';
import { cmk, pqcCiphertextKeyId } from './resources.js';
import { opt } from './shapes.js';
import { action, kmsAudit, RESOURCE } from './spec.js';

// Post-quantum operations (docs/contract/actions.md#group-pqc): note PlainText with a capital T (docs/contract/ambiguities.md#pqc-fields), as the SDK
// spells it.

export const pqc = {
  PostQuantumCryptoEncrypt: action({
    schema: z.object({ KeyId, PlainText: Plaintext }),
    response: { CiphertextBlob: opt('string'), KeyId: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 20,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'InvalidParameterValue.InvalidPlaintext',
      'ResourceUnavailable.CmkArchived',
      'ResourceUnavailable.CmkDisabled',
      'ResourceUnavailable.CmkNotFound',
      'UnauthorizedOperation',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('后量子密码算法加密'),
    handler: async ({ pqc }, p, ctx) => {
      const pt = b64(p.PlainText);
      try {
        const r = await pqc.encrypt(callerOf(ctx), p.KeyId, pt);
        return { CiphertextBlob: r.blob.toString('base64'), KeyId: r.keyId };
      } finally {
        pt.fill(0);
      }
    },
  }),
  PostQuantumCryptoDecrypt: action({
    schema: z.object({ CiphertextBlob, EncryptionPublicKey, EncryptionAlgorithm }),
    response: { KeyId: opt('string'), PlainText: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 20,
    errors: [
      'FailedOperation.EncryptionError',
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidCiphertext',
      'ResourceUnavailable.CmkDisabled',
      'ResourceUnavailable.CmkNotFound',
      'UnauthorizedOperation',
    ],
    access: 'write',
    resources: (p) => cmk(pqcCiphertextKeyId(p.CiphertextBlob)),
    audit: kmsAudit('后量子密码算法解密'),
    handler: async ({ crypto, pqc }, p, ctx) => {
      checkPlaintextOut(crypto, p);
      const r = await pqc.decrypt(callerOf(ctx), b64(p.CiphertextBlob));
      return { KeyId: r.keyId, PlainText: plaintextOut(crypto, r.plaintext, p) };
    },
  }),
  PostQuantumCryptoSign: action({
    schema: z.object({ Message, KeyId }),
    response: { Signature: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 20,
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
    audit: kmsAudit('后量子密码算法签名'),
    handler: async ({ pqc }, p, ctx) => ({ Signature: (await pqc.sign(callerOf(ctx), p.KeyId, b64(p.Message))).toString('base64') }),
  }),
  PostQuantumCryptoVerify: action({
    schema: z.object({ KeyId, SignatureValue: base64Of(1), Message }),
    response: { SignatureValid: opt('boolean'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 20,
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
    audit: kmsAudit('后量子密码算法验签'),
    handler: async ({ pqc }, p, ctx) => ({ SignatureValid: await pqc.verify(callerOf(ctx), p.KeyId, b64(p.Message), b64(p.SignatureValue)) }),
  }),
};
