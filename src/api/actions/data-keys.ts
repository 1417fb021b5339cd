import { z } from 'zod';
import type { DataKeyState } from '../../domain/data-keys.js';
import type { DataKeyRecord } from '../../model/data-keys.js';
import type { TencentErrorCode } from '../error-codes.js';
import { callerOf, NOT_A_SYNC_REPLICA, owningAccount, statesNumbered } from '../key-wire.js';
import { coded, optionalOrEmpty } from '../validation.js';
import {
  base64Length,
  DataKeyDescription,
  DataKeyId,
  DataKeyIds,
  DataKeyName,
  EncryptionAlgorithm,
  EncryptionPublicKey,
  HsmClusterId,
  intRange,
  KeyId,
  Limit,
  MemberAccount,
  NonEmpty,
  Offset,
  OrderType,
  Origin,
  PendingWindowInDays,
  requireField,
  Role,
  TagFilter,
  Tags,
  UInt,
} from './fields.js';
import { b64, checkPlaintextOut, plaintextOut } from './plaintext.js';
import { cmk, dataKey, dataKeyList, NO_RESOURCES, regionlessCmk, ciphertextKeyId } from './resources.js';
import { list, opt, struct } from './shapes.js';
import { action, type CallContext, kmsAudit, OPERATION, RESOURCE } from './spec.js';

// Hosted data keys (docs/contract/actions.md#group-data-keys); GenerateDataKey's IsHostedByKms=1 branch is in
// symmetric.ts with the rest of GenerateDataKey. The seed's data-key resources have an empty
// region segment.

/** DataKeyMetadata exactly as the SDK models it (docs/contract/keys.md#structures). */
export function dataKeyMetadata(d: DataKeyRecord, ctx: Pick<CallContext, 'identity'>): Record<string, unknown> {
  return {
    DataKeyId: d.dataKeyId,
    KeyId: d.keyId,
    KeyName: d.keyName,
    DataKeyName: d.name,
    NumberOfBytes: d.numberOfBytes,
    CreateTime: d.createdAt,
    Description: d.description,
    KeyState: d.state,
    CreatorUin: Number(d.creatorUin),
    Owner: 'user',
    DeletionDate: d.deletionDate,
    Origin: d.origin,
    HsmClusterId: '',
    ResourceId: `creatorUin/${d.creatorUin}/${d.dataKeyId}`,
    ...NOT_A_SYNC_REPLICA,
    ...owningAccount(ctx),
    CreatorUinString: d.creatorUin,
  };
}

// IsSyncReplica/SyncStatus typed as in KeyMetadata; docs/contract/keys.md#structures lists them without types.
const DataKeyMetadata = struct({
  DataKeyId: opt('string'),
  KeyId: opt('string'),
  KeyName: opt('string'),
  DataKeyName: opt('string'),
  NumberOfBytes: opt('uint'),
  CreateTime: opt('uint'),
  Description: opt('string'),
  KeyState: opt('string'),
  CreatorUin: opt('uint'),
  Owner: opt('string'),
  DeletionDate: opt('uint'),
  Origin: opt('string'),
  HsmClusterId: opt('string'),
  ResourceId: opt('string'),
  IsSyncReplica: opt('int'),
  SourceRegion: opt('string'),
  SyncStatus: opt('int'),
  SyncMessages: opt('string'),
  SyncStartTime: opt('uint'),
  SyncEndTime: opt('uint'),
  SourceHsmClusterId: opt('string'),
  AccountAppId: opt('uint'),
  AccountUin: opt('uint'),
  AccountName: opt('string'),
  CreatorUinString: opt('string'),
});
const DataKey = struct({ DataKeyId: opt('string') });

