import { timingSafeEqual } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle } from '../connection.js';
import { ckrName, ckrOf, HsmError, InvalidInputError, MaterialMismatchError, MaterialSizeError, MechanismUnsupportedError } from '../errors.js';
import { gcm, rsaUnwrapMechanism, type UnwrapScheme } from '../mechanisms.js';
import { ulong } from '../objects.js';
import { assertFlatTemplate, labelOf, secretKeyTemplate, stagingKeyTemplate, type ObjectName, type SecretUsage } from '../templates.js';
import type { TokenContext } from './context.js';

// BYOK: externally wrapped AES material brought into the token without passing through the
// service's memory, its size checked and a keyed fingerprint taken, with what the token offers.

/** How the unwrapped material is checked before it becomes a key (chosen by the caller from the capabilities). */
export type ImportPath =
  /** Unwrap into an extractable session key, wrap it under the staging key (RFC 3394): the wrap's length is the material's size. */
  | 'staging'
  /** Unwrap into a non-extractable session key; its CKA_VALUE_LEN (when the token reports it) and AES-ECB check the size. */
  | 'direct';

export type FingerprintMac = 'cmac' | 'hmac-sha256';

export interface ImportAesKeyRequest {
  unwrapper: ObjectName;
  scheme: UnwrapScheme;
  wrapped: Buffer;
  bytes: 16 | 32;
  path: ImportPath;
  /** The staging key (path 'staging'). */
  staging?: ObjectName;
  fingerprint: { key: ObjectName; mac: FingerprintMac; context: Buffer };
  expectFingerprint?: Buffer;
  target?: { name: ObjectName; usage: SecretUsage };
}

const READ_ONLY_REFUSALS = new Set<number>([pkcs11js.CKR_ATTRIBUTE_READ_ONLY, pkcs11js.CKR_TEMPLATE_INCONSISTENT, pkcs11js.CKR_ATTRIBUTE_VALUE_INVALID]);

/** The token refused the extractable staging key (openCryptoki: CKR_ATTRIBUTE_READ_ONLY): the caller takes the direct path. */
export class StagingRefusedError extends HsmError {
  readonly code = 'StagingRefused';
}

export class ImportOps {
  constructor(private readonly t: TokenContext) {}

  /**
   * A failure of a call made on the unwrapped material that says the material is no AES key of
   * the right size (SoftHSM2 answers AES-ECB with a 31-byte key CKR_MECHANISM_INVALID although
   * it lists the mechanism); anything else is the token's failure and is translated as such.
   */
  private sizeOrToken(err: unknown, mechanism: number): never {
    const ckr = ckrOf(err);
    // Not CKR_WRAPPED_KEY_LEN_RANGE or CKR_DATA_LEN_RANGE: those are about the ciphertext (DecryptFailed).
    const sizeCodes = [pkcs11js.CKR_KEY_SIZE_RANGE, pkcs11js.CKR_KEY_TYPE_INCONSISTENT, pkcs11js.CKR_ATTRIBUTE_VALUE_INVALID];
    if (ckr !== undefined && (sizeCodes.includes(ckr) || (ckr === pkcs11js.CKR_MECHANISM_INVALID && this.t.conn.offered.has(mechanism))))
      throw new MaterialSizeError('key material is not an AES key of the expected size');
    throw err;
  }

