import type { DataKeyService, DataKeyState } from '../domain/data-keys.js';
import type { PqcService } from '../domain/pqc-ops.js';
import type { DataKeyRecord } from '../store/data-key-repo.js';
import { callerOf, NOT_A_SYNC_REPLICA } from './key-wire.js';
import type { KmsAction, KmsRequest } from './kms-schemas.js';
import type { CallContext, Handler } from './router.js';

// Thin handlers for hosted data keys (kms-api.md §4.6) and post-quantum operations (§4.8);
// GenerateDataKey's IsHostedByKms=1 branch is in kms-handlers.ts with the rest of GenerateDataKey.

export interface DataKeyHandlerDeps {
  dataKeys: DataKeyService;
  pqc: PqcService;
  /** Plaintext for the caller: base64, or encrypted to its EncryptionPublicKey; wipes `plaintext`. */
  plaintextOut: (plaintext: Buffer, p: { EncryptionPublicKey?: string; EncryptionAlgorithm?: string }) => string;
}

type H<A extends KmsAction> = (params: KmsRequest<A>, ctx: CallContext) => Promise<Record<string, unknown>>;
const b64 = (s: string) => Buffer.from(s, 'base64');

/** DataKeyMetadata exactly as the SDK models it (§2.9). */
export function dataKeyMetadata(d: DataKeyRecord): Record<string, unknown> {
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
    CreatorUinString: d.creatorUin,
  };
}

// ListDataKeyDetail KeyState: 0 all, 1 Enabled, 2 Disabled, 3 PendingDelete (§4.6).
const STATE_FILTER: Record<number, DataKeyState[] | undefined> = { 0: undefined, 1: ['Enabled'], 2: ['Disabled'], 3: ['PendingDelete'] };

export function dataKeyHandlers(deps: DataKeyHandlerDeps): Partial<Record<KmsAction, Handler<never>>> {
  const { dataKeys, pqc } = deps;
  const handlers: { [A in KmsAction]?: H<A> } = {
    ImportDataKey: async (p, ctx) => {
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
    DescribeDataKey: async (p, ctx) => ({ DataKeyMetadata: dataKeyMetadata(await dataKeys.describe(callerOf(ctx), p.DataKeyId)) }),
    DescribeDataKeys: async (p, ctx) => ({ DataKeyMetadatas: (await dataKeys.describeMany(callerOf(ctx), p.DataKeyIds)).map(dataKeyMetadata) }),
    ListDataKeys: async (p, ctx) => {
      // Role 1 = created by cloud products: none on premises.
      if (p.Role === 1) return { DataKeys: [], TotalCount: 0 };
      const r = await dataKeys.list(callerOf(ctx), { offset: p.Offset ?? 0, limit: p.Limit ?? 10, newestFirst: true });
      return { DataKeys: r.dataKeys.map((d) => ({ DataKeyId: d.dataKeyId })), TotalCount: r.total };
    },
    ListDataKeyDetail: async (p, ctx) => {
      if (p.Role === 1) return { DataKeyMetadatas: [], TotalCount: 0 };
      const r = await dataKeys.list(callerOf(ctx), {
        offset: p.Offset ?? 0,
        limit: p.Limit ?? 10,
        newestFirst: (p.OrderType ?? 0) === 0,
        states: STATE_FILTER[p.KeyState ?? 0],
        origin: p.Origin === 'TENCENT_KMS' || p.Origin === 'EXTERNAL' ? p.Origin : undefined,
        keyId: p.KeyId,
        numberOfBytes: p.DataKeyLen || undefined,
        search: p.SearchKeyAlias || undefined,
        tagFilters: p.TagFilters?.map((f) => ({ key: f.TagKey, values: f.TagValue ?? [] })),
      });
      return { DataKeyMetadatas: r.dataKeys.map(dataKeyMetadata), TotalCount: r.total };
    },
    GetDataKeyPlaintext: async (p, ctx) => ({ Plaintext: deps.plaintextOut((await dataKeys.plaintext(callerOf(ctx), p.DataKeyId)).plaintext, p) }),
    GetDataKeyCiphertextBlob: async (p, ctx) => ({ CiphertextBlob: (await dataKeys.ciphertextBlob(callerOf(ctx), p.DataKeyId)).toString('base64') }),
    EnableDataKey: async (p, ctx) => (await dataKeys.enable(callerOf(ctx), [p.DataKeyId]), {}),
    EnableDataKeys: async (p, ctx) => (await dataKeys.enable(callerOf(ctx), p.DataKeyIds), {}),
    DisableDataKey: async (p, ctx) => (await dataKeys.disable(callerOf(ctx), [p.DataKeyId]), {}),
    DisableDataKeys: async (p, ctx) => (await dataKeys.disable(callerOf(ctx), p.DataKeyIds), {}),
    ScheduleDataKeyDeletion: async (p, ctx) => {
      const d = await dataKeys.scheduleDeletion(callerOf(ctx), p.DataKeyId, p.PendingWindowInDays);
      return { DeletionDate: d.deletionDate, DataKeyId: d.dataKeyId };
    },
    CancelDataKeyDeletion: async (p, ctx) => (await dataKeys.cancelDeletion(callerOf(ctx), p.DataKeyId), { DataKeyId: p.DataKeyId }),
    UpdateDataKeyName: async (p, ctx) => (await dataKeys.rename(callerOf(ctx), p.DataKeyId, p.DataKeyName), {}),
    UpdateDataKeyDescription: async (p, ctx) => (await dataKeys.updateDescription(callerOf(ctx), p.DataKeyId, p.Description), {}),

    // §4.8: PlainText with a capital T, as the SDK spells it.
    PostQuantumCryptoEncrypt: async (p, ctx) => {
      const pt = b64(p.PlainText);
      try {
        const r = await pqc.encrypt(callerOf(ctx), p.KeyId, pt);
        return { CiphertextBlob: r.blob.toString('base64'), KeyId: r.keyId };
      } finally {
        pt.fill(0);
      }
    },
    PostQuantumCryptoDecrypt: async (p, ctx) => {
      const r = await pqc.decrypt(callerOf(ctx), b64(p.CiphertextBlob));
      return { KeyId: r.keyId, PlainText: deps.plaintextOut(r.plaintext, p) };
    },
    PostQuantumCryptoSign: async (p, ctx) => ({ Signature: (await pqc.sign(callerOf(ctx), p.KeyId, b64(p.Message))).toString('base64') }),
    PostQuantumCryptoVerify: async (p, ctx) => ({ SignatureValid: await pqc.verify(callerOf(ctx), p.KeyId, b64(p.Message), b64(p.SignatureValue)) }),
  };
  return handlers as Partial<Record<KmsAction, Handler<never>>>;
}
