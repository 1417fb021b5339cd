import { timingSafeEqual } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle } from '../connection.js';
import { ckrOf, InvalidInputError, isTokenLost, MaterialMismatchError, MechanismUnsupportedError } from '../errors.js';
import { rsaUnwrapMechanism, type UnwrapScheme } from '../mechanisms.js';
import { assertFlatTemplate, labelOf, secretKeyTemplate, stagingKeyTemplate, type ObjectName, type SecretUsage } from '../templates.js';
import type { TokenContext } from './context.js';

// BYOK: externally wrapped AES material brought into the token without passing through the
// service's memory.

export interface ImportAesKeyRequest {
  unwrapper: ObjectName;
  scheme: UnwrapScheme;
  wrapped: Buffer;
  bytes: 16 | 32;
  staging: ObjectName;
  fingerprint: { key: ObjectName; context: Buffer };
  expectFingerprint?: Buffer;
  target?: { name: ObjectName; usage: SecretUsage };
}

export class ImportOps {
  constructor(private readonly t: TokenContext) {}

  /**
   * Bring externally wrapped AES material into the token (BYOK), checking what SoftHSM2 cannot
   * report (unwrapped keys show CKA_VALUE_LEN 0):
   *  1. C_UnwrapKey under the RSA wrapping key into a session object, sensitive but extractable
   *     (wrong ciphertext → DecryptFailedError);
   *  2. C_WrapKey of it with CKM_AES_KEY_WRAP (RFC 3394) under the service's staging key: its
   *     length (material rounded up to 8 bytes, + 8) and step 3 (AES-ECB accepts only 16, 24
   *     or 32-byte keys) check the material's exact size (→ InvalidInputError) unread;
   *  3. its key check value (AES-ECB of a zero block) is MACed with the fingerprint key
   *     (AES-CMAC, in the token) over `context` → the returned keyed fingerprint;
   *  4. when `expectFingerprint` is given and differs → MaterialMismatchError;
   *  5. when `target` is given, the staged wrap is unwrapped into it: a token object,
   *     sensitive, non-extractable (an existing object of that name is replaced).
   * The session object is destroyed in every case.
   */
  importAesKey(p: ImportAesKeyRequest): Promise<Buffer> {
    const { conn, objects } = this.t;
    if (p.scheme === 'rsa-oaep-sha256' && !this.t.capabilities().rsa.oaepSha256) {
      return Promise.reject(new MechanismUnsupportedError('this token cannot unwrap with RSA-OAEP-SHA256'));
    }
    const stagingTemplate = assertFlatTemplate(stagingKeyTemplate());
    const target = p.target;
    const finalTemplate = target ? assertFlatTemplate(secretKeyTemplate(target.name, 'AES', target.usage, { token: true, modifiable: objects.copiesEnabled })) : undefined;
    const p11 = conn.p11;
    const sizeError = () => new InvalidInputError(`key material must be ${p.bytes * 8} bits`);
    return objects.serialized(() =>
      conn.run('import key material', 'decrypt', (s) => {
        const rsa = objects.handle(s, p.unwrapper, pkcs11js.CKO_PRIVATE_KEY);
        const mech = rsaUnwrapMechanism(p.scheme);
        let staged: Handle;
        try {
          staged = p11.C_UnwrapKey(s, mech, rsa, p.wrapped, stagingTemplate);
        } catch (err) {
          // The RSA mechanism is offered; SoftHSM2 answers CKR_MECHANISM_INVALID when the
          // decrypted value is no AES key length (e.g. 31 bytes): the material's fault.
          const ckr = ckrOf(err);
          if (conn.offered.has(mech.mechanism) && (ckr === pkcs11js.CKR_MECHANISM_INVALID || ckr === pkcs11js.CKR_KEY_SIZE_RANGE || ckr === pkcs11js.CKR_ATTRIBUTE_VALUE_INVALID)) throw sizeError();
          throw err;
        }
        let kw: Buffer | undefined;
        try {
          const stagingKey = objects.handle(s, p.staging, pkcs11js.CKO_SECRET_KEY);
          try {
            kw = Buffer.from(p11.C_WrapKey(s, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, stagingKey, staged, Buffer.alloc(p.bytes + 64)));
          } catch (err) {
            if (ckrOf(err) === undefined || isTokenLost(err)) throw err;
            throw sizeError();
          }
          // SoftHSM2 zero-pads a key of 25–31 bytes to 32 before wrapping (not RFC 3394), so the
          // length leaves lengths that are no AES key size; AES-ECB refuses exactly those.
          if (kw.length !== p.bytes + 8) throw sizeError();
          let kcv: Buffer;
          try {
            p11.C_EncryptInit(s, { mechanism: pkcs11js.CKM_AES_ECB }, staged);
            kcv = Buffer.from(p11.C_Encrypt(s, Buffer.alloc(16), Buffer.alloc(16)));
          } catch (err) {
            if (ckrOf(err) === undefined || isTokenLost(err)) throw err;
            throw sizeError();
          }
          p11.C_SignInit(s, { mechanism: pkcs11js.CKM_AES_CMAC }, objects.handle(s, p.fingerprint.key, pkcs11js.CKO_SECRET_KEY));
          const fingerprint = Buffer.from(p11.C_Sign(s, Buffer.concat([p.fingerprint.context, kcv]), Buffer.alloc(16)));
          if (p.expectFingerprint && (p.expectFingerprint.length !== fingerprint.length || !timingSafeEqual(p.expectFingerprint, fingerprint))) {
            throw new MaterialMismatchError('the key material differs from the material imported before');
          }
          if (target && finalTemplate) {
            objects.forget(s, target.name);
            for (const h of objects.find(s, labelOf(target.name))) p11.C_DestroyObject(s, h);
            p11.C_UnwrapKey(s, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, stagingKey, kw, finalTemplate);
          }
          return fingerprint;
        } finally {
          kw?.fill(0);
          try {
            p11.C_DestroyObject(s, staged);
          } catch {
            /* a session object also dies with its session */
          }
        }
      }),
    );
  }
}
