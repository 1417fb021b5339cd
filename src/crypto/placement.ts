import type { TokenCapabilities, TokenFamily } from '../pkcs11/capabilities.js';

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

export class PlacementError extends Error {
  readonly code = 'PlacementError';
}

export function resolvePlacement(caps: TokenCapabilities, settings: { sm: EngineSetting; pqc: EngineSetting }): KeyPlacement {
  const detail: string[] = [];
  const decide = (family: string, setting: EngineSetting, variable: string, offered: TokenFamily): Place => {
    const gaps = offered.missing;
    if (setting === 'software') {
      detail.push(`${family}: software module (${variable}=software)`);
      return 'software';
    }
    if (offered.available) {
      detail.push(`${family}: token`);
      return 'token';
    }
    if (setting === 'token') {
      throw new PlacementError(
        `${variable}=token: the token profile does not declare, or the token does not list, ${gaps.join(', ')} (needed for ${family.toUpperCase()} in the token); use ${variable}=auto or software`,
      );
    }
    detail.push(`${family}: software module (token lacks ${gaps.join(', ')})`);
    return 'software';
  };
  const sm4 = decide('sm4', settings.sm, 'KMS_SM_ENGINE', caps.sm4);
  const sm2 = decide('sm2', settings.sm, 'KMS_SM_ENGINE', caps.sm2);
  const mldsa = decide('ml-dsa', settings.pqc, 'KMS_PQC_ENGINE', caps.mlDsa);
  detail.push('ml-kem: software module (pkcs11js exposes no C_EncapsulateKey/C_DecapsulateKey)');
  return { sm4, sm2, mldsa, mlkem: 'software', detail };
}
