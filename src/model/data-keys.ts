import type { Origin, Tag } from './keys.js';

// Hosted data keys as the service holds them (types shared by store, domain and the API).

/** Data key states (docs/contract/keys.md#struct-data-key-metadata). */
export const DATA_KEY_STATES = ['Enabled', 'Disabled', 'PendingDelete'] as const;
export type DataKeyState = (typeof DATA_KEY_STATES)[number];

export interface DataKeyRecord {
  dataKeyId: string;
  accountUin: string;
  region: string;
  keyId: string;
  /** Alias of the wrapping CMK (DataKeyMetadata.KeyName), read with the row. */
  keyName: string;
  name: string;
  description: string;
  state: DataKeyState;
  origin: Origin;
  creatorUin: string;
  createdAt: number;
  deletionDate: number;
  numberOfBytes: number;
  ciphertextBlob: Buffer;
  tags: Tag[];
}

export type DataKeyPatch = Partial<Pick<DataKeyRecord, 'name' | 'description' | 'state' | 'deletionDate'>>;

export interface DataKeyListFilter {
  accountUin: string;
  region: string;
  states?: DataKeyState[];
  origin?: Origin;
  keyId?: string;
  numberOfBytes?: number;
  /** Substring of the data key id or name. */
  search?: string;
  tagFilters?: Array<{ key: string; values: string[] }>;
  newestFirst: boolean;
  offset: number;
  limit: number;
}
