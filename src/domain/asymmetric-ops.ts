import { messageDigest, type AsymmetricEngine, type AsymmetricKeyRef, type SignScheme } from '../crypto/asymmetric.js';
import type { KeyRecord } from '../model/keys.js';
import type { KeyRepo } from '../store/key-repo.js';
import { InvalidArgumentError, InvalidKeyUsageError } from './errors.js';
import { ASYMMETRIC_USAGES, KEY_USAGE_CATALOGUE, RSA_ENCRYPTION_ALGORITHMS, SIGN_USAGES, isKeyUsage, type KeyUsage } from './key-usages.js';
import type { Caller, KeyService } from './keys.js';

// Asymmetric operations (docs/contract/actions.md#group-asymmetric): GetPublicKey, AsymmetricRsaDecrypt,
// AsymmetricSm2Decrypt, SignByAsymmetricKey, VerifyByAsymmetricKey. The key's usage decides what
// it may do and which algorithm names it takes (domain/key-usages.ts); the engine does the work
// (crypto/asymmetric.ts: RSA and EC in the token, SM2 in the token or the software module).

export type MessageType = 'RAW' | 'DIGEST';

export class AsymmetricService {
  constructor(
    private readonly keys: KeyService,
    private readonly repo: KeyRepo,
    private readonly engine: AsymmetricEngine,
  ) {}

  private async key(caller: Caller, keyId: string, usages: readonly KeyUsage[]): Promise<KeyRecord> {
    const key = await this.keys.get(caller, keyId, 'UseAsymmetric');
    if (!isKeyUsage(key.keyUsage) || !usages.includes(key.keyUsage)) throw new InvalidKeyUsageError(`key ${keyId} is ${key.keyUsage}; this operation needs ${usages.join(' or ')}`);
    return key;
  }

  /**
   * The current version as the engine needs it. A token key's object is named by key id and
   * version, so RSA and EC operations need no version row (`withRow` false saves a query).
   */
  private async ref(key: KeyRecord, withRow = true): Promise<AsymmetricKeyRef> {
    if (!withRow) return { keyId: key.keyId, version: key.currentVersion, tokenResident: key.tokenResident, sealedMaterial: null, publicKey: '' };
    const v = (await this.repo.versions(key.keyId)).find((x) => x.version === key.currentVersion);
    if (!v?.publicKey) throw new InvalidArgumentError(`key ${key.keyId} has no public key`);
    return { keyId: key.keyId, version: key.currentVersion, tokenResident: key.tokenResident, sealedMaterial: v.sealedMaterial, publicKey: v.publicKey };
  }

  async getPublicKey(caller: Caller, keyId: string): Promise<{ keyId: string; der: Buffer; pem: string }> {
    const key = await this.key(caller, keyId, ASYMMETRIC_USAGES);
    const { publicKey: pem } = await this.ref(key);
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    return { keyId: key.keyId, der, pem };
  }

  /** The caller wipes the plaintext. */
  async rsaDecrypt(caller: Caller, keyId: string, ciphertext: Buffer, algorithm: string): Promise<{ keyId: string; plaintext: Buffer }> {
    const key = await this.key(caller, keyId, ['ASYMMETRIC_DECRYPT_RSA_2048']);
    if (!Object.hasOwn(RSA_ENCRYPTION_ALGORITHMS, algorithm)) throw new InvalidArgumentError(`Algorithm ${algorithm} is not an RSA decryption algorithm`);
    const scheme = RSA_ENCRYPTION_ALGORITHMS[algorithm as keyof typeof RSA_ENCRYPTION_ALGORITHMS];
    return { keyId: key.keyId, plaintext: await this.engine.rsaDecrypt(await this.ref(key, false), ciphertext, scheme) };
  }

  async sm2Decrypt(caller: Caller, keyId: string, ciphertext: Buffer): Promise<{ keyId: string; plaintext: Buffer }> {
    const key = await this.key(caller, keyId, ['ASYMMETRIC_DECRYPT_SM2']);
    return { keyId: key.keyId, plaintext: await this.engine.sm2Decrypt(await this.ref(key), ciphertext) };
  }

  private scheme(key: KeyRecord, algorithm: string): SignScheme | 'sm2' {
    const names: Readonly<Record<string, SignScheme | 'sm2'>> | undefined = isKeyUsage(key.keyUsage)
      ? (KEY_USAGE_CATALOGUE[key.keyUsage] as { signAlgorithms?: Record<string, SignScheme | 'sm2'> }).signAlgorithms
      : undefined;
    const s = names && Object.hasOwn(names, algorithm) ? names[algorithm] : undefined;
    if (!s) throw new InvalidArgumentError(`Algorithm ${algorithm} does not fit key ${key.keyId} (${key.keyUsage}); ListAlgorithms lists the algorithms`);
    return s;
  }

  /** What the token signs: the digest given (DIGEST) or computed here from the message (RAW). */
  private digest(key: KeyRecord, scheme: SignScheme, message: Buffer, type: MessageType): Buffer {
    const p384 = key.keySpec === 'EC_P384';
    if (type === 'RAW') return messageDigest(scheme, message, p384 ? 'P-384' : 'P-256');
    const expected = p384 ? 48 : 32;
    if (message.length !== expected) throw new InvalidArgumentError(`a DIGEST message for this key must be ${expected} bytes`);
    return message;
  }

  private sm2Digest(message: Buffer, type: MessageType): void {
    if (type === 'DIGEST' && message.length !== 32) throw new InvalidArgumentError('a DIGEST message for SM2DSA must be 32 bytes (SM3 of Z ‖ M)');
  }

  async sign(caller: Caller, keyId: string, algorithm: string, message: Buffer, type: MessageType): Promise<Buffer> {
    const key = await this.key(caller, keyId, SIGN_USAGES);
    const scheme = this.scheme(key, algorithm);
    const ref = await this.ref(key, scheme === 'sm2');
    if (scheme === 'sm2') {
      this.sm2Digest(message, type);
      return this.engine.sm2Sign(ref, message, type === 'DIGEST');
    }
    // RSA signatures are raw; ECDSA signatures DER (docs/contract/actions.md#action-sign-by-asymmetric-key).
    return this.engine.sign(ref, scheme, this.digest(key, scheme, message, type));
  }

  async verify(caller: Caller, keyId: string, algorithm: string, message: Buffer, signature: Buffer, type: MessageType): Promise<boolean> {
    const key = await this.key(caller, keyId, SIGN_USAGES);
    const scheme = this.scheme(key, algorithm);
    const ref = await this.ref(key, scheme === 'sm2');
    if (scheme === 'sm2') {
      this.sm2Digest(message, type);
      return this.engine.sm2Verify(ref, message, signature, type === 'DIGEST');
    }
    return this.engine.verify(ref, scheme, this.digest(key, scheme, message, type), signature);
  }
}
