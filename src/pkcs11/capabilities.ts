import pkcs11js from 'pkcs11js';
import { PKCS11_3_2 } from './mechanisms.js';
import type { TokenProfile } from './profile.js';

// What the attached token can do, as one typed object: computed once per connection from
// C_GetMechanismList and the profile (for what a mechanism list cannot show: parameter variants
// such as OAEP with SHA-256, and the numbers of vendor SM mechanisms). Mechanism names and
// numbers stay in src/pkcs11; the rest of the service asks for features.

/** A family that lives in the token only when every mechanism it needs is there. */
export interface TokenFamily {
  readonly available: boolean;
  /** What is missing, by name (profile key or CKM name), for messages; empty when available. */
  readonly missing: readonly string[];
}

export interface TokenCapabilities {
  readonly aes: {
    readonly generate: boolean;
    readonly gcm: boolean;
    readonly cbcPad: boolean;
    readonly ecb: boolean;
    readonly keyWrap: boolean;
    readonly keyWrapPad: boolean;
    readonly cmac: boolean;
  };
  /** HMAC-SHA256 with a generic secret key made in the token. */
  readonly hmacSha256: boolean;
  readonly rsa: {
    readonly generate: boolean;
    readonly pkcs1: boolean;
    readonly oaepSha1: boolean;
    /** OAEP with SHA-256 and MGF1-SHA256 in the token (the profile says; a mechanism list cannot). */
    readonly oaepSha256: boolean;
    readonly raw: boolean;
    readonly pss: boolean;
  };
  readonly ec: { readonly generate: boolean; readonly ecdsa: boolean };
  /** Vendor GM/T mechanisms declared by the profile and listed by the token. */
  readonly sm4: TokenFamily;
  readonly sm2: TokenFamily;
  /** PKCS#11 3.2 ML-DSA declared by the profile and listed by the token. */
  readonly mlDsa: TokenFamily;
}

/**
 * Every mechanism the service calls, and what for (`token status` lists each with whether the
 * token offers it; every profile in hsm/ must list them all, test/unit/profiles.test.ts).
 * `CKM_RSA_PKCS_OAEP_SHA256` is a parameter variant no mechanism list can show: the profile says.
 */
export const RELIED_ON: ReadonlyArray<{ readonly name: string; readonly use: string }> = [
  { name: 'CKM_AES_KEY_GEN', use: 'AES-256 CMKs, the KEK, BYOK staging and fingerprint keys' },
  { name: 'CKM_AES_GCM', use: 'CMK Encrypt/Decrypt (FIPS regions); KEK scheme aes-gcm' },
  { name: 'CKM_AES_CBC_PAD', use: 'KEK scheme aes-cbc-hmac-sha256 (tokens without AES-GCM)' },
  { name: 'CKM_GENERIC_SECRET_KEY_GEN', use: 'HMAC keys: KEK scheme aes-cbc-hmac-sha256, BYOK fingerprints without AES-CMAC' },
  { name: 'CKM_SHA256_HMAC', use: 'KEK scheme aes-cbc-hmac-sha256; BYOK fingerprints without AES-CMAC' },
  { name: 'CKM_AES_KEY_WRAP', use: 'BYOK: size check of unwrapped material (RFC 3394 wrap under the staging key)' },
  { name: 'CKM_AES_ECB', use: 'BYOK: key check value of imported material' },
  { name: 'CKM_AES_CMAC', use: 'BYOK: keyed fingerprint of imported material' },
  { name: 'CKM_RSA_PKCS_KEY_PAIR_GEN', use: 'RSA-2048 CMKs, BYOK wrapping keys, the RSA-PSS audit key' },
  { name: 'CKM_RSA_PKCS', use: 'RSAES_PKCS1_V1_5 decrypt and BYOK unwrap; RSA_PKCS1_SHA_256 signing over a DigestInfo' },
  { name: 'CKM_RSA_PKCS_OAEP', use: 'RSAES_OAEP_SHA_1 decrypt and BYOK unwrap' },
  { name: 'CKM_RSA_PKCS_OAEP_SHA256', use: 'RSAES_OAEP_SHA_256 decrypt and BYOK unwrap in the token (else raw RSA below)' },
  { name: 'CKM_RSA_X_509', use: 'raw RSA for RSAES_OAEP_SHA_256 where the token has no OAEP with SHA-256 (decoded in the service)' },
  { name: 'CKM_RSA_PKCS_PSS', use: 'RSA_PSS_SHA_256 signing over a digest; the RSA-PSS audit key' },
  { name: 'CKM_EC_KEY_PAIR_GEN', use: 'ECC P-256/P-384 CMKs; the ECDSA audit key' },
  { name: 'CKM_ECDSA', use: 'ECC_P256_R1 / P-384 signing over a digest; audit checkpoints' },
];