export const dataKeys = {
  ImportDataKey: action({
    schema: z
      .object({
        DataKeyName,
        ImportKeyMaterial: coded(NonEmpty, 'InvalidParameterValue.InvalidImportKeyMaterial'),
        ImportType: coded(intRange(1, 2), 'InvalidParameterValue.InvalidType'), // 1 ciphertext, 2 plaintext
        Description: DataKeyDescription.optional(),
        KeyId: optionalOrEmpty(KeyId),
        HsmClusterId,
        Tags: Tags.optional(),
      })
      .superRefine((request, ctx) => {
        if (request.ImportType !== 2) return;
        // docs/contract/actions.md#group-data-keys: a plaintext import is sealed under KeyId, so it must be named.
        if (request.KeyId === undefined) requireField(ctx, 'KeyId', 'a plaintext import (`ImportType` 2) needs the wrapping CMK');
        // A plaintext data key is base64 like GenerateDataKey's output, 1–1024 bytes (docs/contract/actions.md#group-symmetric NumberOfBytes).
        const length = typeof request.ImportKeyMaterial === 'string' ? base64Length(request.ImportKeyMaterial) : 0;
        if (length === undefined || length < 1 || length > 1024) {
          ctx.addIssue({
            code: 'custom',
            path: ['ImportKeyMaterial'],
            message: 'must be base64 (standard alphabet, padded) of 1 to 1024 bytes for a plaintext import',
            params: { code: 'InvalidParameterValue.InvalidImportKeyMaterial' satisfies TencentErrorCode },
          });
        }
      }),
    response: {
      KeyId: opt('string'),
      DataKeyId: opt('string'),
      TagCode: opt('uint'),
      TagMsg: opt('string'),
      RequestId: opt('string'),
    },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'AuthFailure.UnauthorizedOperation',
      'FailedOperation.TaggingError',
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidDataKeyName',
      'InvalidParameterValue.InvalidImportKeyMaterial',
      'InvalidParameterValue.InvalidKeyId',
      'InvalidParameterValue.InvalidKeyUsage',
      'InvalidParameterValue.InvalidPlaintext',
      'InvalidParameterValue.InvalidType',
      'InvalidParameterValue.TagKeysDuplicated',
      'InvalidParameterValue.TagsNotExisted',
      'LimitExceeded.CmkLimitExceeded',
      'LimitExceeded.DataKeyLimitExceeded',
      'ResourceUnavailable.CmkArchived',
      'ResourceUnavailable.CmkDisabled',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'ResourceUnavailable.KeyPendingDelete',
      'UnauthorizedOperation',
    ],
    access: 'write',
    // The seed's resource is the wrapping CMK in the region-less form: KeyId, or for an imported
    // ciphertext without one, the CMK inside ImportKeyMaterial. The import is also the Decrypt
    // (type 1) or Encrypt (type 2) it performs under that CMK (docs/data-keys.md#cam).
    resources: (p) => {
      const performs = p.ImportType === 1 ? 'Decrypt' : p.ImportType === 2 ? 'Encrypt' : undefined;
      const wrapping = p.KeyId ? regionlessCmk(p.KeyId) : p.ImportType === 1 ? regionlessCmk(ciphertextKeyId(p.ImportKeyMaterial)) : NO_RESOURCES;
      return performs ? { ...wrapping, performs } : wrapping;
    },
    audit: kmsAudit('导入数据密钥'),
    created: (answer) => dataKey(answer.DataKeyId),
    handler: async ({ dataKeys }, p, ctx) => {
      const d = await dataKeys.import(callerOf(ctx), {
        importType: p.ImportType as 1 | 2,
        material: b64(p.ImportKeyMaterial),
        keyId: p.KeyId,
        name: p.DataKeyName,
        description: p.Description,
        tags: p.Tags?.map((t) => ({ key: t.TagKey, value: t.TagValue })),
      });
      return { KeyId: d.keyId, DataKeyId: d.dataKeyId, TagCode: 0, TagMsg: '' };
    },
  }),
  DescribeDataKey: action({
    schema: z.object({ DataKeyId, MemberAccount: MemberAccount.optional() }),
    response: { DataKeyMetadata: opt(DataKeyMetadata), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: ['InternalError', 'InvalidParameterValue.InvalidDataKeyId', 'ResourceUnavailable.DataKeyNotFound', 'UnsupportedOperation.NotRoleOperation'],
    access: 'read',
    resources: (p) => dataKey(p.DataKeyId),
    audit: kmsAudit('获取数据密钥的详情'),
    handler: async ({ dataKeys }, p, ctx) => ({ DataKeyMetadata: dataKeyMetadata(await dataKeys.describe(callerOf(ctx), p.DataKeyId), ctx) }),
  }),
  DescribeDataKeys: action({
    schema: z.object({ DataKeyIds, MemberAccount: MemberAccount.optional() }),
    response: { DataKeyMetadatas: opt(list(DataKeyMetadata)), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameterValue',
      'InvalidParameterValue.DuplicatedDataKeyId',
      'InvalidParameterValue.InvalidDataKeyId',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.DataKeyNotFound',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'read',
    resources: (p) => dataKeyList(p.DataKeyIds),
    audit: kmsAudit('获取数据密钥的详情列表'),
    handler: async ({ dataKeys }, p, ctx) => ({ DataKeyMetadatas: (await dataKeys.describeMany(callerOf(ctx), p.DataKeyIds)).map((d) => dataKeyMetadata(d, ctx)) }),
  }),
  ListDataKeys: action({
    schema: z.object({ Offset: Offset.optional(), Limit: Limit.optional(), Role: Role.optional(), HsmClusterId }),
    response: { DataKeys: opt(list(DataKey)), TotalCount: opt('uint'), RequestId: opt('string') },
    cam: OPERATION,
    qps: 100,
    errors: ['InternalError', 'InvalidParameterValue', 'InvalidParameterValue.InvalidHsmClusterId', 'UnauthorizedOperation'],
    access: 'read',
    resources: () => NO_RESOURCES,
    audit: kmsAudit('获取数据密钥的列表'),
    handler: async ({ dataKeys }, p, ctx) => {
      // Role 1 = created by cloud products: none on premises.
      if (p.Role === 1) return { DataKeys: [], TotalCount: 0 };
      const r = await dataKeys.list(callerOf(ctx), { offset: p.Offset ?? 0, limit: p.Limit ?? 10, newestFirst: true });
      return { DataKeys: r.dataKeys.map((d) => ({ DataKeyId: d.dataKeyId })), TotalCount: r.total };
    },
  }),
  ListDataKeyDetail: action({
    schema: z.object({
      Offset: Offset.optional(),
      Limit: Limit.optional(),
      Role: Role.optional(),
      OrderType: OrderType.optional(),
      KeyState: intRange(0, 3).optional(), // 0 all, 1 Enabled, 2 Disabled, 3 PendingDelete
      SearchKeyAlias: z.string().optional(),
      Origin,
      HsmClusterId,
      KeyId: optionalOrEmpty(KeyId),
      DataKeyLen: UInt.optional(),
      TagFilters: z.array(TagFilter).optional(),
      MemberAccounts: z.array(MemberAccount).optional(),
    }),
    response: {
      DataKeyMetadatas: opt(list(DataKeyMetadata)),
      TotalCount: opt('uint'),
      RequestId: opt('string'),
    },
    cam: OPERATION,
    qps: 100,
    errors: [
      'AuthFailure.UnauthorizedOperation',
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidHsmClusterId',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CmkNotFound',
      'UnauthorizedOperation',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'read',
    // The CMK filter is recorded; CAM evaluates `*` (operation level).
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('获取数据密钥列表详情'),
    handler: async ({ dataKeys }, p, ctx) => {
      if (p.Role === 1) return { DataKeyMetadatas: [], TotalCount: 0 };
      const r = await dataKeys.list(callerOf(ctx), {
        offset: p.Offset ?? 0,
        limit: p.Limit ?? 10,
        newestFirst: (p.OrderType ?? 0) === 0,
        // KeyState is 0 to 3 (the schema): every state, or a data key's Enabled, Disabled, PendingDelete.
        states: statesNumbered(p.KeyState) as DataKeyState[] | undefined,
        origin: p.Origin === 'TENCENT_KMS' || p.Origin === 'EXTERNAL' ? p.Origin : undefined,
        keyId: p.KeyId,
        numberOfBytes: p.DataKeyLen || undefined,
        search: p.SearchKeyAlias || undefined,
        tagFilters: p.TagFilters?.map((f) => ({ key: f.TagKey, values: f.TagValue ?? [] })),
      });
      return { DataKeyMetadatas: r.dataKeys.map((d) => dataKeyMetadata(d, ctx)), TotalCount: r.total };
    },
  }),
  GetDataKeyPlaintext: action({
    schema: z.object({ DataKeyId, EncryptionPublicKey, EncryptionAlgorithm }),
    response: { Plaintext: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 300,
    errors: [
      'AuthFailure.UnauthorizedOperation',
      'FailedOperation.EncryptionError',
      'InternalError',
      'InvalidParameterValue',
      'InvalidParameterValue.InvalidDataKeyId',
      'InvalidParameterValue.InvalidType',
      'ResourceUnavailable.CmkDisabled',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'ResourceUnavailable.DataKeyDisabled',
      'ResourceUnavailable.DataKeyNotFound',
      'ResourceUnavailable.DataKeyPendingDelete',
      'UnauthorizedOperation',
    ],
    access: 'write',
    // The data key, and the Decrypt of it under its CMK (docs/data-keys.md#cam).
    resources: (p) => ({ ...dataKey(p.DataKeyId), performs: 'Decrypt' }),
    audit: kmsAudit('获取数据密钥明文', { sensitive: true }),
    handler: async ({ crypto, dataKeys }, p, ctx) => {
      checkPlaintextOut(crypto, p);
      return { Plaintext: plaintextOut(crypto, (await dataKeys.plaintext(callerOf(ctx), p.DataKeyId)).plaintext, p) };
    },
  }),
  GetDataKeyCiphertextBlob: action({
    schema: z.object({ DataKeyId, MemberAccount: MemberAccount.optional() }),
    response: { CiphertextBlob: opt('string'), RequestId: opt('string') },
    // Seed silent; addresses a DataKeyId → resource level (docs/contract/cam.md#resources).
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameterValue.InvalidDataKeyId',
      'ResourceUnavailable.DataKeyNotFound',
      'ResourceUnavailable.DataKeyStateNotSupport',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'write',
    resources: (p) => dataKey(p.DataKeyId),
    audit: kmsAudit('下载数据密钥密文'),
    handler: async ({ dataKeys }, p, ctx) => ({ CiphertextBlob: (await dataKeys.ciphertextBlob(callerOf(ctx), p.DataKeyId)).toString('base64') }),
  }),
  EnableDataKey: action({
    schema: z.object({ DataKeyId, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameterValue.InvalidDataKeyId',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'ResourceUnavailable.DataKeyNotFound',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'write',
    resources: (p) => dataKey(p.DataKeyId),
    audit: kmsAudit('启用数据密钥'),
    handler: async ({ dataKeys }, p, ctx) => (await dataKeys.enable(callerOf(ctx), [p.DataKeyId]), {}),
  }),
  EnableDataKeys: action({
    schema: z.object({ DataKeyIds, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameterValue',
      'InvalidParameterValue.DuplicatedDataKeyId',
      'InvalidParameterValue.InvalidDataKeyId',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'ResourceUnavailable.DataKeyNotFound',
      'ResourceUnavailable.DataKeyStateNotSupport',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'write',
    resources: (p) => dataKeyList(p.DataKeyIds),
    audit: kmsAudit('批量启用数据密钥'),
    handler: async ({ dataKeys }, p, ctx) => (await dataKeys.enable(callerOf(ctx), p.DataKeyIds), {}),
  }),
  DisableDataKey: action({
    schema: z.object({ DataKeyId, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameterValue.InvalidDataKeyId',
      'ResourceUnavailable.DataKeyNotFound',
      'ResourceUnavailable.DataKeyStateNotSupport',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'write',
    resources: (p) => dataKey(p.DataKeyId),
    audit: kmsAudit('禁用数据密钥', { sensitive: true }),
    handler: async ({ dataKeys }, p, ctx) => (await dataKeys.disable(callerOf(ctx), [p.DataKeyId]), {}),
  }),
  DisableDataKeys: action({
    schema: z.object({ DataKeyIds, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameterValue',
      'InvalidParameterValue.DuplicatedDataKeyId',
      'InvalidParameterValue.InvalidDataKeyId',
      'ResourceUnavailable.DataKeyNotFound',
      'ResourceUnavailable.DataKeyStateNotSupport',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'write',
    resources: (p) => dataKeyList(p.DataKeyIds),
    audit: kmsAudit('批量禁用数据密钥', { sensitive: true }),
    handler: async ({ dataKeys }, p, ctx) => (await dataKeys.disable(callerOf(ctx), p.DataKeyIds), {}),
  }),
  ScheduleDataKeyDeletion: action({
    schema: z.object({ DataKeyId, PendingWindowInDays, MemberAccount: MemberAccount.optional() }),
    response: { DeletionDate: opt('uint'), DataKeyId: opt('string'), RequestId: opt('string') },
    // Seed silent; addresses a DataKeyId → resource level (docs/contract/cam.md#resources).
    cam: RESOURCE,
    qps: 20,
    errors: [
      'InternalError',
      'InvalidParameter.InvalidPendingWindowInDays',
      'InvalidParameterValue.InvalidDataKeyId',
      'ResourceUnavailable.DataKeyNotFound',
      'ResourceUnavailable.DataKeyStateNotSupport',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'write',
    resources: (p) => dataKey(p.DataKeyId),
    audit: kmsAudit('计划删除数据密钥', { sensitive: true }),
    handler: async ({ dataKeys }, p, ctx) => {
      const d = await dataKeys.scheduleDeletion(callerOf(ctx), p.DataKeyId, p.PendingWindowInDays);
      return { DeletionDate: d.deletionDate, DataKeyId: d.dataKeyId };
    },
  }),
  CancelDataKeyDeletion: action({
    schema: z.object({ DataKeyId, MemberAccount: MemberAccount.optional() }),
    response: { DataKeyId: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 20,
    errors: [
      'InternalError',
      'InvalidParameterValue.InvalidDataKeyId',
      'LimitExceeded.DataKeyLimitExceeded',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'ResourceUnavailable.DataKeyNotFound',
      'ResourceUnavailable.DataKeyNotPendingDelete',
      'UnauthorizedOperation',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'write',
    resources: (p) => dataKey(p.DataKeyId),
    audit: kmsAudit('取消计划删除数据密钥'),
    handler: async ({ dataKeys }, p, ctx) => (await dataKeys.cancelDeletion(callerOf(ctx), p.DataKeyId), { DataKeyId: p.DataKeyId }),
  }),
  UpdateDataKeyName: action({
    schema: z.object({ DataKeyId, DataKeyName, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    // Seed silent; addresses a DataKeyId → resource level (docs/contract/cam.md#resources).
    cam: RESOURCE,
    qps: 20,
    errors: ['InternalError', 'InvalidParameterValue', 'InvalidParameterValue.InvalidDataKeyId', 'ResourceUnavailable.DataKeyNotFound', 'UnsupportedOperation.NotRoleOperation'],
    access: 'write',
    resources: (p) => dataKey(p.DataKeyId),
    audit: kmsAudit('修改数据密钥名称'),
    handler: async ({ dataKeys }, p, ctx) => (await dataKeys.rename(callerOf(ctx), p.DataKeyId, p.DataKeyName), {}),
  }),
  UpdateDataKeyDescription: action({
    schema: z.object({
      DataKeyId,
      Description: DataKeyDescription,
      MemberAccount: MemberAccount.optional(),
    }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 20,
    errors: [
      'InternalError',
      'InvalidParameterValue.InvalidDataKeyId',
      'InvalidParameterValue.InvalidDataKeyName',
      'ResourceUnavailable.DataKeyNotFound',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'write',
    resources: (p) => dataKey(p.DataKeyId),
    audit: kmsAudit('修改数据密钥描述'),
    handler: async ({ dataKeys }, p, ctx) => (await dataKeys.updateDescription(callerOf(ctx), p.DataKeyId, p.Description), {}),
  }),
};
