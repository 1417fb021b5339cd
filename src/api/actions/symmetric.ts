import { z } from 'zod';
import { callerOf } from '../key-wire.js';
import { optionalOrEmpty } from '../validation.js';
import {
  CiphertextBlob,
  DataKeyDescription,
  DataKeyName,
  EncryptionAlgorithm,
  EncryptionContext,
  EncryptionContextOf1024,
  EncryptionPublicKey,
  HsmClusterId,
  intRange,
  KeyId,
  oneOf,
  Plaintext,
  requireField,
  Tags,
} from './fields.js';
import { b64, checkPlaintextOut, plaintextOut, releaseBase64 } from './plaintext.js';
import { ciphertextKeyId, cmk, cmks, dataKey, NO_RESOURCES } from './resources.js';
import { opt, req } from './shapes.js';
import { action, kmsAudit, OPERATION, RESOURCE } from './spec.js';

// Symmetric crypto (docs/contract/actions.md#group-symmetric).

export const symmetric = {
  Encrypt: action({
    schema: z.object({ KeyId, Plaintext, EncryptionContext: EncryptionContextOf1024 }),
    response: { CiphertextBlob: opt('string'), KeyId: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 300,
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
    audit: kmsAudit('加密'),
    handler: async ({ crypto }, p, ctx) => {
      const pt = b64(p.Plaintext);
      try {
        const r = await crypto.encrypt(callerOf(ctx), p.KeyId, pt, p.EncryptionContext);
        return { CiphertextBlob: r.blob.toString('base64'), KeyId: r.keyId };
      } finally {
        pt.fill(0);
      }
    },
  }),
  Decrypt: action({
    schema: z.object({ CiphertextBlob, EncryptionContext: EncryptionContextOf1024, EncryptionPublicKey, EncryptionAlgorithm }),
    response: { KeyId: opt('string'), Plaintext: opt('string'), RequestId: opt('string') },
    // Resource level, on the CMK named inside the ciphertext (docs/contract/cam.md#resource-levels
    // recommends it), like ReEncrypt — not the seed's "operation level, `*`". A policy written to
    // Tencent's semantics grants the same here where it names `*`; one naming keys takes effect
    // here (an allow grants those keys' ciphertexts, a deny refuses them) where Tencent would
    // ignore it. README "Access control", docs/data-keys.md#cam.
    cam: RESOURCE,
    qps: 300,
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
    resources: (p) => cmk(ciphertextKeyId(p.CiphertextBlob)),
    audit: kmsAudit('解密'),
    handler: async ({ crypto }, p, ctx) => {
      checkPlaintextOut(crypto, p);
      const r = await crypto.decrypt(callerOf(ctx), b64(p.CiphertextBlob), p.EncryptionContext);
      return { KeyId: r.keyId, Plaintext: plaintextOut(crypto, r.plaintext, p) };
    },
  }),
  ReEncrypt: action({
    schema: z.object({
      CiphertextBlob,
      DestinationKeyId: optionalOrEmpty(KeyId), // '' = the source CMK
      SourceEncryptionContext: EncryptionContext,
      DestinationEncryptionContext: EncryptionContext,
    }),
    response: {
      CiphertextBlob: opt('string'),
      KeyId: opt('string'),
      SourceKeyId: opt('string'),
      ReEncrypted: opt('boolean'),
      RequestId: opt('string'),
    },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidCiphertext',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CmkDisabled',
      'ResourceUnavailable.CmkNotFound',
      'UnauthorizedOperation',
    ],
    access: 'write',
    resources: (p) => cmks(p.DestinationKeyId, ciphertextKeyId(p.CiphertextBlob)),
    audit: kmsAudit('密文刷新'),
    handler: async ({ crypto }, p, ctx) => {
      const r = await crypto.reEncrypt(callerOf(ctx), b64(p.CiphertextBlob), {
        destinationKeyId: p.DestinationKeyId,
        sourceContext: p.SourceEncryptionContext,
        destinationContext: p.DestinationEncryptionContext,
      });
      return { CiphertextBlob: r.blob.toString('base64'), KeyId: r.keyId, SourceKeyId: r.sourceKeyId, ReEncrypted: r.reEncrypted };
    },
  }),
  GenerateDataKey: action({
    schema: z
      .object({
        KeyId,
        KeySpec: oneOf(['AES_128', 'AES_256']).optional(),
        NumberOfBytes: intRange(1, 1024).optional(),
        EncryptionContext,
        EncryptionPublicKey,
        EncryptionAlgorithm,
        IsHostedByKms: intRange(0, 1).optional(),
        DataKeyName: DataKeyName.optional(),
        Description: DataKeyDescription.optional(),
        HsmClusterId,
        Tags: Tags.optional(),
      })
      .superRefine((request, ctx) => {
        // SDK: "KeySpec 和 NumberOfBytes 必须指定一个".
        if (request.KeySpec === undefined && request.NumberOfBytes === undefined) {
          requireField(ctx, 'KeySpec', 'one of `KeySpec` and `NumberOfBytes` must be given');
        }
        // SDK: DataKeyName "当IsHostedByKms为1时,必须填写".
        if (request.IsHostedByKms === 1 && request.DataKeyName === undefined) {
          requireField(ctx, 'DataKeyName', 'a hosted data key (`IsHostedByKms` 1) needs a name');
        }
      }),
    response: {
      KeyId: opt('string'),
      Plaintext: opt('string'),
      CiphertextBlob: opt('string'),
      DataKeyId: opt('string'),
      TagCode: opt('uint'),
      TagMsg: opt('string'),
      RequestId: opt('string'),
    },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'FailedOperation.EncryptionError',
      'FailedOperation.TaggingError',
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.DataKeyNameAlreadyExists',
      'InvalidParameterValue.InvalidDataKeyName',
      'InvalidParameterValue.InvalidHsmClusterId',
      'InvalidParameterValue.InvalidKeyId',
      'InvalidParameterValue.InvalidKeyUsage',
      'InvalidParameterValue.InvalidType',
      'InvalidParameterValue.TagKeysDuplicated',
      'InvalidParameterValue.TagsNotExisted',
      'LimitExceeded.CmkLimitExceeded',
      'LimitExceeded.DataKeyLimitExceeded',
      'ResourceUnavailable.CmkDisabled',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.KeyPendingDelete',
      'UnauthorizedOperation',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('生成数据密钥'),
    // IsHostedByKms=1: the hosted data key it created.
    created: (answer) => dataKey(answer.DataKeyId),
    handler: async ({ crypto, dataKeys }, p, ctx) => {
      // Before the data key is made (and, hosted, stored): a refused EncryptionPublicKey changes nothing.
      checkPlaintextOut(crypto, p);
      // NumberOfBytes wins over KeySpec when both are given (docs/contract/actions.md#group-symmetric).
      const bytes = p.NumberOfBytes ?? (p.KeySpec === 'AES_128' ? 16 : 32);
      // IsHostedByKms=1: the data key is also kept in KMS (docs/contract/actions.md#group-data-keys, domain/data-keys.ts).
      const r =
        p.IsHostedByKms === 1
          ? await dataKeys.generateHosted(callerOf(ctx), p.KeyId, bytes, p.EncryptionContext, {
              name: p.DataKeyName!,
              description: p.Description,
              tags: p.Tags?.map((t) => ({ key: t.TagKey, value: t.TagValue })),
            })
          : await crypto.generateDataKey(callerOf(ctx), p.KeyId, bytes, p.EncryptionContext);
      const dataKeyId = 'dataKeyId' in r ? { DataKeyId: r.dataKeyId } : {};
      return { KeyId: r.keyId, Plaintext: plaintextOut(crypto, r.plaintext, p), CiphertextBlob: r.blob.toString('base64'), ...dataKeyId, TagCode: 0, TagMsg: '' };
    },
  }),
  GenerateRandom: action({
    schema: z.object({ NumberOfBytes: intRange(1, 1024) }),
    response: { Plaintext: req('string'), RequestId: opt('string') },
    cam: OPERATION,
    qps: 150,
    errors: ['InternalError', 'InvalidParameter', 'UnauthorizedOperation'],
    access: 'write',
    resources: () => NO_RESOURCES,
    audit: kmsAudit('随机数生成接口'),
    handler: async ({ crypto }, p) => ({ Plaintext: releaseBase64(await crypto.random(p.NumberOfBytes)) }),
  }),
};
