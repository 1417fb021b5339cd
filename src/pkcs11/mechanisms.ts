import pkcs11js from 'pkcs11js';
import { InvalidInputError } from './errors.js';

// Mechanism structures the token layer passes to C_*Init, and the constants pkcs11js does not
// export. One builder per mechanism family, so parameter rules live in one place.

export type EcCurve = 'P-256' | 'P-384';
export type RsaDecryptScheme = 'oaep-sha1' | 'oaep-sha256' | 'pkcs1';
export type SignScheme = 'rsa-pss-sha256' | 'rsa-pkcs1-sha256' | 'ecdsa';
export type UnwrapScheme = 'rsa-pkcs1' | 'rsa-oaep-sha1' | 'rsa-oaep-sha256';

export const GCM_IV_BYTES = 12;
export const GCM_TAG_BYTES = 16;

/** PKCS#11 3.2 values (OASIS PKCS#11 v3.2 pkcs11t.h) for ML-DSA; pkcs11js 2.1.7 has no constants for them. */
export const PKCS11_3_2 = {
  CKM_ML_DSA_KEY_PAIR_GEN: 0x1c,
  CKM_ML_DSA: 0x1d,
  CKK_ML_DSA: 0x4a,
  CKA_PARAMETER_SET: 0x61d,
  CKP_ML_DSA_65: 0x2,
} as const;

/** Constants pkcs11js does not export (PKCS#11 v2.40 pkcs11t.h). */
export const CKZ_DATA_SPECIFIED = 0x1;
export const CKS_RO_USER_FUNCTIONS = 1;
export const CKS_RW_USER_FUNCTIONS = 3;

/** DER OID of sm2p256v1 (1.2.156.10197.1.301), CKA_EC_PARAMS of vendor SM2 keys. */
export const SM2_EC_PARAMS = Buffer.from('06082a811ccf5501822d', 'hex');

/** CKA_EC_PARAMS must be the DER OID (docs/contract/token-facts.md#softhsm2-ec): prime256v1, secp384r1. */
export const EC_PARAMS: Record<EcCurve, Buffer> = {
  'P-256': Buffer.from('06082a8648ce3d030107', 'hex'),
  'P-384': Buffer.from('06052b81040022', 'hex'),
};
export const EC_HASH: Record<EcCurve, 'sha256' | 'sha384'> = { 'P-256': 'sha256', 'P-384': 'sha384' };

export const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** A mechanism number by its pkcs11js constant name, or undefined for names pkcs11js lacks. */
export function mechanismNumber(name: string): number | undefined {
  const v = (pkcs11js as unknown as Record<string, unknown>)[name];
  return typeof v === 'number' ? v : undefined;
}

/** The pkcs11js name of a mechanism number (first name wins), or `CKM_0x…`. */
const mechanismNames = new Map<number, string>();
for (const [name, value] of Object.entries(pkcs11js)) {
  if (name.startsWith('CKM_') && typeof value === 'number' && !mechanismNames.has(value)) mechanismNames.set(value, name);
}
export function mechanismName(n: number): string {
  return mechanismNames.get(n) ?? `CKM_0x${n.toString(16)}`;
}

/**
 * AES-GCM (or a vendor's SM4-GCM under the same parameters). SoftHSM2 accepts a 0-byte IV and
 * tagBits 0, so the IV length is checked here and 128 tag bits always sent.
 */
export function gcm(iv: Buffer, aad: Buffer | undefined, mechanism: number = pkcs11js.CKM_AES_GCM): pkcs11js.Mechanism {
  if (iv.length !== GCM_IV_BYTES) throw new InvalidInputError('GCM IV must be 12 bytes');
  return {
    mechanism,
    parameter: {
      type: pkcs11js.CK_PARAMS_AES_GCM_v240,
      iv,
      ivBits: GCM_IV_BYTES * 8,
      aad: aad && aad.length > 0 ? aad : undefined,
      tagBits: GCM_TAG_BYTES * 8,
    } as pkcs11js.IParams,
  };
}

/**
 * AES-GCM asking the token for the IV (an HSM in a FIPS mode that refuses a caller's IV): no IV
 * given (ulIvLen 0) and a 96-bit one asked for (ulIvBits 96). Thales documents for Luna (firmware
 * 7.9.3+) that the token then appends the IV it generated after the tag.
 */
export function gcmTokenIv(aad: Buffer | undefined): pkcs11js.Mechanism {
  return {
    mechanism: pkcs11js.CKM_AES_GCM,
    parameter: {
      type: pkcs11js.CK_PARAMS_AES_GCM_v240,
      iv: Buffer.alloc(0),
      ivBits: GCM_IV_BYTES * 8,
      aad: aad && aad.length > 0 ? aad : undefined,
      tagBits: GCM_TAG_BYTES * 8,
    } as pkcs11js.IParams,
  };
}

function oaepParameter(hash: 'sha1' | 'sha256'): pkcs11js.IParams {
  return {
    type: pkcs11js.CK_PARAMS_RSA_OAEP,
    hashAlg: hash === 'sha1' ? pkcs11js.CKM_SHA_1 : pkcs11js.CKM_SHA256,
    mgf: hash === 'sha1' ? pkcs11js.CKG_MGF1_SHA1 : pkcs11js.CKG_MGF1_SHA256,
    source: CKZ_DATA_SPECIFIED,
  } as pkcs11js.IParams;
}

export function rsaDecryptMechanism(scheme: RsaDecryptScheme): pkcs11js.Mechanism {
  return scheme === 'pkcs1'
    ? { mechanism: pkcs11js.CKM_RSA_PKCS }
    : { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter: oaepParameter(scheme === 'oaep-sha1' ? 'sha1' : 'sha256') };
}

export function rsaUnwrapMechanism(scheme: UnwrapScheme): pkcs11js.Mechanism {
  return rsaDecryptMechanism(scheme === 'rsa-pkcs1' ? 'pkcs1' : scheme === 'rsa-oaep-sha1' ? 'oaep-sha1' : 'oaep-sha256');
}

export const RSA_RAW: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_RSA_X_509 };

export function signMechanism(scheme: SignScheme): pkcs11js.Mechanism {
  switch (scheme) {
    case 'rsa-pss-sha256':
      return {
        mechanism: pkcs11js.CKM_RSA_PKCS_PSS,
        parameter: { type: pkcs11js.CK_PARAMS_RSA_PSS, hashAlg: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256, saltLen: 32 } as pkcs11js.IParams,
      };
    case 'rsa-pkcs1-sha256':
      return { mechanism: pkcs11js.CKM_RSA_PKCS };
    case 'ecdsa':
      return { mechanism: pkcs11js.CKM_ECDSA };
  }
}

/** What the token signs: the digest (PSS, ECDSA) or the DigestInfo (PKCS#1 v1.5). Hashing happens outside the token. */
export function signInput(scheme: SignScheme, digest: Buffer): Buffer {
  if (scheme === 'rsa-pkcs1-sha256') {
    if (digest.length !== 32) throw new InvalidInputError('SHA-256 digest must be 32 bytes');
    return Buffer.concat([SHA256_DIGEST_INFO, digest]);
  }
  if (scheme === 'rsa-pss-sha256' && digest.length !== 32) throw new InvalidInputError('SHA-256 digest must be 32 bytes');
  return digest;
}
