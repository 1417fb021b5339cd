import { materialContext } from '../crypto/key-material.js';
import type { Kek } from '../crypto/kek.js';
import { DecryptFailedError } from '../pkcs11/errors.js';
import { sm2CiphertextToRaw, sm2Decrypt, sm2Digest, sm2PointFromPem, sm2Sign, sm2SignatureToDer, sm2Verify } from '../crypto/sm2.js';
import { Token, type RsaDecryptScheme, type SignScheme } from '../pkcs11/token.js';
import type { KeyRecord, KeyRepo } from '../store/key-repo.js';
import { InvalidArgumentError, InvalidKeyUsageError } from './errors.js';
import type { Caller, KeyService } from './keys.js';
import { PQC_ENCRYPT_USAGE, PQC_SIGN_USAGE } from './service-info.js';

// Asymmetric operations (kms-api.md §4.3): GetPublicKey, AsymmetricRsaDecrypt,
// AsymmetricSm2Decrypt, SignByAsymmetricKey, VerifyByAsymmetricKey. RSA and EC keys work in the
// token; SM2 keys in the software module, unsealed from the KEK per call and wiped after.

const RSA_DECRYPT: Record<string, RsaDecryptScheme> = { RSAES_PKCS1_V1_5: 'pkcs1', RSAES_OAEP_SHA_1: 'oaep-sha1', RSAES_OAEP_SHA_256: 'oaep-sha256' };

/** Signature algorithm names per key usage; ListAlgorithms' P-384 name is unconfirmed, both spellings are taken. */
const SIGN_ALGORITHMS: Record<string, Record<string, SignScheme | 'sm2'>> = {
  ASYMMETRIC_SIGN_VERIFY_RSA_2048: { RSA_PSS_SHA_256: 'rsa-pss-sha256', RSA_PKCS1_SHA_256: 'rsa-pkcs1-sha256' },
  ASYMMETRIC_SIGN_VERIFY_ECC: { ECC_P256_R1: 'ecdsa' },
  ASYMMETRIC_SIGN_VERIFY_ECDSA384: { ECC_P384_R1: 'ecdsa', ECDSA384: 'ecdsa' },
  ASYMMETRIC_SIGN_VERIFY_SM2: { SM2DSA: 'sm2' },
};

export type MessageType = 'RAW' | 'DIGEST';

export class AsymmetricService {
  constructor(
    private readonly keys: KeyService,
    private readonly repo: KeyRepo,
    private readonly token: Token,
    private readonly kek: Kek,
  ) {}

  private async key(caller: Caller, keyId: string, usages: string[]): Promise<KeyRecord> {
    const key = await this.keys.get(caller, keyId, 'UseAsymmetric');
    if (!usages.includes(key.keyUsage)) throw new InvalidKeyUsageError(`key ${keyId} is ${key.keyUsage}; this operation needs ${usages.join(' or ')}`);
    return key;
  }

  private async publicPem(key: KeyRecord): Promise<string> {
    const v = (await this.repo.versions(key.keyId)).find((x) => x.version === key.currentVersion);
    if (!v?.publicKey) throw new InvalidArgumentError(`key ${key.keyId} has no public key`);
    return v.publicKey;
  }

  private async withSm2Private<T>(key: KeyRecord, fn: (priv: Buffer) => T): Promise<T> {
    const v = (await this.repo.versions(key.keyId)).find((x) => x.version === key.currentVersion);
    if (!v?.sealedMaterial) throw new InvalidArgumentError(`key ${key.keyId} has no private key`);
    const priv = await this.kek.open(v.sealedMaterial, materialContext(key.keyId, key.currentVersion));
    try {
      return fn(priv);
    } finally {
      priv.fill(0);
    }
  }

  async getPublicKey(caller: Caller, keyId: string): Promise<{ keyId: string; der: Buffer; pem: string }> {
    const key = await this.key(caller, keyId, Object.keys(SIGN_ALGORITHMS).concat('ASYMMETRIC_DECRYPT_RSA_2048', 'ASYMMETRIC_DECRYPT_SM2', PQC_ENCRYPT_USAGE, PQC_SIGN_USAGE));
    const pem = await this.publicPem(key);
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    return { keyId: key.keyId, der, pem };
  }

