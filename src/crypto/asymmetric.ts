import { signDigest } from '../pkcs11/ops/asymmetric.js';
import type { EcCurve, RsaDecryptScheme, SignScheme, Token } from '../pkcs11/token.js';
import { DecryptFailedError } from '../pkcs11/errors.js';
import type { Kek } from './kek.js';
import { materialContext } from './key-material.js';
import { sm2CiphertextToRaw, sm2Decrypt, sm2Digest, sm2PointFromPem, sm2Sign, sm2SignatureToDer, sm2Verify } from './sm2.js';

// Asymmetric operations under a key version: RSA and ECDSA in the token; SM2 in the token when
// it was made there (vendor mechanisms), else in the software module with the private key
// unsealed from the KEK for the call and wiped after.

export type { EcCurve, RsaDecryptScheme, SignScheme } from '../pkcs11/token.js';

/** A key version as the engine needs it (the domain reads it from the store). */
export interface AsymmetricKeyRef {
  keyId: string;
  version: number;
  tokenResident: boolean;
  /** Software-module private key sealed under the KEK (SM2), else null. */
  sealedMaterial: Buffer | null;
  /** SubjectPublicKeyInfo PEM. */
  publicKey: string;
}

/** The digest `sign`/`verify` take for a RAW message: SHA-256, or SHA-384 for P-384 ECDSA. */
export function messageDigest(scheme: SignScheme, message: Buffer, curve?: EcCurve): Buffer {
  return signDigest(scheme, message, curve);
}

export class AsymmetricEngine {
  constructor(
    private readonly token: Token,
    private readonly kek: Kek,
  ) {}

  private async withSm2Private<T>(key: AsymmetricKeyRef, fn: (priv: Buffer) => T): Promise<T> {
    if (!key.sealedMaterial) throw new DecryptFailedError('private key unavailable');
    const priv = await this.kek.open(key.sealedMaterial, materialContext(key.keyId, key.version));
    try {
      return fn(priv);
    } finally {
      priv.fill(0);
    }
  }

  /** RSA decryption in the token. The caller wipes the plaintext. */
  rsaDecrypt(key: AsymmetricKeyRef, ciphertext: Buffer, scheme: RsaDecryptScheme): Promise<Buffer> {
    return this.token.rsaDecrypt({ keyId: key.keyId, version: key.version }, ciphertext, scheme);
  }

  /** SM2 decryption of a C1C3C2 ASN.1 ciphertext. The caller wipes the plaintext. */
  sm2Decrypt(key: AsymmetricKeyRef, ciphertext: Buffer): Promise<Buffer> {
    if (key.tokenResident) return this.token.sm2Decrypt({ keyId: key.keyId, version: key.version }, sm2CiphertextToRaw(ciphertext));
    return this.withSm2Private(key, (priv) => sm2Decrypt(priv, ciphertext));
  }

  /** RSA (raw signature) or ECDSA (DER) over a digest, in the token. */
  sign(key: AsymmetricKeyRef, scheme: SignScheme, digest: Buffer): Promise<Buffer> {
    return this.token.sign({ keyId: key.keyId, version: key.version }, scheme, digest, 'der');
  }

  verify(key: AsymmetricKeyRef, scheme: SignScheme, digest: Buffer, signature: Buffer): Promise<boolean> {
    return this.token.verify({ keyId: key.keyId, version: key.version }, scheme, digest, signature, 'der');
  }

  /** SM2DSA (DER): over the message (`isDigest` false) or over e = SM3(Z ‖ M) given by the caller. */
  async sm2Sign(key: AsymmetricKeyRef, message: Buffer, isDigest: boolean): Promise<Buffer> {
    if (key.tokenResident) {
      // Vendor SM2 in the token signs e = SM3(Z ‖ M); Z is computed here from the public key.
      const e = isDigest ? message : sm2Digest(sm2PointFromPem(key.publicKey), message);
      return sm2SignatureToDer(await this.token.sm2SignDigest({ keyId: key.keyId, version: key.version }, e));
    }
    return this.withSm2Private(key, (priv) => sm2Sign(priv, message, isDigest));
  }

  sm2Verify(key: Pick<AsymmetricKeyRef, 'publicKey'>, message: Buffer, signature: Buffer, isDigest: boolean): boolean {
    return sm2Verify(sm2PointFromPem(key.publicKey), message, signature, isDigest);
  }
}
