import type { Tag } from './keys.js';

// White-box keys as the service holds them (types shared by store, domain and the API).
// docs/whitebox.md#custody: the raw key and the two generation seeds exist here only sealed
// under the token KEK; the tables themselves are never stored.

export const WHITEBOX_ALGORITHMS = ['AES_256', 'SM4'] as const;
export type WhiteBoxAlgorithmName = (typeof WHITEBOX_ALGORITHMS)[number];

/** WhiteboxKeyInfo.Status (docs/contract/keys.md#struct-whitebox-key-info). */
export const WHITEBOX_KEY_STATUSES = ['Enabled', 'Disabled'] as const;
export type WhiteBoxKeyStatus = (typeof WHITEBOX_KEY_STATUSES)[number];

/** docs/contract/keys.md#struct-device-fingerprint */
export interface DeviceFingerprint {
  identity: string;
  description: string;
}

/** What regenerates a key's tables: all sealed under the KEK but the table-set id, which every table set carries in clear. */
export interface WhiteBoxCustody {
  /** The raw AES-256 (32 bytes) or SM4 (16 bytes) key, sealed. */
  sealedKey: Buffer;
  /** 32 bytes driving the internal encodings of every table set of the key, sealed. */
  sealedSeed: Buffer;
  /** 32 bytes from which the output encoding of the current binding is expanded, sealed. */
  sealedBindingSeed: Buffer;
  /** 16 bytes: the table-set id, salt of the fingerprint slots. */
  tableSetId: Buffer;
  /** Moves with every OverwriteWhiteBoxDeviceFingerprints (a fresh binding seed). */
  bindingVersion: number;
}

export interface WhiteBoxKeyRecord extends WhiteBoxCustody {
  keyId: string;
  accountUin: string;
  region: string;
  alias: string;
  description: string;
  algorithm: WhiteBoxAlgorithmName;
  status: WhiteBoxKeyStatus;
  creatorUin: string;
  createdAt: number;
  tags: Tag[];
  /** The identities the DecryptKey is bound to, in the caller's order; empty = unbound. */
  fingerprints: DeviceFingerprint[];
}

export interface WhiteBoxKeyListFilter {
  accountUin: string;
  region: string;
  status?: WhiteBoxKeyStatus;
  tagFilters?: Array<{ key: string; values: string[] }>;
  offset: number;
  /** undefined: every key from `offset` on. */
  limit: number | undefined;
}
