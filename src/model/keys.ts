// Keys as the service holds them: what the store returns and the domain works with. Types only,
// shared by store, domain, crypto and the API's wire shapes, so that none of them imports another
// for its vocabulary.

/** Key states (docs/contract/keys.md#key-states). */
export const KEY_STATES = ['Enabled', 'Disabled', 'PendingDelete', 'PendingImport', 'Archived'] as const;
export type KeyState = (typeof KEY_STATES)[number];

export type Origin = 'TENCENT_KMS' | 'EXTERNAL';
export type KeySpec = 'AES_256' | 'SM4' | 'RSA_2048' | 'EC_P256' | 'EC_P384' | 'SM2' | 'ML_KEM_768' | 'ML_DSA_65';

export interface Tag {
  key: string;
  value: string;
}

/** A tag to look for: an absent key or value matches any (CloudAudit's `*`). */
export interface TagMatch {
  key?: string;
  value?: string;
}

export interface KeyRecord {
  keyId: string;
  accountUin: string;
  region: string;
  alias: string;
  description: string;
  keyUsage: string;
  keySpec: KeySpec;
  origin: Origin;
  state: KeyState;
  creatorUin: string;
  createdAt: number;
  deletionDate: number;
  rotationEnabled: boolean;
  rotateDays: number;
  nextRotateTime: number;
  lastRotateTime: number;
  validTo: number;
  currentVersion: number;
  tokenResident: boolean;
  hasMaterial: boolean;
  tags: Tag[];
}

export interface KeyVersionRecord {
  keyId: string;
  version: number;
  createdAt: number;
  sealedMaterial: Buffer | null;
  publicKey: string | null;
}

export interface KeyListFilter {
  accountUin: string;
  region: string;
  states?: KeyState[];
  origin?: Origin;
  keyUsages?: string[];
  /** Substring of the key id or alias. */
  search?: string;
  /** AND across filters, OR across a filter's values; an empty value list means "has the tag". */
  tagFilters?: Array<{ key: string; values: string[] }>;
  newestFirst: boolean;
  offset: number;
  limit: number;
}

export type KeyPatch = Partial<Omit<KeyRecord, 'keyId' | 'accountUin' | 'region' | 'tags' | 'createdAt' | 'creatorUin' | 'origin' | 'keyUsage' | 'keySpec' | 'tokenResident'>>;
