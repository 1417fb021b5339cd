import type { Config } from '../config.js';
import type { CryptoService } from '../domain/crypto-ops.js';
import type { AsymmetricService, MessageType } from '../domain/asymmetric-ops.js';
import type { KeyService } from '../domain/keys.js';
import type { ImportService, WrappingAlgorithm } from '../domain/imports.js';
import type { DataKeyService } from '../domain/data-keys.js';
import type { PqcService } from '../domain/pqc-ops.js';
import { dataKeyHandlers } from './data-key-handlers.js';
import type { WrapAlgorithm } from '../crypto/public-wrap.js';
import { algorithmsFor } from '../domain/key-usages.js';
import type { TokenCapabilities } from '../crypto/port.js';
import { callerOf, keyMetadata, LIST_KEYS_STATES, listKeyDetailFilter } from './key-wire.js';
import type { KmsAction, KmsRequest } from './kms-schemas.js';
import type { CallContext, Handler } from './router.js';

// Thin handlers: wire names in and out, the work in domain use cases.

export interface KmsHandlerDeps {
  config: Pick<Config, 'regions' | 'cmkLimit' | 'dataKeyLimit'>;
  capabilities: () => TokenCapabilities;
  keys: KeyService;
  crypto: CryptoService;
  asymmetric: AsymmetricService;
  imports: ImportService;
  dataKeys: DataKeyService;
  pqc: PqcService;
}

const b64 = (s: string) => Buffer.from(s, 'base64');

/** base64 of a secret buffer, wiping the buffer (the string it becomes cannot be wiped). */
function releaseBase64(secret: Buffer): string {
  try {
    return secret.toString('base64');
  } finally {
    secret.fill(0);
  }
}

type H<A extends KmsAction> = (params: KmsRequest<A>, ctx: CallContext) => Promise<Record<string, unknown>>;

