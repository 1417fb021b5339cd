import type { Region, RegionStandard } from '../config.js';
import type { RsaDecryptScheme, SignScheme } from '../crypto/asymmetric.js';
import type { KeyPurpose } from '../crypto/key-material.js';
import type { TokenCapabilities } from '../crypto/port.js';
import type { KeySpec } from '../model/keys.js';

// Every key usage the service offers, described once: its wire name (CreateKey KeyUsage), the
// console's label, the ListAlgorithms group and algorithm name per region standard, the key
// material it needs, what the token must offer for it, and the algorithm names its operations
// take. ListAlgorithms, CreateKey, the asymmetric operations, the request schemas and the
// console all read this table (docs/contract/keys.md#key-usage).

/** CreateKey's KeyUsage values. The cloud names no post-quantum usages; ours follow the FIPS algorithms (docs/pqc.md). */
export const KEY_USAGES = [
  'ENCRYPT_DECRYPT',
  'ASYMMETRIC_DECRYPT_RSA_2048',
  'ASYMMETRIC_DECRYPT_SM2',
  'ASYMMETRIC_SIGN_VERIFY_SM2',
  'ASYMMETRIC_SIGN_VERIFY_RSA_2048',
  'ASYMMETRIC_SIGN_VERIFY_ECC',
  'ASYMMETRIC_SIGN_VERIFY_ECDSA384',
  'PQC_ENCRYPT_DECRYPT_ML_KEM_768',
  'PQC_SIGN_VERIFY_ML_DSA_65',
] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

/** A key usage in one region standard. */
export interface KeyUsageVariant {
  readonly standard: RegionStandard;
  /** ListAlgorithms' Algorithm name. */
  readonly algorithm: string;
  readonly spec: KeySpec;
  /** Token mechanisms the usage needs in this standard, each with whether the token offers it (empty: the software module serves it). */
  readonly needs: (caps: TokenCapabilities) => ReadonlyArray<readonly [offered: boolean, mechanism: string]>;
}

export interface KeyUsageEntry {
  /** The console's name for it. */
  readonly label: string;
  /** ListAlgorithms group. */
  readonly group: 'symmetric' | 'asymmetric' | 'sign';
  readonly purpose: KeyPurpose;
  readonly variants: readonly KeyUsageVariant[];
  /** SignByAsymmetricKey / VerifyByAsymmetricKey Algorithm names and how each is computed. */
  readonly signAlgorithms?: Readonly<Record<string, SignScheme | 'sm2'>>;
}

const software = () => [];
const aesGcm = (c: TokenCapabilities) =>
  [
    [c.aes.generate, 'CKM_AES_KEY_GEN'],
    [c.aes.gcm, 'CKM_AES_GCM'],
  ] as const;
const rsaDecrypt = (c: TokenCapabilities) =>
  [
    [c.rsa.generate, 'CKM_RSA_PKCS_KEY_PAIR_GEN'],
    [c.rsa.oaepSha1, 'CKM_RSA_PKCS_OAEP'],
  ] as const;
const rsaSign = (c: TokenCapabilities) =>
  [
    [c.rsa.generate, 'CKM_RSA_PKCS_KEY_PAIR_GEN'],
    [c.rsa.pss, 'CKM_RSA_PKCS_PSS'],
    [c.rsa.pkcs1, 'CKM_RSA_PKCS'],
  ] as const;
const ecdsa = (c: TokenCapabilities) =>
  [
    [c.ec.generate, 'CKM_EC_KEY_PAIR_GEN'],
    [c.ec.ecdsa, 'CKM_ECDSA'],
  ] as const;