/** Profile names (hsm/*.json smMechanisms) each vendor SM family needs in the token. */
export const SM_FAMILIES = {
  sm4: ['SM4_KEY_GEN', 'SM4_GCM', 'CKK_SM4'],
  sm2: ['SM2_KEY_PAIR_GEN', 'SM2_SIGN', 'SM2_ENCRYPT', 'CKK_SM2'],
} as const;

const ML_DSA = ['CKM_ML_DSA_KEY_PAIR_GEN', 'CKM_ML_DSA'] as const;

/** A vendor number from the profile (mechanism or key type), if declared. */
export function vendorNumber(profile: TokenProfile, name: string): number | undefined {
  const v = (profile.smMechanisms as Record<string, unknown> | null)?.[name];
  return typeof v === 'string' && /^0x[0-9a-fA-F]+$/.test(v) ? Number.parseInt(v.slice(2), 16) : undefined;
}

export function capabilitiesOf(offered: ReadonlySet<number>, profile: TokenProfile): TokenCapabilities {
  const has = (n: number) => offered.has(n);
  const p = pkcs11js;
  const vendorFamily = (names: readonly string[]): TokenFamily => {
    const missing = names.filter((n) => {
      const number = vendorNumber(profile, n);
      if (number === undefined) return true;
      // Key types (CKK_*) are not listed by C_GetMechanismList: declared is all we can check.
      return !n.startsWith('CKK_') && !has(number);
    });
    return { available: missing.length === 0, missing };
  };
  const mlDsaMissing = ML_DSA.filter((n) => profile.mechanisms[n]?.available !== true || !has(PKCS11_3_2[n]));
  return {
    aes: {
      generate: has(p.CKM_AES_KEY_GEN),
      gcm: has(p.CKM_AES_GCM),
      cbcPad: has(p.CKM_AES_CBC_PAD),
      ecb: has(p.CKM_AES_ECB),
      keyWrap: has(p.CKM_AES_KEY_WRAP),
      keyWrapPad: has(p.CKM_AES_KEY_WRAP_PAD),
      cmac: has(p.CKM_AES_CMAC),
    },
    hmacSha256: has(p.CKM_SHA256_HMAC) && has(p.CKM_GENERIC_SECRET_KEY_GEN),
    rsa: {
      generate: has(p.CKM_RSA_PKCS_KEY_PAIR_GEN),
      pkcs1: has(p.CKM_RSA_PKCS),
      oaepSha1: has(p.CKM_RSA_PKCS_OAEP),
      oaepSha256: has(p.CKM_RSA_PKCS_OAEP) && profile.mechanisms.CKM_RSA_PKCS_OAEP_SHA256?.available === true,
      raw: has(p.CKM_RSA_X_509),
      pss: has(p.CKM_RSA_PKCS_PSS),
    },
    ec: { generate: has(p.CKM_EC_KEY_PAIR_GEN), ecdsa: has(p.CKM_ECDSA) },
    sm4: vendorFamily(SM_FAMILIES.sm4),
    sm2: vendorFamily(SM_FAMILIES.sm2),
    mlDsa: { available: mlDsaMissing.length === 0, missing: mlDsaMissing },
  };
}