export function kmsHandlers(deps: KmsHandlerDeps): Partial<Record<KmsAction, Handler<never>>> {
  const { keys } = deps;
  const lifecycle: { [A in KmsAction]?: H<A> } = {
    CreateKey: async (p, ctx) => {
      const k = await keys.create(callerOf(ctx), {
        alias: p.Alias,
        description: p.Description,
        keyUsage: p.KeyUsage,
        origin: (p.Type ?? 1) === 2 ? 'EXTERNAL' : 'TENCENT_KMS',
        tags: p.Tags?.map((t) => ({ key: t.TagKey, value: t.TagValue })),
      });
      return { KeyId: k.keyId, Alias: k.alias, CreateTime: k.createdAt, Description: k.description, KeyState: k.state, KeyUsage: k.keyUsage, TagCode: 0, TagMsg: '', HsmClusterId: '' };
    },
    DescribeKey: async (p, ctx) => ({ KeyMetadata: keyMetadata(await keys.get(callerOf(ctx), p.KeyId), ctx.region!) }),
    DescribeKeys: async (p, ctx) => ({ KeyMetadatas: (await keys.getMany(callerOf(ctx), p.KeyIds)).map((k) => keyMetadata(k, ctx.region!)) }),
    ListKeys: async (p, ctx) => {
      // Role 1 = keys created by cloud products: there are none on premises.
      if (p.Role === 1) return { Keys: [], TotalCount: 0 };
      const r = await keys.list(callerOf(ctx), { offset: p.Offset ?? 0, limit: p.Limit ?? 10, newestFirst: true, states: LIST_KEYS_STATES });
      return { Keys: r.keys.map((k) => ({ KeyId: k.keyId })), TotalCount: r.total };
    },
    ListKeyDetail: async (p, ctx) => {
      if (p.Role === 1) return { TotalCount: 0, KeyMetadatas: [] };
      const r = await keys.list(callerOf(ctx), listKeyDetailFilter(p));
      return { TotalCount: r.total, KeyMetadatas: r.keys.map((k) => keyMetadata(k, ctx.region!)) };
    },
    UpdateAlias: async (p, ctx) => (await keys.updateAlias(callerOf(ctx), p.KeyId, p.Alias), {}),
    UpdateKeyDescription: async (p, ctx) => (await keys.updateDescription(callerOf(ctx), p.KeyId, p.Description), {}),
    EnableKey: async (p, ctx) => (await keys.enable(callerOf(ctx), [p.KeyId]), {}),
    EnableKeys: async (p, ctx) => (await keys.enable(callerOf(ctx), p.KeyIds), {}),
    DisableKey: async (p, ctx) => (await keys.disable(callerOf(ctx), [p.KeyId]), {}),
    DisableKeys: async (p, ctx) => (await keys.disable(callerOf(ctx), p.KeyIds), {}),
    ScheduleKeyDeletion: async (p, ctx) => {
      const k = await keys.scheduleDeletion(callerOf(ctx), p.KeyId, p.PendingWindowInDays);
      return { DeletionDate: k.deletionDate, KeyId: k.keyId };
    },
    CancelKeyDeletion: async (p, ctx) => (await keys.cancelDeletion(callerOf(ctx), p.KeyId), { KeyId: p.KeyId }),
    ArchiveKey: async (p, ctx) => (await keys.archive(callerOf(ctx), p.KeyId), {}),
    CancelKeyArchive: async (p, ctx) => (await keys.cancelArchive(callerOf(ctx), p.KeyId), {}),
    EnableKeyRotation: async (p, ctx) => (await keys.enableRotation(callerOf(ctx), p.KeyId, p.RotateDays), {}),
    DisableKeyRotation: async (p, ctx) => (await keys.disableRotation(callerOf(ctx), p.KeyId), {}),
    GetKeyRotationStatus: async (p, ctx) => ({ KeyRotationEnabled: (await keys.get(callerOf(ctx), p.KeyId)).rotationEnabled }),
    RotateKey: async (p, ctx) => {
      const k = await keys.rotate(callerOf(ctx), p.KeyId);
      // Rotation completes synchronously; the task id names the new version.
      return { TaskId: `${k.keyId}/v${k.currentVersion}` };
    },
    BindCloudResource: async (p, ctx) => (await keys.bind(callerOf(ctx), p.KeyId, p.ProductId, p.ResourceId), {}),
    UnbindCloudResource: async (p, ctx) => (await keys.unbind(callerOf(ctx), p.KeyId, p.ProductId, p.ResourceId), {}),
  };
  const { crypto } = deps;
  /** Plaintext for the caller: base64, or encrypted to its EncryptionPublicKey when given. */
  function plaintextOut(plaintext: Buffer, p: { EncryptionPublicKey?: string; EncryptionAlgorithm?: string }): string {
    if (!p.EncryptionPublicKey) return releaseBase64(plaintext);
    try {
      return crypto.wrapForCaller(plaintext, { publicKeyPem: p.EncryptionPublicKey, algorithm: p.EncryptionAlgorithm as WrapAlgorithm | undefined }).toString('base64');
    } finally {
      plaintext.fill(0);
    }
  }

  const symmetric: { [A in KmsAction]?: H<A> } = {
    Encrypt: async (p, ctx) => {
      const pt = b64(p.Plaintext);
      try {
        const r = await crypto.encrypt(callerOf(ctx), p.KeyId, pt, p.EncryptionContext);
        return { CiphertextBlob: r.blob.toString('base64'), KeyId: r.keyId };
      } finally {
        pt.fill(0);
      }
    },
    Decrypt: async (p, ctx) => {
      const r = await crypto.decrypt(callerOf(ctx), b64(p.CiphertextBlob), p.EncryptionContext);
      return { KeyId: r.keyId, Plaintext: plaintextOut(r.plaintext, p) };
    },
    ReEncrypt: async (p, ctx) => {
      const r = await crypto.reEncrypt(callerOf(ctx), b64(p.CiphertextBlob), { destinationKeyId: p.DestinationKeyId, sourceContext: p.SourceEncryptionContext, destinationContext: p.DestinationEncryptionContext });
      return { CiphertextBlob: r.blob.toString('base64'), KeyId: r.keyId, SourceKeyId: r.sourceKeyId, ReEncrypted: r.reEncrypted };
    },
    GenerateDataKey: async (p, ctx) => {
      // NumberOfBytes wins over KeySpec when both are given (§4.2).
      const bytes = p.NumberOfBytes ?? (p.KeySpec === 'AES_128' ? 16 : 32);
      // IsHostedByKms=1: the data key is also kept in KMS (§4.6, domain/data-keys.ts).
      const r =
        p.IsHostedByKms === 1
          ? await deps.dataKeys.generateHosted(callerOf(ctx), p.KeyId, bytes, p.EncryptionContext, { name: p.DataKeyName!, description: p.Description, tags: p.Tags?.map((t) => ({ key: t.TagKey, value: t.TagValue })) })
          : await crypto.generateDataKey(callerOf(ctx), p.KeyId, bytes, p.EncryptionContext);
      const dataKeyId = 'dataKeyId' in r ? { DataKeyId: r.dataKeyId } : {};
      return { KeyId: r.keyId, Plaintext: plaintextOut(r.plaintext, p), CiphertextBlob: r.blob.toString('base64'), ...dataKeyId, TagCode: 0, TagMsg: '' };
    },
    GenerateRandom: async (p) => ({ Plaintext: releaseBase64(await crypto.random(p.NumberOfBytes)) }),
  };

  const { asymmetric } = deps;
  const asym: { [A in KmsAction]?: H<A> } = {
    GetPublicKey: async (p, ctx) => {
      const r = await asymmetric.getPublicKey(callerOf(ctx), p.KeyId);
      return { KeyId: r.keyId, PublicKey: r.der.toString('base64'), PublicKeyPem: r.pem };
    },
    AsymmetricRsaDecrypt: async (p, ctx) => {
      const r = await asymmetric.rsaDecrypt(callerOf(ctx), p.KeyId, b64(p.Ciphertext), p.Algorithm);
      return { KeyId: r.keyId, Plaintext: releaseBase64(r.plaintext) };
    },
    AsymmetricSm2Decrypt: async (p, ctx) => {
      const r = await asymmetric.sm2Decrypt(callerOf(ctx), p.KeyId, b64(p.Ciphertext));
      return { KeyId: r.keyId, Plaintext: releaseBase64(r.plaintext) };
    },
    SignByAsymmetricKey: async (p, ctx) => ({
      Signature: (await asymmetric.sign(callerOf(ctx), p.KeyId, p.Algorithm, b64(p.Message), (p.MessageType ?? 'RAW') as MessageType)).toString('base64'),
    }),
    VerifyByAsymmetricKey: async (p, ctx) => ({
      SignatureValid: await asymmetric.verify(callerOf(ctx), p.KeyId, p.Algorithm, b64(p.Message), b64(p.SignatureValue), (p.MessageType ?? 'RAW') as MessageType),
    }),
  };

  const { imports } = deps;
  const byok: { [A in KmsAction]?: H<A> } = {
    GetParametersForImport: async (p, ctx) => {
      const r = await imports.parameters(callerOf(ctx), p.KeyId, p.WrappingAlgorithm as WrappingAlgorithm);
      return { KeyId: r.keyId, ImportToken: r.importToken, PublicKey: r.publicKeyDer.toString('base64'), ParametersValidTo: r.validTo };
    },
    ImportKeyMaterial: async (p, ctx) => (await imports.importMaterial(callerOf(ctx), p.KeyId, p.ImportToken, b64(p.EncryptedKeyMaterial), p.ValidTo ?? 0), {}),
    DeleteImportedKeyMaterial: async (p, ctx) => (await imports.deleteMaterial(callerOf(ctx), p.KeyId), {}),
  };

  return {
    ...(byok as Partial<Record<KmsAction, Handler<never>>>),
    ...(asym as Partial<Record<KmsAction, Handler<never>>>),
    ...(lifecycle as Partial<Record<KmsAction, Handler<never>>>),
    ...(symmetric as Partial<Record<KmsAction, Handler<never>>>),
    ...dataKeyHandlers({ dataKeys: deps.dataKeys, pqc: deps.pqc, plaintextOut }),
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
      CmkUserCount: await keys.count({ accountUin: ctx.identity.accountUin, region: ctx.region!.name }),
      CmkLimit: deps.config.cmkLimit,
      ExclusiveHSMList: [],
      // Hosted data keys (§4.6): the configured quota; nothing is sold on premises, so no free tier.
      IsAllowedDataKeyHosted: true,
      DataKeyLimit: deps.config.dataKeyLimit,
      FreeDataKeyLimit: 0,
      DataKeyUsedCount: await deps.dataKeys.count(ctx.identity.accountUin, ctx.region!.name),
      SyncTaskList: [],
      IsAllowedSync: false,
    }),

    // §4.10: driven by the region's standard and what the token offers.
    ListAlgorithms: async (_params, ctx) => {
      const a = algorithmsFor(ctx.region!, deps.capabilities());
      return { SymmetricAlgorithms: a.symmetric, AsymmetricAlgorithms: a.asymmetric, AsymmetricSignVerifyAlgorithms: a.sign };
    },
  };
}
