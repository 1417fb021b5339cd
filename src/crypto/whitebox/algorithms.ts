import { CHOW_AES256_ROUNDS, CHOW_AES256_TABLES_BYTES } from './chow-aes.js';
import type { StreamFamily } from './drbg.js';
import { XIAO_LAI_SM4_ROUNDS, XIAO_LAI_SM4_TABLES_BYTES } from './xiao-lai-sm4.js';

// Each white-box algorithm described once: its wire codes, construction, sizes and the primitives
// of its region (SM keys use only SM3/SM4 for anything secret, docs/whitebox.md).

export enum WhiteboxAlgorithm {
  AES_256 = 1,
  SM4 = 2,
}

export enum WhiteboxDirection {
  /** E_K: the EncryptKey. */
  ENCRYPT = 1,
  /** D_K: the DecryptKey. */
  DECRYPT = 2,
}

export enum WhiteboxConstruction {
  CHOW_VARIANT_A = 1,
  XIAO_LAI = 2,
}

export interface WhiteboxAlgorithmSpec {
  /** The name in WhiteboxKeyInfo.Algorithm. */
  readonly name: 'AES_256' | 'SM4';
  readonly construction: WhiteboxConstruction;
  readonly rounds: number;
  readonly keyBytes: number;
  readonly tablesBytes: number;
  /** DRBG, KDF and AEAD family: AES-CTR/HKDF-SHA256/AES-GCM or SM4-CTR/HKDF-SM3/SM4-GCM. */
  readonly family: StreamFamily;
  /** node:crypto name of the same cipher in CBC mode (the server-side reference path). */
  readonly cbc: 'aes-256-cbc' | 'sm4-cbc';
}

export const WHITEBOX_ALGORITHMS: Readonly<Record<WhiteboxAlgorithm, WhiteboxAlgorithmSpec>> = {
  [WhiteboxAlgorithm.AES_256]: {
    name: 'AES_256',
    construction: WhiteboxConstruction.CHOW_VARIANT_A,
    rounds: CHOW_AES256_ROUNDS,
    keyBytes: 32,
    tablesBytes: CHOW_AES256_TABLES_BYTES,
    family: 'aes',
    cbc: 'aes-256-cbc',
  },
  [WhiteboxAlgorithm.SM4]: {
    name: 'SM4',
    construction: WhiteboxConstruction.XIAO_LAI,
    rounds: XIAO_LAI_SM4_ROUNDS,
    keyBytes: 16,
    tablesBytes: XIAO_LAI_SM4_TABLES_BYTES,
    family: 'sm',
    cbc: 'sm4-cbc',
  },
};

export function algorithmSpec(algorithm: WhiteboxAlgorithm): WhiteboxAlgorithmSpec | undefined {
  return Object.hasOwn(WHITEBOX_ALGORITHMS, algorithm) ? WHITEBOX_ALGORITHMS[algorithm] : undefined;
}
