import { z } from 'zod';
import type { WhiteBoxKeyRecord } from '../../model/whitebox-keys.js';
import { callerOf } from '../key-wire.js';
import { coded, optionalOrEmpty } from '../validation.js';
import { base64Of, CmkDescription, DeviceFingerprint, intRange, KeyId, Offset, oneOf, TagFilter, Tags, UInt, WhiteBoxAlias, WhiteBoxKeyIds } from './fields.js';
import { b64 } from './plaintext.js';
import { cmk, cmkList, NO_RESOURCES } from './resources.js';
import { list, opt, req, struct } from './shapes.js';
import { action, kmsAudit, OPERATION, RESOURCE } from './spec.js';

// White-box keys (docs/contract/actions.md#group-white-box; docs/whitebox.md). The key material —
// table sets, base64 — leaves only through CreateWhiteBoxKey (EncryptKey and DecryptKey) and
// DescribeWhiteBoxDecryptKey (DecryptKey): WhiteboxKeyInfo in DescribeWhiteBoxKey(Details) leaves
// both out, so the read-only preset (which grants those two) never hands out a key's equivalent,
// and a list of 50 AES keys stays kilobytes, not 100 MB (docs/whitebox.md#operations).

/** WhiteboxKeyInfo as the SDK models it (docs/contract/keys.md#struct-whitebox-key-info), without the tables. */
export function whiteboxKeyInfo(k: WhiteBoxKeyRecord): Record<string, unknown> {
  return {
    KeyId: k.keyId,
    Alias: k.alias,
    CreatorUin: Number(k.creatorUin),
    Description: k.description,
    CreateTime: k.createdAt,
    Status: k.status,
    OwnerUin: Number(k.accountUin),
    Algorithm: k.algorithm,
    ResourceId: `creatorUin/${k.creatorUin}/${k.keyId}`,
    DeviceFingerprintBind: k.fingerprints.length > 0,
  };
}

const WhiteboxKeyInfo = struct({
  KeyId: opt('string'),
  Alias: opt('string'),
  CreatorUin: opt('uint'),
  Description: opt('string'),
  CreateTime: opt('uint'),
  Status: opt('string'),
  OwnerUin: opt('uint'),
  Algorithm: opt('string'),
  EncryptKey: opt('string'),
  DecryptKey: opt('string'),
  ResourceId: opt('string'),
  DeviceFingerprintBind: opt('boolean'),
});
const DeviceFingerprintInfo = struct({ Identity: req('string'), Description: opt('string') });