export const KEY_USAGE_CATALOGUE = {
  ENCRYPT_DECRYPT: {
    label: 'Symmetric Encryption/Decryption',
    group: 'symmetric',
    purpose: 'encrypt',
    variants: [
      { standard: 'SM', algorithm: 'SM4', spec: 'SM4', needs: software },
      { standard: 'FIPS', algorithm: 'AES_256', spec: 'AES_256', needs: aesGcm },
    ],
  },
  ASYMMETRIC_DECRYPT_RSA_2048: {
    label: 'Asymmetric Encryption/Decryption (RSA_2048)',
    group: 'asymmetric',
    purpose: 'decrypt',
    variants: [{ standard: 'FIPS', algorithm: 'RSA_2048', spec: 'RSA_2048', needs: rsaDecrypt }],
  },
  ASYMMETRIC_DECRYPT_SM2: {
    label: 'Asymmetric Encryption/Decryption (SM2)',
    group: 'asymmetric',
    purpose: 'decrypt',
    variants: [{ standard: 'SM', algorithm: 'SM2', spec: 'SM2', needs: software }],
  },
  ASYMMETRIC_SIGN_VERIFY_SM2: {
    label: 'Asymmetric Signature Verification (SM2)',
    group: 'sign',
    purpose: 'sign',
    variants: [{ standard: 'SM', algorithm: 'SM2', spec: 'SM2', needs: software }],
    signAlgorithms: { SM2DSA: 'sm2' },
  },
  ASYMMETRIC_SIGN_VERIFY_ECC: {
    label: 'Asymmetric Signature Verification (ECC P-256)',
    group: 'sign',
    purpose: 'sign',
    variants: [{ standard: 'FIPS', algorithm: 'ECC', spec: 'EC_P256', needs: ecdsa }],
    signAlgorithms: { ECC_P256_R1: 'ecdsa' },
  },
  ASYMMETRIC_SIGN_VERIFY_RSA_2048: {
    label: 'Asymmetric Signature Verification (RSA_2048)',
    group: 'sign',
    purpose: 'sign',
    variants: [{ standard: 'FIPS', algorithm: 'RSA_2048', spec: 'RSA_2048', needs: rsaSign }],
    signAlgorithms: { RSA_PSS_SHA_256: 'rsa-pss-sha256', RSA_PKCS1_SHA_256: 'rsa-pkcs1-sha256' },
  },
  ASYMMETRIC_SIGN_VERIFY_ECDSA384: {
    label: 'Asymmetric Signature Verification (ECDSA P-384)',
    group: 'sign',
    purpose: 'sign',
    // ListAlgorithms names it as Tencent's documented example does (docs/contract/ambiguities.md#list-algorithms-names).
    variants: [{ standard: 'FIPS', algorithm: 'ECDSA384_SHA384', spec: 'EC_P384', needs: ecdsa }],
    // No signature algorithm name is documented for P-384: ECC_P384_R1 after ECC_P256_R1, and the
    // names ListAlgorithms gives it (ECDSA384_SHA384; ECDSA384 before), each naming one scheme.
    signAlgorithms: { ECC_P384_R1: 'ecdsa', ECDSA384_SHA384: 'ecdsa', ECDSA384: 'ecdsa' },
  },
  PQC_ENCRYPT_DECRYPT_ML_KEM_768: {
    label: 'Post-quantum Encryption/Decryption (ML-KEM-768)',
    group: 'asymmetric',
    purpose: 'decrypt',
    // Software module in both standards; the hybrid's AEAD follows the region (crypto/pqc.ts).
    variants: [
      { standard: 'SM', algorithm: 'ML_KEM_768_SM4_GCM', spec: 'ML_KEM_768', needs: software },
      { standard: 'FIPS', algorithm: 'ML_KEM_768_AES_256_GCM', spec: 'ML_KEM_768', needs: software },
    ],
  },
  PQC_SIGN_VERIFY_ML_DSA_65: {
    label: 'Post-quantum Signature Verification (ML-DSA-65)',
    group: 'sign',
    purpose: 'sign',
    variants: [
      { standard: 'SM', algorithm: 'ML_DSA_65', spec: 'ML_DSA_65', needs: software },
      { standard: 'FIPS', algorithm: 'ML_DSA_65', spec: 'ML_DSA_65', needs: software },
    ],
  },
} as const satisfies Record<KeyUsage, KeyUsageEntry>;

/**
 * AsymmetricRsaDecrypt's Algorithm and GetParametersForImport's WrappingAlgorithm values, and
 * the RSA decryption each means.
 */
export const RSA_ENCRYPTION_ALGORITHMS = {
  RSAES_PKCS1_V1_5: 'pkcs1',
  RSAES_OAEP_SHA_1: 'oaep-sha1',
  RSAES_OAEP_SHA_256: 'oaep-sha256',
} as const satisfies Record<string, RsaDecryptScheme>;
export type RsaEncryptionAlgorithm = keyof typeof RSA_ENCRYPTION_ALGORITHMS;

export const PQC_ENCRYPT_USAGE = 'PQC_ENCRYPT_DECRYPT_ML_KEM_768' satisfies KeyUsage;
export const PQC_SIGN_USAGE = 'PQC_SIGN_VERIFY_ML_DSA_65' satisfies KeyUsage;

export function isKeyUsage(name: string): name is KeyUsage {
  return Object.hasOwn(KEY_USAGE_CATALOGUE, name);
}

export function keyUsageEntry(usage: string): KeyUsageEntry | undefined {
  return isKeyUsage(usage) ? KEY_USAGE_CATALOGUE[usage] : undefined;
}

/** The usage in the region's standard, or undefined when the standard does not offer it at all. */
export function variantFor(region: Pick<Region, 'standard'>, usage: string): KeyUsageVariant | undefined {
  return keyUsageEntry(usage)?.variants.find((v) => v.standard === region.standard);
}

/** Mechanisms the token lacks for this variant (empty when it is served). */
export function missingMechanisms(variant: KeyUsageVariant, caps: TokenCapabilities): string[] {
  return variant
    .needs(caps)
    .filter(([offered]) => !offered)
    .map(([, name]) => name);
}

/** Usages whose sign operations take an Algorithm. */
export const SIGN_USAGES: readonly KeyUsage[] = KEY_USAGES.filter((u) => 'signAlgorithms' in KEY_USAGE_CATALOGUE[u]);

/** Usages with a public key (GetPublicKey). */
export const ASYMMETRIC_USAGES: readonly KeyUsage[] = KEY_USAGES.filter((u) => u !== 'ENCRYPT_DECRYPT');

export interface AlgorithmInfo {
  KeyUsage: string;
  Algorithm: string;
}

export interface Algorithms {
  symmetric: AlgorithmInfo[];
  asymmetric: AlgorithmInfo[];
  sign: AlgorithmInfo[];
}

/** ListAlgorithms: what this region's standard offers and this token can serve (docs/contract/actions.md#action-list-algorithms). */
export function algorithmsFor(region: Pick<Region, 'standard'>, caps: TokenCapabilities): Algorithms {
  const out: Algorithms = { symmetric: [], asymmetric: [], sign: [] };
  // In KEY_USAGES order.
  for (const usage of KEY_USAGES) {
    const entry = KEY_USAGE_CATALOGUE[usage];
    const v = variantFor(region, usage);
    if (v && missingMechanisms(v, caps).length === 0) out[entry.group].push({ KeyUsage: usage, Algorithm: v.algorithm });
  }
  return out;
}

/** The usages a region offers on this token (the console's create dialog). */
export function usagesOffered(region: Pick<Region, 'standard'>, caps: TokenCapabilities): KeyUsage[] {
  return KEY_USAGES.filter((u) => {
    const v = variantFor(region, u);
    return v !== undefined && missingMechanisms(v, caps).length === 0;
  });
}
