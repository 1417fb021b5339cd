import type { Region } from '../config.js';
import type { Caller, ListInput } from '../domain/keys.js';
import { KEY_STATE_NUMBERS, KEY_STATES, type KeyState } from '../domain/key-state.js';
import type { KeyRecord } from '../model/keys.js';
import type { CallContext } from './actions/spec.js';

// Wire shapes of keys: KeyMetadata as the SDK models it (docs/contract/keys.md#key-metadata) and the
// ListKeyDetail filters (docs/contract/keys.md#list-key-detail-filters). Tencent vocabulary stays in api/.

export function callerOf(ctx: CallContext): Caller {
  return { accountUin: ctx.identity.accountUin, userUin: ctx.identity.userUin, region: ctx.region! };
}

/** KeyMetadata.Type is the compliance class, not CreateKey's Type: 2 FIPS, 4 SM (docs/contract/keys.md#key-metadata). */
const complianceType = (standard: Region['standard']) => (standard === 'SM' ? 4 : 2);

/** Cross-region sync replicas do not exist on premises: the metadata fields say so. */
export const NOT_A_SYNC_REPLICA = { IsSyncReplica: 0, SourceRegion: '', SyncStatus: 0, SyncMessages: '', SyncStartTime: 0, SyncEndTime: 0, SourceHsmClusterId: '' } as const;

/**
 * The account that owns what the caller reads: its own, since a call sees only its own account's
 * keys (there are no organisation members on premises, docs/contract/keys.md#member-account).
 * Accounts have no names here.
 */
export function owningAccount(ctx: Pick<CallContext, 'identity'>): { AccountAppId: number; AccountUin: number; AccountName: string } {
  return { AccountAppId: Number(ctx.identity.appId), AccountUin: Number(ctx.identity.accountUin), AccountName: '' };
}

export function keyMetadata(k: KeyRecord, ctx: Pick<CallContext, 'identity' | 'region'>): Record<string, unknown> {
  const region = ctx.region!;
  return {
    KeyId: k.keyId,
    Alias: k.alias,
    CreateTime: k.createdAt,
    Description: k.description,
    KeyState: k.state,
    KeyUsage: k.keyUsage,
    Type: complianceType(region.standard),
    CreatorUin: Number(k.creatorUin),
    KeyRotationEnabled: k.rotationEnabled,
    Owner: 'user',
    NextRotateTime: k.nextRotateTime,
    DeletionDate: k.deletionDate,
    Origin: k.origin,
    ValidTo: k.validTo,
    ResourceId: `creatorUin/${k.creatorUin}/${k.keyId}`,
    HsmClusterId: '',
    RotateDays: k.rotateDays,
    LastRotateTime: k.lastRotateTime,
    ...NOT_A_SYNC_REPLICA,
    ...owningAccount(ctx),
    CreatorUinString: k.creatorUin,
  };
}

/** The states a KeyState filter number selects (ListKeyDetail, ListDataKeyDetail): 0 or absent, every state. */
export function statesNumbered(n: number | undefined): KeyState[] | undefined {
  return n ? KEY_STATES.filter((s) => KEY_STATE_NUMBERS[s] === n) : undefined;
}

export interface ListKeyDetailParams {
  Offset?: number;
  Limit?: number;
  OrderType?: number;
  KeyState?: number;
  SearchKeyAlias?: string;
  Origin?: string;
  KeyUsage?: string;
  TagFilters?: Array<{ TagKey: string; TagValue?: string[] }>;
}

export function listKeyDetailFilter(p: ListKeyDetailParams): ListInput {
  return {
    offset: p.Offset ?? 0,
    limit: p.Limit ?? 10,
    newestFirst: (p.OrderType ?? 0) === 0,
    states: statesNumbered(p.KeyState),
    origin: p.Origin === 'TENCENT_KMS' || p.Origin === 'EXTERNAL' ? p.Origin : undefined,
    // docs/contract/keys.md#list-key-detail-filters: an empty KeyUsage means ENCRYPT_DECRYPT only; ALL means every usage.
    keyUsages: p.KeyUsage === 'ALL' ? undefined : [p.KeyUsage || 'ENCRYPT_DECRYPT'],
    search: p.SearchKeyAlias || undefined,
    tagFilters: p.TagFilters?.map((f) => ({ key: f.TagKey, values: f.TagValue ?? [] })),
  };
}

/** ListKeys shows keys that are Enabled, Disabled or PendingImport (docs/contract/actions.md#group-lifecycle). */
export const LIST_KEYS_STATES: KeyState[] = KEY_STATES.filter((s) => s === 'Enabled' || s === 'Disabled' || s === 'PendingImport');