  /**
   * Bring externally wrapped AES material into the token (BYOK):
   *  1. C_UnwrapKey under the RSA wrapping key into a session object (wrong ciphertext →
   *     DecryptFailedError; a decrypted value of no AES key length → MaterialSizeError);
   *  2. its size is checked unread — 'staging': wrapped with CKM_AES_KEY_WRAP under the
   *     service's staging key, whose length tells the size; 'direct': CKA_VALUE_LEN where the
   *     token reports it — and AES-ECB (16, 24 or 32-byte keys only) of a zero block gives its
   *     key check value (AES-GCM with a fixed IV where the token has no ECB);
   *  3. the check value is MACed with the fingerprint key (AES-CMAC, or HMAC-SHA256) over
   *     `context` → the returned keyed fingerprint; when `expectFingerprint` differs →
   *     MaterialMismatchError;
   *  4. when `target` is given, the material becomes a sensitive, non-extractable token object
   *     under that name (an existing object of that name is replaced): from the staged wrap, or
   *     by unwrapping the customer's ciphertext again straight into it.
   * The session object is destroyed in every case.
   */
  importAesKey(p: ImportAesKeyRequest): Promise<Buffer> {
    const { conn, objects } = this.t;
    const caps = this.t.capabilities();
    if (p.scheme === 'rsa-oaep-sha256' && !caps.rsa.oaepSha256) return Promise.reject(new MechanismUnsupportedError('this token cannot unwrap with RSA-OAEP-SHA256'));
    if (p.path === 'staging' && !p.staging) return Promise.reject(new InvalidInputError('the staging path needs the staging key'));
    const target = p.target;
    const finalTemplate = target ? assertFlatTemplate(secretKeyTemplate(target.name, 'AES', target.usage, { token: true, modifiable: objects.copiesEnabled })) : undefined;
    const p11 = conn.p11;
    return objects.serialized(() =>
      conn.run('import key material', 'decrypt', (s) => {
        const rsa = objects.handle(s, p.unwrapper, pkcs11js.CKO_PRIVATE_KEY);
        const mech = rsaUnwrapMechanism(p.scheme);
        const stagingTemplate = assertFlatTemplate(stagingKeyTemplate(p.path === 'staging'));
        let staged: Handle;
        try {
          staged = p11.C_UnwrapKey(s, mech, rsa, p.wrapped, stagingTemplate);
        } catch (err) {
          const ckr = ckrOf(err);
          if (p.path === 'staging' && ckr !== undefined && READ_ONLY_REFUSALS.has(ckr))
            throw new StagingRefusedError('import key material: the token refused an extractable staging key', ckr === undefined ? undefined : ckrName(ckr));
          // The RSA mechanism is offered; SoftHSM2 answers CKR_MECHANISM_INVALID when the
          // decrypted value is no AES key length (e.g. 31 bytes): the material's fault.
          this.sizeOrToken(err, mech.mechanism);
        }
        let kw: Buffer | undefined;
        try {
          if (p.path === 'staging') {
            try {
              kw = Buffer.from(
                p11.C_WrapKey(s, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, objects.handle(s, p.staging!, pkcs11js.CKO_SECRET_KEY), staged, Buffer.alloc(p.bytes + 64)),
              );
            } catch (err) {
              this.sizeOrToken(err, pkcs11js.CKM_AES_KEY_WRAP);
            }
            // SoftHSM2 zero-pads a key of 25–31 bytes to 32 before wrapping (not RFC 3394), so the
            // length leaves lengths that are no AES key size; AES-ECB refuses exactly those.
            if (kw.length !== p.bytes + 8) throw new MaterialSizeError('key material is not an AES key of the expected size');
          } else {
            // Tokens that report it (NSS, openCryptoki) say the size here; SoftHSM2 reports 0.
            const [len] = p11.C_GetAttributeValue(s, staged, [{ type: pkcs11js.CKA_VALUE_LEN }]);
            const n = len?.value ? ulong(len.value as Buffer) : 0;
            if (n !== 0 && n !== p.bytes) throw new MaterialSizeError('key material is not an AES key of the expected size');
          }
          const kcv = this.checkValue(s, staged, caps.aes.ecb);
          const fingerprint = this.mac(s, p.fingerprint, kcv);
          if (p.expectFingerprint && (p.expectFingerprint.length !== fingerprint.length || !timingSafeEqual(p.expectFingerprint, fingerprint))) {
            throw new MaterialMismatchError('the key material differs from the material imported before');
          }
          if (target && finalTemplate) {
            objects.forget(s, target.name);
            for (const h of objects.find(s, labelOf(target.name))) p11.C_DestroyObject(s, h);
            if (kw) p11.C_UnwrapKey(s, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, objects.handle(s, p.staging!, pkcs11js.CKO_SECRET_KEY), kw, finalTemplate);
            else p11.C_UnwrapKey(s, mech, rsa, p.wrapped, finalTemplate);
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

  /** AES-ECB of a zero block (the usual key check value), or AES-GCM of one under a fixed IV on a token without ECB. */
  private checkValue(s: Handle, key: Handle, ecb: boolean): Buffer {
    const p11 = this.t.conn.p11;
    const mechanism = ecb ? { mechanism: pkcs11js.CKM_AES_ECB } : gcm(Buffer.alloc(12), undefined);
    try {
      p11.C_EncryptInit(s, mechanism, key);
      return Buffer.from(p11.C_Encrypt(s, Buffer.alloc(16), Buffer.alloc(32))).subarray(0, 16);
    } catch (err) {
      this.sizeOrToken(err, mechanism.mechanism);
    }
  }

  private mac(s: Handle, f: ImportAesKeyRequest['fingerprint'], kcv: Buffer): Buffer {
    const p11 = this.t.conn.p11;
    const cmac = f.mac === 'cmac';
    p11.C_SignInit(s, { mechanism: cmac ? pkcs11js.CKM_AES_CMAC : pkcs11js.CKM_SHA256_HMAC }, this.t.objects.handle(s, f.key, pkcs11js.CKO_SECRET_KEY));
    return Buffer.from(p11.C_Sign(s, Buffer.concat([f.context, kcv]), Buffer.alloc(cmac ? 16 : 32)));
  }
}