  /** The caller wipes the plaintext. */
  async rsaDecrypt(caller: Caller, keyId: string, ciphertext: Buffer, algorithm: string): Promise<{ keyId: string; plaintext: Buffer }> {
    const key = await this.key(caller, keyId, ['ASYMMETRIC_DECRYPT_RSA_2048']);
    const scheme = RSA_DECRYPT[algorithm];
    if (!scheme) throw new InvalidArgumentError(`Algorithm ${algorithm} is not an RSA decryption algorithm`);
    return { keyId: key.keyId, plaintext: await this.token.rsaDecrypt({ keyId: key.keyId, version: key.currentVersion }, ciphertext, scheme) };
  }

  async sm2Decrypt(caller: Caller, keyId: string, ciphertext: Buffer): Promise<{ keyId: string; plaintext: Buffer }> {
    const key = await this.key(caller, keyId, ['ASYMMETRIC_DECRYPT_SM2']);
    if (key.tokenResident) {
      const plaintext = await this.token.sm2Decrypt({ keyId: key.keyId, version: key.currentVersion }, sm2CiphertextToRaw(ciphertext));
      if (plaintext.length === 0) throw new DecryptFailedError('SM2 decrypt: failed');
      return { keyId: key.keyId, plaintext };
    }
    return { keyId: key.keyId, plaintext: await this.withSm2Private(key, (priv) => sm2Decrypt(priv, ciphertext)) };
  }

  private scheme(key: KeyRecord, algorithm: string): SignScheme | 'sm2' {
    const s = SIGN_ALGORITHMS[key.keyUsage]?.[algorithm];
    if (!s) throw new InvalidArgumentError(`Algorithm ${algorithm} does not fit key ${key.keyId} (${key.keyUsage}); ListAlgorithms lists the algorithms`);
    return s;
  }

  /** What the token signs: the digest given (DIGEST) or computed here from the message (RAW). */
  private digest(key: KeyRecord, scheme: SignScheme, message: Buffer, type: MessageType): Buffer {
    const curve = key.keySpec === 'EC_P384' ? 'P-384' : 'P-256';
    if (type === 'RAW') return Token.digest(scheme, message, curve);
    const expected = key.keySpec === 'EC_P384' ? 48 : 32;
    if (message.length !== expected) throw new InvalidArgumentError(`a DIGEST message for this key must be ${expected} bytes`);
    return message;
  }

  async sign(caller: Caller, keyId: string, algorithm: string, message: Buffer, type: MessageType): Promise<Buffer> {
    const key = await this.key(caller, keyId, Object.keys(SIGN_ALGORITHMS));
    const scheme = this.scheme(key, algorithm);
    if (scheme === 'sm2') {
      if (type === 'DIGEST' && message.length !== 32) throw new InvalidArgumentError('a DIGEST message for SM2DSA must be 32 bytes (SM3 of Z ‖ M)');
      if (key.tokenResident) {
        // Vendor SM2 in the token signs e = SM3(Z ‖ M); Z is computed here from the public key.
        const e = type === 'DIGEST' ? message : sm2Digest(sm2PointFromPem(await this.publicPem(key)), message);
        return sm2SignatureToDer(await this.token.sm2SignDigest({ keyId: key.keyId, version: key.currentVersion }, e));
      }
      return this.withSm2Private(key, (priv) => sm2Sign(priv, message, type === 'DIGEST'));
    }
    // RSA signatures are raw; ECDSA signatures DER (§4.3).
    return this.token.sign({ keyId: key.keyId, version: key.currentVersion }, scheme, this.digest(key, scheme, message, type), 'der');
  }

  async verify(caller: Caller, keyId: string, algorithm: string, message: Buffer, signature: Buffer, type: MessageType): Promise<boolean> {
    const key = await this.key(caller, keyId, Object.keys(SIGN_ALGORITHMS));
    const scheme = this.scheme(key, algorithm);
    if (scheme === 'sm2') {
      if (type === 'DIGEST' && message.length !== 32) throw new InvalidArgumentError('a DIGEST message for SM2DSA must be 32 bytes (SM3 of Z ‖ M)');
      return sm2Verify(sm2PointFromPem(await this.publicPem(key)), message, signature, type === 'DIGEST');
    }
    return this.token.verify({ keyId: key.keyId, version: key.currentVersion }, scheme, this.digest(key, scheme, message, type), signature, 'der');
  }
}
