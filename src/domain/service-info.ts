import type { Region, RegionStandard } from '../config.js';

// What a region offers (kms-api.md §2.4, §4.10 ListAlgorithms): SM regions run SM4/SM2 in
// the software module; FIPS regions run AES-256, RSA and EC in the token, so those are
// offered only when the token has the mechanisms they need.

// Post-quantum key usages (kms-api.md §2.4: the cloud's strings are undocumented, so these are
// ours, named after the FIPS algorithms). Software module in both standards: the hybrid AEAD is
// AES-256-GCM in FIPS regions and SM4-GCM in SM regions (crypto/pqc.ts).
export const PQC_ENCRYPT_USAGE = 'PQC_ENCRYPT_DECRYPT_ML_KEM_768';
export const PQC_SIGN_USAGE = 'PQC_SIGN_VERIFY_ML_DSA_65';

export interface AlgorithmInfo {
  KeyUsage: string;
  Algorithm: string;
}

interface CatalogueEntry extends AlgorithmInfo {
  kind: 'symmetric' | 'asymmetric' | 'sign';
  standard: RegionStandard;
  /** Token mechanisms the key usage needs (FIPS entries). */
  needs: string[];
}

const CATALOGUE: CatalogueEntry[] = [
  { kind: 'symmetric', standard: 'SM', KeyUsage: 'ENCRYPT_DECRYPT', Algorithm: 'SM4', needs: [] },
  { kind: 'asymmetric', standard: 'SM', KeyUsage: 'ASYMMETRIC_DECRYPT_SM2', Algorithm: 'SM2', needs: [] },
  { kind: 'sign', standard: 'SM', KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_SM2', Algorithm: 'SM2', needs: [] },
  { kind: 'symmetric', standard: 'FIPS', KeyUsage: 'ENCRYPT_DECRYPT', Algorithm: 'AES_256', needs: ['CKM_AES_KEY_GEN', 'CKM_AES_GCM'] },
  { kind: 'asymmetric', standard: 'FIPS', KeyUsage: 'ASYMMETRIC_DECRYPT_RSA_2048', Algorithm: 'RSA_2048', needs: ['CKM_RSA_PKCS_KEY_PAIR_GEN', 'CKM_RSA_PKCS_OAEP'] },
  { kind: 'sign', standard: 'FIPS', KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_RSA_2048', Algorithm: 'RSA_2048', needs: ['CKM_RSA_PKCS_KEY_PAIR_GEN', 'CKM_RSA_PKCS_PSS', 'CKM_RSA_PKCS'] },
  { kind: 'sign', standard: 'FIPS', KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_ECC', Algorithm: 'ECC', needs: ['CKM_EC_KEY_PAIR_GEN', 'CKM_ECDSA'] },
  { kind: 'sign', standard: 'FIPS', KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_ECDSA384', Algorithm: 'ECDSA384', needs: ['CKM_EC_KEY_PAIR_GEN', 'CKM_ECDSA'] },
  { kind: 'asymmetric', standard: 'SM', KeyUsage: PQC_ENCRYPT_USAGE, Algorithm: 'ML_KEM_768_SM4_GCM', needs: [] },
  { kind: 'sign', standard: 'SM', KeyUsage: PQC_SIGN_USAGE, Algorithm: 'ML_DSA_65', needs: [] },
  { kind: 'asymmetric', standard: 'FIPS', KeyUsage: PQC_ENCRYPT_USAGE, Algorithm: 'ML_KEM_768_AES_256_GCM', needs: [] },
  { kind: 'sign', standard: 'FIPS', KeyUsage: PQC_SIGN_USAGE, Algorithm: 'ML_DSA_65', needs: [] },
];

export interface Algorithms {
  symmetric: AlgorithmInfo[];
  asymmetric: AlgorithmInfo[];
  sign: AlgorithmInfo[];
}

export function algorithmsFor(region: Region, tokenSupports: (mechanism: string) => boolean): Algorithms {
  const offered = CATALOGUE.filter((e) => e.standard === region.standard && e.needs.every(tokenSupports));
  const pick = (kind: CatalogueEntry['kind']) => offered.filter((e) => e.kind === kind).map(({ KeyUsage, Algorithm }) => ({ KeyUsage, Algorithm }));
  return { symmetric: pick('symmetric'), asymmetric: pick('asymmetric'), sign: pick('sign') };
}

export function keyUsageOffered(region: Region, keyUsage: string, tokenSupports: (mechanism: string) => boolean): boolean {
  const a = algorithmsFor(region, tokenSupports);
  return [...a.symmetric, ...a.asymmetric, ...a.sign].some((e) => e.KeyUsage === keyUsage);
}
