import { z } from 'zod';
import { callerOf } from '../key-wire.js';
import { intRange, KeyId, MemberAccount } from './fields.js';
import { cmk } from './resources.js';
import { opt } from './shapes.js';
import { action, kmsAudit, RESOURCE } from './spec.js';

// Key rotation (docs/contract/actions.md#group-rotation, docs/contract/keys.md#rotation).

export const rotation = {
  EnableKeyRotation: action({
    schema: z.object({ KeyId, RotateDays: intRange(7, 365).optional(), MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'UnauthorizedOperation',
      'UnsupportedOperation.ExternalCmkCanNotRotate',
      'UnsupportedOperation.NotRoleOperation',
      'UnsupportedOperation.ServiceTemporaryUnavailable',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('开启密钥轮换'),
    handler: async ({ keys }, p, ctx) => (await keys.enableRotation(callerOf(ctx), p.KeyId, p.RotateDays), {}),
  }),
  DisableKeyRotation: action({
    schema: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
    response: { RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CmkNotFound',
      'UnauthorizedOperation',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('禁止密钥轮换', { sensitive: true }),
    handler: async ({ keys }, p, ctx) => (await keys.disableRotation(callerOf(ctx), p.KeyId), {}),
  }),
  GetKeyRotationStatus: action({
    schema: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
    response: { KeyRotationEnabled: opt('boolean'), RequestId: opt('string') },
    cam: RESOURCE,
    qps: 100,
    errors: [
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'ResourceUnavailable.CmkNotFound',
      'UnauthorizedOperation',
      'UnsupportedOperation.NotRoleOperation',
    ],
    access: 'read',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('查询密钥轮换状态'),
    handler: async ({ keys }, p, ctx) => ({ KeyRotationEnabled: (await keys.get(callerOf(ctx), p.KeyId)).rotationEnabled }),
  }),
  RotateKey: action({
    schema: z.object({ KeyId, MemberAccount: MemberAccount.optional() }),
    response: { TaskId: opt('string'), RequestId: opt('string') },
    // Seed silent; addresses a KeyId → resource level (docs/contract/cam.md#resources "every action addressing a KeyId").
    cam: RESOURCE,
    qps: 20,
    errors: [
      'FailedOperation.RotateTaskRunning',
      'InternalError',
      'InvalidParameter',
      'InvalidParameterValue.InvalidKeyId',
      'RequestLimitExceeded.RotateRateLimited',
      'ResourceUnavailable.CmkNotFound',
      'ResourceUnavailable.CmkStateNotSupport',
      'UnauthorizedOperation',
      'UnsupportedOperation.RotateNotSupported',
    ],
    access: 'write',
    resources: (p) => cmk(p.KeyId),
    audit: kmsAudit('立即轮转密钥'),
    handler: async ({ keys }, p, ctx) => {
      const k = await keys.rotate(callerOf(ctx), p.KeyId);
      // Rotation completes synchronously; the task id names the new version.
      return { TaskId: `${k.keyId}/v${k.currentVersion}` };
    },
  }),
};
