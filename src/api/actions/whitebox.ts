import { z } from 'zod';
import { NotSupportedError } from '../../domain/errors.js';
import { base64Of, CmkDescription, DeviceFingerprint, intRange, KeyId, Offset, oneOf, TagFilter, Tags, UInt, WhiteBoxAlias, WhiteBoxKeyIds } from './fields.js';
import { optionalOrEmpty } from '../validation.js';
import { cmk, cmkList, NO_RESOURCES } from './resources.js';
import { list, opt, req, struct } from './shapes.js';
import { action, kmsAudit, OPERATION, RESOURCE, type CallContext } from './spec.js';

// White-box keys (docs/contract/actions.md#group-white-box): validated, authorised and audited like every action, then
// answered UnsupportedOperation — this server has no white-box implementation.

async function notAvailable(_deps: unknown, _params: unknown, ctx: CallContext): Promise<never> {
  throw new NotSupportedError(`${ctx.action} is not available on this server yet.`);
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
    handler: notAvailable,
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
    handler: notAvailable,
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
    handler: notAvailable,
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
    handler: notAvailable,
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
    handler: notAvailable,
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
    handler: notAvailable,
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
    handler: notAvailable,
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
    handler: notAvailable,
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
    handler: notAvailable,
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
    handler: notAvailable,
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
    handler: notAvailable,
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
    handler: notAvailable,
  }),
  OverwriteWhiteBoxDeviceFingerprints: action({
    schema: z.object({
      KeyId,
      DeviceFingerprints: z.array(DeviceFingerprint).max(200, 'must hold at most 200 fingerprints').optional(),
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
    handler: notAvailable,
  }),
};
