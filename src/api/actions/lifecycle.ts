import { z } from 'zod';
import { callerOf, keyMetadata, LIST_KEYS_STATES, listKeyDetailFilter } from '../key-wire.js';
import { coded, optionalOrEmpty } from '../validation.js';
import {
  CmkAlias,
  CmkDescription,
  HsmClusterId,
  intRange,
  KEY_USAGES,
  KeyId,
  KeyIds,
  Limit,
  MemberAccount,
  Offset,
  oneOf,
  OrderType,
  Origin,
  PendingWindowInDays,
  Role,
  TagFilter,
  Tags,
} from './fields.js';
import { cmk, cmkList, NO_RESOURCES } from './resources.js';
import { list, opt, struct } from './shapes.js';
import { action, KMS_AUDIT, OPERATION, RESOURCE } from './spec.js';

// CMK lifecycle (docs/contract/actions.md#group-lifecycle).

const KeyMetadata = struct({
  KeyId: opt('string'),
  Alias: opt('string'),
  CreateTime: opt('uint'),
  Description: opt('string'),
  KeyState: opt('string'),
  KeyUsage: opt('string'),
  Type: opt('int'),
  CreatorUin: opt('uint'),
  KeyRotationEnabled: opt('boolean'),
  Owner: opt('string'),
  NextRotateTime: opt('uint'),
  DeletionDate: opt('uint'),
  Origin: opt('string'),
  ValidTo: opt('uint'),
  ResourceId: opt('string'),
  HsmClusterId: opt('string'),
  RotateDays: opt('uint'),
  LastRotateTime: opt('uint'),
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
const Key = struct({ KeyId: opt('string') });

export const lifecycle = {
  CreateKey: action({
    schema: z.object({
      Alias: CmkAlias,
      Description: CmkDescription.optional(),
      KeyUsage: coded(oneOf(KEY_USAGES), 'InvalidParameterValue.InvalidKeyUsage').optional(),
      Type: coded(intRange(1, 2), 'InvalidParameterValue.InvalidType').optional(), // 1 KMS, 2 EXTERNAL (docs/contract/keys.md#type-and-origin)
      Tags: Tags.optional(),
      HsmClusterId,
    }),
    response: {
      KeyId: opt('string'),
      Alias: opt('string'),
      CreateTime: opt('uint'),
      Description: opt('string'),
      KeyState: opt('string'),
      KeyUsage: opt('string'),
      TagCode: opt('uint'),
      TagMsg: opt('string'),
      HsmClusterId: opt('string'),
      RequestId: opt('string'),
    },
    // The seed says "Resource level" but its only resource description is the wildcard
    // `key/creatorUin/$creatorUin/*` (no key exists yet); docs/contract/cam.md#resources ("resource must be `*`:
    // CreateKey and CreateWhiteBoxKey per KMS CAM doc") → operation level.
    cam: OPERATION,
    qps: 100,
    access: 'write',
    resources: () => NO_RESOURCES,
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => {
      const k = await keys.create(callerOf(ctx), {
        alias: p.Alias,
        description: p.Description,
        keyUsage: p.KeyUsage,
        origin: (p.Type ?? 1) === 2 ? 'EXTERNAL' : 'TENCENT_KMS',
        tags: p.Tags?.map((t) => ({ key: t.TagKey, value: t.TagValue })),
      });
      return {
        KeyId: k.keyId,
        Alias: k.alias,
        CreateTime: k.createdAt,
        Description: k.description,
        KeyState: k.state,
        KeyUsage: k.keyUsage,
        TagCode: 0,
        TagMsg: '',
        HsmClusterId: '',
      };
    },
  }),
  DescribeKey: action({
    schema: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
    response: { KeyMetadata: opt(KeyMetadata), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'read',
    resources: (p) => cmk(p.KeyId),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => ({ KeyMetadata: keyMetadata(await keys.get(callerOf(ctx), p.KeyId), ctx.region!) }),
  }),
  DescribeKeys: action({
    schema: z.object({ KeyIds, MemberAccount: MemberAccount.optional() }),
    response: { KeyMetadatas: opt(list(KeyMetadata)), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'read',
    resources: (p) => cmkList(p.KeyIds),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => ({ KeyMetadatas: (await keys.getMany(callerOf(ctx), p.KeyIds)).map((k) => keyMetadata(k, ctx.region!)) }),
  }),
  ListKeys: action({
    schema: z.object({ Offset: Offset.optional(), Limit: Limit.optional(), Role: Role.optional(), HsmClusterId }),
    response: { Keys: opt(list(Key)), TotalCount: opt('uint'), RequestId: opt('string') },
    cam: OPERATION,
    qps: 100,
    access: 'read',
    resources: () => NO_RESOURCES,
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => {
      // Role 1 = keys created by cloud products: there are none on premises.
      if (p.Role === 1) return { Keys: [], TotalCount: 0 };
      const r = await keys.list(callerOf(ctx), { offset: p.Offset ?? 0, limit: p.Limit ?? 10, newestFirst: true, states: LIST_KEYS_STATES });
      return { Keys: r.keys.map((k) => ({ KeyId: k.keyId })), TotalCount: r.total };
    },
  }),
  ListKeyDetail: action({
    schema: z.object({
      Offset: Offset.optional(),
      Limit: Limit.optional(),
      Role: Role.optional(),
      OrderType: OrderType.optional(),
      KeyState: intRange(0, 5).optional(), // 0 all, 1 Enabled … 5 Archived
      SearchKeyAlias: z.string().optional(),
      Origin,
      // '' and absent both mean ENCRYPT_DECRYPT only (docs/contract/keys.md#list-key-detail-filters).
      KeyUsage: optionalOrEmpty(oneOf(['ALL', ...KEY_USAGES])),
      TagFilters: z.array(TagFilter).optional(),
      HsmClusterId,
      MemberAccounts: z.array(MemberAccount).optional(),
    }),
    response: { TotalCount: opt('uint'), KeyMetadatas: opt(list(KeyMetadata)), RequestId: opt('string') },
    cam: OPERATION,
    qps: 100,
    access: 'read',
    resources: () => NO_RESOURCES,
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => {
      if (p.Role === 1) return { TotalCount: 0, KeyMetadatas: [] };
      const r = await keys.list(callerOf(ctx), listKeyDetailFilter(p));
      return { TotalCount: r.total, KeyMetadatas: r.keys.map((k) => keyMetadata(k, ctx.region!)) };
    },
  }),
  UpdateAlias: action({
    schema: z.object({ Alias: CmkAlias, KeyId, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => (await keys.updateAlias(callerOf(ctx), p.KeyId, p.Alias), {}),
  }),
  UpdateKeyDescription: action({
    schema: z.object({ Description: CmkDescription, KeyId, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => (await keys.updateDescription(callerOf(ctx), p.KeyId, p.Description), {}),
  }),
  EnableKey: action({
    schema: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => (await keys.enable(callerOf(ctx), [p.KeyId]), {}),
  }),
  EnableKeys: action({
    schema: z.object({ KeyIds, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'write',
    resources: (p) => cmkList(p.KeyIds),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => (await keys.enable(callerOf(ctx), p.KeyIds), {}),
  }),
  DisableKey: action({
    schema: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => (await keys.disable(callerOf(ctx), [p.KeyId]), {}),
  }),
  DisableKeys: action({
    schema: z.object({ KeyIds, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'write',
    resources: (p) => cmkList(p.KeyIds),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => (await keys.disable(callerOf(ctx), p.KeyIds), {}),
  }),
  ScheduleKeyDeletion: action({
    schema: z.object({ KeyId, PendingWindowInDays, MemberAccount: MemberAccount.optional() }),
    response: { DeletionDate: opt('uint'), KeyId: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => {
      const k = await keys.scheduleDeletion(callerOf(ctx), p.KeyId, p.PendingWindowInDays);
      return { DeletionDate: k.deletionDate, KeyId: k.keyId };
    },
  }),
  CancelKeyDeletion: action({
    schema: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
    response: { KeyId: opt('string'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => (await keys.cancelDeletion(callerOf(ctx), p.KeyId), { KeyId: p.KeyId }),
  }),
  ArchiveKey: action({
    schema: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => (await keys.archive(callerOf(ctx), p.KeyId), {}),
  }),
  CancelKeyArchive: action({
    schema: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: KMS_AUDIT,
    handler: async ({ keys }, p, ctx) => (await keys.cancelArchive(callerOf(ctx), p.KeyId), {}),
  }),
};
