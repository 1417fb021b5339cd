import type { Token } from '../pkcs11/token.js';

// Where SM (GM/T) keys live: the software module (sm-crypto-v2 / Node's OpenSSL, material sealed
// under the token KEK) or the token itself, when its profile declares the vendor mechanisms and
// the token lists them. Configuration, per family: KMS_SM_ENGINE = auto (default: each family in
// the token when complete, else software), software, or token (both families in the token, or
// the server refuses to start, naming what is missing).
// Keys keep the place they were created in (KeyRecord.tokenResident): changing the setting
// affects new keys only; rotation makes new versions where the key's first version lives.

export type SmEngineSetting = 'auto' | 'software' | 'token';
export type Place = 'token' | 'software';

export interface SmPlacement {
  sm2: Place;
  sm4: Place;
  /** Why each family is where it is (for `token status` and the start-up log). */
  detail: string[];
}

/** Profile names (hsm/*.json smMechanisms) each family needs in the token. */
export const SM_FAMILIES = {
  sm4: ['SM4_KEY_GEN', 'SM4_GCM', 'CKK_SM4'],
  sm2: ['SM2_KEY_PAIR_GEN', 'SM2_SIGN', 'SM2_ENCRYPT', 'CKK_SM2'],
} as const;

export class SmPlacementError extends Error {
  readonly code = 'SmPlacementError';
}

type TokenView = Pick<Token, 'smNumber' | 'offersNumber'>;

function missing(token: TokenView, names: readonly string[]): string[] {
  return names.filter((n) => {
    const number = token.smNumber(n);
    if (number === undefined) return true;
    // Key types (CKK_*) are not listed by C_GetMechanismList: declared is all we can check.
    return !n.startsWith('CKK_') && !token.offersNumber(number);
  });
}

export function resolveSmPlacement(token: TokenView, setting: SmEngineSetting): SmPlacement {
  const detail: string[] = [];
  const place = (family: keyof typeof SM_FAMILIES): Place => {
    if (setting === 'software') {
      detail.push(`${family}: software module (KMS_SM_ENGINE=software)`);
      return 'software';
    }
    const gaps = missing(token, SM_FAMILIES[family]);
    if (gaps.length === 0) {
      detail.push(`${family}: token (vendor mechanisms ${SM_FAMILIES[family].join(', ')})`);
      return 'token';
    }
    if (setting === 'token') {
      throw new SmPlacementError(`KMS_SM_ENGINE=token: the token profile does not declare, or the token does not list, ${gaps.join(', ')} (needed for ${family.toUpperCase()} in the token); use KMS_SM_ENGINE=auto or software`);
    }
    detail.push(`${family}: software module (token lacks ${gaps.join(', ')})`);
    return 'software';
  };
  return { sm4: place('sm4'), sm2: place('sm2'), detail };
}
