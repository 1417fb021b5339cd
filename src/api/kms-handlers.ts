import type { Config } from '../config.js';
import { algorithmsFor } from '../domain/service-info.js';
import type { KmsAction } from './kms-schemas.js';
import type { Handler } from './router.js';

// Thin handlers: wire names in and out, the work in domain use cases.

export interface KmsHandlerDeps {
  config: Pick<Config, 'regions' | 'cmkLimit'>;
  tokenSupports: (mechanism: string) => boolean;
  /** CMKs of an account in a region that are not deleted. */
  countKeys: (accountUin: string, region: string) => Promise<number>;
}

export function kmsHandlers(deps: KmsHandlerDeps): Partial<Record<KmsAction, Handler<never>>> {
  return {
    // §4.10: on premises, the configured regions.
    GetRegions: async () => ({ Regions: deps.config.regions.map((r) => r.name) }),

    // §4.10: ServiceEnabled=true, InvalidType=1, real quota and count; the cloud's editions,
    // subscriptions, exclusive clusters and cross-region sync do not exist on premises.
    GetServiceStatus: async (_params, ctx) => ({
      ServiceEnabled: true,
      InvalidType: 1,
      UserLevel: 0,
      ProExpireTime: 0,
      ProRenewFlag: 0,
      ProResourceId: '',
      ExclusiveVSMEnabled: false,
      ExclusiveHSMEnabled: false,
      SubscriptionInfo: '',
      CmkUserCount: await deps.countKeys(ctx.identity.accountUin, ctx.region!.name),
      CmkLimit: deps.config.cmkLimit,
      ExclusiveHSMList: [],
      IsAllowedDataKeyHosted: false,
      DataKeyLimit: 0,
      FreeDataKeyLimit: 0,
      DataKeyUsedCount: 0,
      SyncTaskList: [],
      IsAllowedSync: false,
    }),

    // §4.10: driven by the region's standard and what the token offers.
    ListAlgorithms: async (_params, ctx) => {
      const a = algorithmsFor(ctx.region!, deps.tokenSupports);
      return { SymmetricAlgorithms: a.symmetric, AsymmetricAlgorithms: a.asymmetric, AsymmetricSignVerifyAlgorithms: a.sign };
    },
  };
}
