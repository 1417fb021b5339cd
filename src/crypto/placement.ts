import type { Token } from '../pkcs11/token.js';

// Where keys of the families SoftHSM2 cannot hold live: the software module (material sealed
// under the token KEK) or the token itself, when its profile declares the mechanisms and the
// token lists them. Configuration, per family:
// - SM (GM/T vendor mechanisms, profile smMechanisms): KMS_SM_ENGINE;
// - post-quantum (PKCS#11 3.2 CKM_ML_DSA_KEY_PAIR_GEN / CKM_ML_DSA, profile mechanisms):
//   KMS_PQC_ENGINE. ML-KEM always runs in the software module: decapsulation in a token needs
//   PKCS#11 3.2's C_DecapsulateKey, which pkcs11js 2.1.7 does not expose.
// Each setting: auto (default: each family in the token when complete, else software),
// software, or token (every family of the setting in the token, or the server refuses to start,
// naming what is missing). Keys keep the place they were created in (KeyRecord.tokenResident):
// changing a setting affects new keys only; rotation makes new versions where the key's first
// version lives.

export type EngineSetting = 'auto' | 'software' | 'token';
export type Place = 'token' | 'software';

export interface KeyPlacement {
  sm2: Place;
  sm4: Place;
  mldsa: Place;
  /** Always software (see above). */
  mlkem: 'software';
  /** Why each family is where it is (for `token status` and the start-up log). */
  detail: string[];
}

/** Profile names (hsm/*.json smMechanisms) each family needs in the token. */
export const SM_FAMILIES = {
  sm4: ['SM4_KEY_GEN', 'SM4_GCM', 'CKK_SM4'],
  sm2: ['SM2_KEY_PAIR_GEN', 'SM2_SIGN', 'SM2_ENCRYPT', 'CKK_SM2'],
} as const;

/** PKCS#11 3.2 mechanisms ML-DSA needs in the token (standard numbers, in src/pkcs11/token.ts). */
export const PQC_FAMILIES = {
  mldsa: ['CKM_ML_DSA_KEY_PAIR_GEN', 'CKM_ML_DSA'],
} as const;

export class PlacementError extends Error {
  readonly code = 'PlacementError';
}

type TokenView = Pick<Token, 'smNumber' | 'offersNumber' | 'pqcMechanismNumber'> & { profile: { mechanisms: Record<string, { available: boolean }> } };

function missing(token: TokenView, names: readonly string[]): string[] {
  return names.filter((n) => {
    const number = token.smNumber(n);
    if (number === undefined) return true;
    // Key types (CKK_*) are not listed by C_GetMechanismList: declared is all we can check.
    return !n.startsWith('CKK_') && !token.offersNumber(number);
  });
}

export function resolvePlacement(token: TokenView, settings: { sm: EngineSetting; pqc: EngineSetting }): KeyPlacement {
  const detail: string[] = [];
  const decide = (family: string, setting: EngineSetting, variable: string, gaps: string[], needs: readonly string[]): Place => {
    if (setting === 'software') {
      detail.push(`${family}: software module (${variable}=software)`);
      return 'software';
    }
    if (gaps.length === 0) {
      detail.push(`${family}: token (${needs.join(', ')})`);
      return 'token';
    }
    if (setting === 'token') {
      throw new PlacementError(`${variable}=token: the token profile does not declare, or the token does not list, ${gaps.join(', ')} (needed for ${family.toUpperCase()} in the token); use ${variable}=auto or software`);
    }
    detail.push(`${family}: software module (token lacks ${gaps.join(', ')})`);
    return 'software';
  };
  const sm4 = decide('sm4', settings.sm, 'KMS_SM_ENGINE', missing(token, SM_FAMILIES.sm4), SM_FAMILIES.sm4);
  const sm2 = decide('sm2', settings.sm, 'KMS_SM_ENGINE', missing(token, SM_FAMILIES.sm2), SM_FAMILIES.sm2);
  const pqcGaps = PQC_FAMILIES.mldsa.filter((n) => token.profile.mechanisms[n]?.available !== true || !token.offersNumber(token.pqcMechanismNumber(n)));
  const mldsa = decide('ml-dsa', settings.pqc, 'KMS_PQC_ENGINE', pqcGaps, PQC_FAMILIES.mldsa);
  detail.push('ml-kem: software module (pkcs11js exposes no C_EncapsulateKey/C_DecapsulateKey)');
  return { sm4, sm2, mldsa, mlkem: 'software', detail };
}
