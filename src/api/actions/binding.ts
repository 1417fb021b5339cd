import { z } from 'zod';
import { callerOf } from '../key-wire.js';
import { KeyId, NonEmpty } from './fields.js';
import { cmk } from './resources.js';
import { opt } from './shapes.js';
import { action, kmsAudit, RESOURCE } from './spec.js';

// Binding CMKs to cloud resources (docs/contract/actions.md#group-binding).

export const binding = {
  BindCloudResource: action({
    schema: z.object({ KeyId, ProductId: NonEmpty, ResourceId: NonEmpty }),
    response: { RequestId: opt('string') },
    // Seed: IP restriction "not supported".
    cam: { level: 'resource', ipCondition: false },
    qps: 100,
    errors: [
      'FailedOperation.CmkUsedByCloudProduct',
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'UnsupportedOperation.ServiceTemporaryUnavailable',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('绑定密钥和云产品资源的使用关系'),
    handler: async ({ keys }, p, ctx) => (await keys.bind(callerOf(ctx), p.KeyId, p.ProductId, p.ResourceId), {}),
  }),
  UnbindCloudResource: action({
    schema: z.object({ KeyId, ProductId: NonEmpty, ResourceId: NonEmpty }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CloudResourceBindingNotFound',
      'ResourceUnavailable.CmkNotFound',
      'UnauthorizedOperation',
      'UnsupportedOperation.ServiceTemporaryUnavailable',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('解绑CMK和云资源的关联关系'),
    handler: async ({ keys }, p, ctx) => (await keys.unbind(callerOf(ctx), p.KeyId, p.ProductId, p.ResourceId), {}),
  }),
};
