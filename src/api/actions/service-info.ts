import { z } from 'zod';
import type { Region } from '../../config.js';
import { algorithmsFor } from '../../domain/key-usages.js';
import { NO_RESOURCES } from './resources.js';
import { list, opt, struct } from './shapes.js';
import { action, kmsAudit, OPERATION } from './spec.js';

// Service information (docs/contract/actions.md#group-service-info).

const ExclusiveHSM = struct({ HsmClusterId: opt('string'), HsmClusterName: opt('string') });
const DestinationSyncConfig = struct({ DestinationRegion: opt('string'), HsmClusterId: opt('string') });
const RegionQps = struct({ Region: opt('string'), Qps: opt('uint') });
const AlgorithmInfo = struct({ KeyUsage: opt('string'), Algorithm: opt('string') });

/**
 * The configured request limits (KMS_RATE_LIMITS, per account, region and action;
 * docs/contract/actions.md#action-get-service-status): an account's limit in a region is that of its
 * busiest action, the same in every region; the total is over the regions. 0: nothing is limited.
 */
function qpsLimits(limits: ReadonlyMap<string, number>, regions: readonly Region[]) {
  const perRegion = Math.ceil(Math.max(0, ...limits.values()));
  return {
    QpsLimit: perRegion,
    QpsTotalLimit: perRegion * regions.length,
    RegionsQps: regions.map((r) => ({ Region: r.name, Qps: perRegion })),
  };
}

export const serviceInfo = {
  GetServiceStatus: action({
    schema: z.object({}),
    response: {
      ServiceEnabled: opt('boolean'),
      InvalidType: opt('int'),
      UserLevel: opt('uint'),
      ProExpireTime: opt('uint'),
      ProRenewFlag: opt('uint'),
      ProResourceId: opt('string'),
      ExclusiveVSMEnabled: opt('boolean'),
      ExclusiveHSMEnabled: opt('boolean'),
      SubscriptionInfo: opt('string'),
      CmkUserCount: opt('uint'),
      CmkLimit: opt('uint'),
      ExclusiveHSMList: opt(list(ExclusiveHSM)),
      IsAllowedDataKeyHosted: opt('boolean'),
      DataKeyLimit: opt('uint'),
      FreeDataKeyLimit: opt('uint'),
      DataKeyUsedCount: opt('uint'),
      SyncTaskList: opt(list(DestinationSyncConfig)),
      IsAllowedSync: opt('boolean'),
      QpsLimit: opt('uint'),
      QpsTotalLimit: opt('uint'),
      RegionsQps: opt(list(RegionQps)),
      ResourceZone: opt('uint'),
      ResourceRegion: opt('uint'),
      RequestId: opt('string'),
    },
    cam: OPERATION,
    qps: 100,
    errors: ['InternalError', 'UnauthorizedOperation', 'UnsupportedOperation'],
    access: 'read',
    resources: () => NO_RESOURCES,
    audit: kmsAudit('查询服务状态'),
    // ServiceEnabled=true, InvalidType=1, real quota and count; the cloud's editions,
    // subscriptions, exclusive clusters and cross-region sync do not exist on premises.
    handler: async ({ config, dataKeys, keys, rateLimits }, _params, ctx) => ({
      ServiceEnabled: true,
      InvalidType: 1,
      UserLevel: 0,
      ProExpireTime: 0,
      ProRenewFlag: 0,
      ProResourceId: '',
      ExclusiveVSMEnabled: false,
      ExclusiveHSMEnabled: false,
      SubscriptionInfo: '',
      CmkUserCount: await keys.count({ accountUin: ctx.identity.accountUin, region: ctx.region!.name }),
      CmkLimit: config.cmkLimit,
      ExclusiveHSMList: [],
      // Hosted data keys (docs/contract/actions.md#group-data-keys): the configured quota; nothing is sold on premises, so no free tier.
      IsAllowedDataKeyHosted: true,
      DataKeyLimit: config.dataKeyLimit,
      FreeDataKeyLimit: 0,
      DataKeyUsedCount: await dataKeys.count(ctx.identity.accountUin, ctx.region!.name),
      SyncTaskList: [],
      IsAllowedSync: false,
      ...qpsLimits(rateLimits, config.regions),
      // Numeric zone and region ids of the cloud's resource placement: none on premises.
      ResourceZone: 0,
      ResourceRegion: 0,
    }),
  }),
  GetRegions: action({
    schema: z.object({}),
    response: { Regions: opt(list('string')), RequestId: opt('string') },
    cam: OPERATION,
    qps: 100,
    errors: ['InternalError'],
    access: 'read',
    regionless: true,
    resources: () => NO_RESOURCES,
    audit: kmsAudit('获取可以提供KMS服务的地域列表'),
    // On premises, the configured regions.
    handler: async ({ config }) => ({ Regions: config.regions.map((r) => r.name) }),
  }),
  ListAlgorithms: action({
    schema: z.object({}),
    response: {
      SymmetricAlgorithms: opt(list(AlgorithmInfo)),
      AsymmetricAlgorithms: opt(list(AlgorithmInfo)),
      AsymmetricSignVerifyAlgorithms: opt(list(AlgorithmInfo)),
      RequestId: opt('string'),
    },
    cam: OPERATION,
    qps: 100,
    errors: ['InternalError', 'UnauthorizedOperation'],
    access: 'read',
    resources: () => NO_RESOURCES,
    audit: kmsAudit('列出当前Region支持的加密方式'),
    // Driven by the region's standard and what the token offers.
    handler: async ({ capabilities }, _params, ctx) => {
      const a = algorithmsFor(ctx.region!, capabilities());
      return { SymmetricAlgorithms: a.symmetric, AsymmetricAlgorithms: a.asymmetric, AsymmetricSignVerifyAlgorithms: a.sign };
    },
  }),
};
