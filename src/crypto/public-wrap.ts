import { constants, createPublicKey, publicEncrypt, type KeyObject } from 'node:crypto';
import { sm2 } from 'sm-crypto-v2';

// EncryptionPublicKey on Decrypt and GenerateDataKey (docs/contract/actions.md#group-symmetric): the plaintext is
// returned encrypted to the caller's own public key. RSA with Node's crypto; SM2 with
// sm-crypto-v2, as C1‖C3‖C2 with C1 the bare coordinates x‖y, without the 0x04 point prefix, as
// Tencent's own GenerateDataKey example answers (docs/contract/ambiguities.md#sm2-c1c3c2-prefix), or DER
// (SM2_C1C3C2_ASN1, GM/T 0009).

export class PublicKeyWrapError extends Error {
  readonly code = 'PublicKeyWrap';
}

const SM2_CURVE_OID = Buffer.from('06082a811ccf5501822d', 'hex');

export type WrapAlgorithm = 'SM2' | 'SM2_C1C3C2_ASN1' | 'RSAES_PKCS1_V1_5' | 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256';

function parse(pem: string): { kind: 'rsa'; key: KeyObject } | { kind: 'sm2'; pointHex: string } {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new PublicKeyWrapError('EncryptionPublicKey is not a PEM public key');
  }
  if (key.asymmetricKeyType === 'rsa') {
    const details = key.asymmetricKeyDetails;
    if (details?.modulusLength !== 2048) throw new PublicKeyWrapError('EncryptionPublicKey must be RSA-2048 or SM2');
    // A key that does not hide what it encrypts: e = 1 hands the plaintext back as it is, a small
    // or even e is no RSA key a caller meant (docs/reliability.md#public-key-sanity).
    const e = details.publicExponent;
    if (e === undefined || e < 65537n || e % 2n === 0n) throw new PublicKeyWrapError('EncryptionPublicKey: the RSA public exponent must be odd and at least 65537');
    return { kind: 'rsa', key };
  }
  const der = key.export({ type: 'spki', format: 'der' });
  if (!der.includes(SM2_CURVE_OID) || der.length < 65) throw new PublicKeyWrapError('EncryptionPublicKey must be RSA-2048 or SM2');
  const point = der.subarray(der.length - 65);
  if (point[0] !== 0x04) throw new PublicKeyWrapError('EncryptionPublicKey: SM2 point must be uncompressed');
  return { kind: 'sm2', pointHex: point.toString('hex') };
}

/** The RSA padding of an algorithm, or undefined for an SM2 one. */
function rsaPadding(alg: WrapAlgorithm): { padding: number; oaepHash?: string } | undefined {
  return alg === 'RSAES_PKCS1_V1_5'
    ? { padding: constants.RSA_PKCS1_PADDING }
    : alg === 'RSAES_OAEP_SHA_1'
      ? { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }
      : alg === 'RSAES_OAEP_SHA_256'
        ? { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }
        : undefined;
}

/**
 * Throws PublicKeyWrapError unless `pem` and `algorithm` can carry a plaintext back: checked
 * before the operation that makes the plaintext, so a refused key changes nothing (a hosted data
 * key is not stored, no plaintext is made).
 */
export function assertWrappable(pem: string, algorithm: WrapAlgorithm | undefined): void {
  const key = parse(pem);
  const alg = algorithm ?? 'SM2';
  if (key.kind === 'rsa' && !rsaPadding(alg)) throw new PublicKeyWrapError(`EncryptionAlgorithm ${alg} does not fit an RSA EncryptionPublicKey`);
  if (key.kind === 'sm2' && alg !== 'SM2' && alg !== 'SM2_C1C3C2_ASN1') throw new PublicKeyWrapError(`EncryptionAlgorithm ${alg} does not fit an SM2 EncryptionPublicKey`);
}

export function wrapToPublicKey(plaintext: Buffer, pem: string, algorithm: WrapAlgorithm | undefined): Buffer {
  const key = parse(pem);
  const alg = algorithm ?? 'SM2';
  if (key.kind === 'rsa') {
    const padding = rsaPadding(alg);
    if (!padding) throw new PublicKeyWrapError(`EncryptionAlgorithm ${alg} does not fit an RSA EncryptionPublicKey`);
    return publicEncrypt({ key: key.key, ...padding }, plaintext);
  }
  if (alg !== 'SM2' && alg !== 'SM2_C1C3C2_ASN1') throw new PublicKeyWrapError(`EncryptionAlgorithm ${alg} does not fit an SM2 EncryptionPublicKey`);
  const hex = alg === 'SM2' ? sm2.doEncrypt(plaintext, key.pointHex, 1) : sm2.doEncrypt(plaintext, key.pointHex, 1, { asn1: true });
  return Buffer.from(hex, 'hex');
}
