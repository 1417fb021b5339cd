import { sm2 } from 'sm-crypto-v2';
import { DecryptFailedError } from '../pkcs11/errors.js';

// SM2 in the software module (GB/T 32918; SoftHSM2 has no GM/T mechanisms). The private key
// arrives unsealed from the KEK as a Buffer that the caller wipes; sm-crypto-v2 takes hex
// strings, which JavaScript cannot wipe — the one copy we cannot clear, kept as short-lived as
// the call. Signatures are DER, over SM3(Z ‖ M) with the default user id 1234567812345678.

const SM2_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a811ccf5501822d034200', 'hex');

/** The uncompressed point (hex, 04‖x‖y) from an SM2 SubjectPublicKeyInfo PEM. */
export function sm2PointFromPem(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  if (der.length !== SM2_SPKI_PREFIX.length + 65 || !der.subarray(0, SM2_SPKI_PREFIX.length).equals(SM2_SPKI_PREFIX)) throw new Error('not an SM2 public key');
  return der.subarray(SM2_SPKI_PREFIX.length).toString('hex');
}

/** DIGEST mode signs a precomputed e = SM3(Z ‖ M) (32 bytes); RAW hashes with Z itself. */
export function sm2Sign(privateKey: Buffer, message: Buffer, isDigest: boolean): Buffer {
  const sig = sm2.doSignature(message, privateKey.toString('hex'), { hash: !isDigest, der: true });
  return Buffer.from(sig, 'hex');
}

export function sm2Verify(publicPointHex: string, message: Buffer, signature: Buffer, isDigest: boolean): boolean {
  try {
    return sm2.doVerifySignature(message, signature.toString('hex'), publicPointHex, { hash: !isDigest, der: true });
  } catch {
    return false;
  }
}

/** C1C3C2 in ASN.1 (GM/T 0009), as AsymmetricSm2Decrypt takes it. */
export function sm2Decrypt(privateKey: Buffer, ciphertext: Buffer): Buffer {
  let out: Uint8Array;
  try {
    out = sm2.doDecrypt(ciphertext.toString('hex'), privateKey.toString('hex'), 1, { asn1: true, output: 'array' });
  } catch {
    throw new DecryptFailedError('SM2 decrypt: failed');
  }
  // Every SM library answers a failed decryption with empty output instead of an error (hsm-notes.md).
  if (!out || out.length === 0) throw new DecryptFailedError('SM2 decrypt: failed');
  return Buffer.from(out);
}