export const whitebox = {
  CreateWhiteBoxKey: action({
    schema: z.object({
      Alias: WhiteBoxAlias,
      Algorithm: oneOf(['AES_256', 'SM4']),
      Description: CmkDescription.optional(),
      Tags: Tags.optional(),
    }),
    response: {
      EncryptKey: opt('string'),
      DecryptKey: opt('string'),
      KeyId: opt('string'),
      TagCode: opt('uint'),
      TagMsg: opt('string'),
      RequestId: opt('string'),
    },
    // Seed "Resource level" with only the wildcard `key/*`; docs/contract/cam.md#resources says operation level per the KMS
    // CAM doc — same reasoning as CreateKey.
    cam: OPERATION,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameterValue',
      'InvalidParameterValue.AliasAlreadyExists',
      'InvalidParameterValue.InvalidAlias',
      'InvalidParameterValue.TagKeysDuplicated',
      'InvalidParameterValue.TagsNotExisted',
      'LimitExceeded.KeyLimitExceeded',
      'ResourceUnavailable.NotPurchased',
      'UnauthorizedOperation',
    ],
    access: 'write',
    resources: () => NO_RESOURCES,
    audit: kmsAudit('创建白盒密钥'),
    created: (answer) => cmk(answer.KeyId),
    handler: async ({ whiteBoxKeys }, p, ctx) => {
      const r = await whiteBoxKeys.create(callerOf(ctx), {
        alias: p.Alias,
        algorithm: p.Algorithm,
        description: p.Description,
        tags: p.Tags?.map((t) => ({ key: t.TagKey, value: t.TagValue })),
      });
      return { EncryptKey: r.encryptKey, DecryptKey: r.decryptKey, KeyId: r.key.keyId, TagCode: 0, TagMsg: '' };
    },
  }),
  DeleteWhiteBoxKey: action({
    schema: z.object({ KeyId }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 200,
    errors: ['FailedOperation', 'InternalError', 'InvalidParameterValue.InvalidKeyId', 'ResourceNotFound', 'ResourceUnavailable.NotPurchased', 'UnauthorizedOperation'],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('删除白盒密钥', { sensitive: true }),
    handler: async ({ whiteBoxKeys }, p, ctx) => {
      await whiteBoxKeys.delete(callerOf(ctx), p.KeyId);
      return {};
    },
  }),
  DescribeWhiteBoxKey: action({
    schema: z.object({ KeyId }),
    response: { KeyInfo: opt(WhiteboxKeyInfo), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 200,
    errors: ['InternalError', 'InvalidParameterValue.InvalidKeyId', 'ResourceNotFound', 'ResourceUnavailable.NotPurchased', 'UnauthorizedOperation'],
    access: 'read',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('展示白盒密钥的信息'),
    handler: async ({ whiteBoxKeys }, p, ctx) => ({ KeyInfo: whiteboxKeyInfo(await whiteBoxKeys.describe(callerOf(ctx), p.KeyId)) }),
  }),
  DescribeWhiteBoxKeyDetails: action({
    schema: z.object({
      KeyStatus: intRange(0, 1).optional(), // Int in the SDKs: 0 disabled, 1 enabled
      Offset: Offset.optional(),
      Limit: UInt.optional(), // 0 (default) = everything, no page size limit documented
      TagFilters: z.array(TagFilter).optional(),
    }),
    response: {
      KeyInfos: opt(list(WhiteboxKeyInfo)),
      TotalCount: opt('uint'),
      RequestId: opt('string'),
    },
    // Seed: resource level (docs/contract/cam.md#resources recommended operation level, unconfirmed; the seed wins).
    cam: RESOURCE,
    qps: 100,
    errors: ['InternalError', 'InvalidParameterValue', 'ResourceUnavailable.NotPurchased', 'UnauthorizedOperation'],
    access: 'read',
    resources: () => NO_RESOURCES,
    audit: kmsAudit('获取白盒密钥列表'),
    handler: async ({ whiteBoxKeys }, p, ctx) => {
      const r = await whiteBoxKeys.list(callerOf(ctx), {
        status: p.KeyStatus === undefined ? undefined : p.KeyStatus === 1 ? 'Enabled' : 'Disabled',
        tagFilters: p.TagFilters?.map((f) => ({ key: f.TagKey, values: f.TagValue ?? [] })),
        offset: p.Offset ?? 0,
        limit: p.Limit ? p.Limit : undefined,
      });
      return { KeyInfos: r.keys.map(whiteboxKeyInfo), TotalCount: r.total };
    },
  }),
  DescribeWhiteBoxDecryptKey: action({
    schema: z.object({ KeyId }),
    response: { DecryptKey: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 200,
    errors: ['InternalError', 'InvalidParameterValue.InvalidKeyId', 'ResourceNotFound', 'ResourceUnavailable.NotPurchased', 'UnauthorizedOperation'],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('获取白盒解密密钥', { sensitive: true }),
    handler: async ({ whiteBoxKeys }, p, ctx) => ({ DecryptKey: await whiteBoxKeys.decryptKey(callerOf(ctx), p.KeyId) }),
  }),
  DescribeWhiteBoxServiceStatus: action({
    schema: z.object({}),
    response: { ServiceEnabled: opt('boolean'), RequestId: opt('string') },
    cam: OPERATION,
    qps: 200,
    errors: ['InternalError', 'ResourceUnavailable.NotPurchased', 'UnauthorizedOperation'],
    access: 'read',
    resources: () => NO_RESOURCES,
    audit: kmsAudit('获取白盒密钥服务状态'),
    handler: async ({ whiteBoxKeys }, _p, ctx) => ({ ServiceEnabled: whiteBoxKeys.serviceEnabled(callerOf(ctx)) }),
  }),
  EnableWhiteBoxKey: action({
    schema: z.object({ KeyId }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 200,
    errors: ['InternalError', 'InvalidParameterValue.InvalidKeyId', 'ResourceNotFound', 'ResourceUnavailable.NotPurchased', 'UnauthorizedOperation'],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('启用白盒密钥'),
    handler: async ({ whiteBoxKeys }, p, ctx) => {
      await whiteBoxKeys.enable(callerOf(ctx), [p.KeyId]);
      return {};
    },
  }),
  EnableWhiteBoxKeys: action({
    schema: z.object({ KeyIds: WhiteBoxKeyIds }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 200,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.DuplicatedKeyId',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceNotFound',
      'ResourceUnavailable.NotPurchased',
      'UnauthorizedOperation',
    ],
    access: 'write',
    resources: (p) => cmkList(p.KeyIds),
    audit: kmsAudit('批量启用白盒密钥'),
    handler: async ({ whiteBoxKeys }, p, ctx) => {
      await whiteBoxKeys.enable(callerOf(ctx), p.KeyIds);
      return {};
    },
  }),
  DisableWhiteBoxKey: action({
    schema: z.object({ KeyId }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 200,
    errors: ['InternalError', 'InvalidParameterValue.InvalidKeyId', 'ResourceNotFound', 'ResourceUnavailable.NotPurchased', 'UnauthorizedOperation'],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('禁用白盒密钥', { sensitive: true }),
    handler: async ({ whiteBoxKeys }, p, ctx) => {
      await whiteBoxKeys.disable(callerOf(ctx), [p.KeyId]);
      return {};
    },
  }),
  DisableWhiteBoxKeys: action({
    schema: z.object({ KeyIds: WhiteBoxKeyIds }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 200,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.DuplicatedKeyId',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceNotFound',
      'ResourceUnavailable.NotPurchased',
      'UnauthorizedOperation',
    ],
    access: 'write',
    resources: (p) => cmkList(p.KeyIds),
    audit: kmsAudit('批量禁用白盒密钥', { sensitive: true }),
    handler: async ({ whiteBoxKeys }, p, ctx) => {
      await whiteBoxKeys.disable(callerOf(ctx), p.KeyIds);
      return {};
    },
  }),
  EncryptByWhiteBox: action({
    schema: z.object({
      KeyId,
      PlainText: base64Of(1, 4096),
      InitializationVector: optionalOrEmpty(base64Of(16, 16)), // '' / absent: the server draws one
    }),
    response: {
      InitializationVector: opt('string'),
      CipherText: opt('string'),
      RequestId: opt('string'),
    },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameterValue',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceNotFound',
      'ResourceUnavailable.KeyDisabled',
      'ResourceUnavailable.NotPurchased',
      'UnauthorizedOperation',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('使用白盒密钥进行加密'),
    handler: async ({ whiteBoxKeys }, p, ctx) => {
      const plaintext = b64(p.PlainText);
      try {
        const r = await whiteBoxKeys.encrypt(callerOf(ctx), p.KeyId, plaintext, p.InitializationVector === undefined ? undefined : b64(p.InitializationVector));
        return { InitializationVector: r.iv.toString('base64'), CipherText: r.ciphertext.toString('base64') };
      } finally {
        plaintext.fill(0);
      }
    },
  }),
  DescribeWhiteBoxDeviceFingerprints: action({
    schema: z.object({ KeyId }),
    response: {
      DeviceFingerprints: opt(list(DeviceFingerprintInfo)),
      RequestId: opt('string'),
    },
    cam: RESOURCE,
    qps: 100,
    errors: ['InternalError', 'InvalidParameterValue.InvalidKeyId', 'ResourceNotFound', 'ResourceUnavailable.NotPurchased', 'UnauthorizedOperation'],
    access: 'read',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('获取指定密钥的设备指纹列表'),
    handler: async ({ whiteBoxKeys }, p, ctx) => ({
      DeviceFingerprints: (await whiteBoxKeys.fingerprints(callerOf(ctx), p.KeyId)).map((f) => ({ Identity: f.identity, Description: f.description })),
    }),
  }),
  OverwriteWhiteBoxDeviceFingerprints: action({
    schema: z.object({
      KeyId,
      // docs/contract/actions.md#errors-overwrite-white-box-device-fingerprints: too many is the quota's code.
      DeviceFingerprints: coded(z.array(DeviceFingerprint).max(200, 'must hold at most 200 fingerprints'), 'LimitExceeded.FingerprintsLimitExceeded').optional(),
    }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameterValue',
      'InvalidParameterValue.InvalidKeyId',
      'LimitExceeded.FingerprintsLimitExceeded',
      'ResourceNotFound',
      'ResourceUnavailable.NotPurchased',
      'UnauthorizedOperation',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('覆盖指定密钥的设备指纹信息', { sensitive: true }),
    handler: async ({ whiteBoxKeys }, p, ctx) => {
      // Absent or empty: unbind (docs/contract/actions.md#action-overwrite-white-box-device-fingerprints).
      const fingerprints = (p.DeviceFingerprints ?? []).map((f) => ({ identity: f.Identity, description: f.Description ?? '' }));
      await whiteBoxKeys.overwriteFingerprints(callerOf(ctx), p.KeyId, fingerprints);
      return {};
    },
  }),
};
