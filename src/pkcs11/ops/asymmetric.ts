import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { p256, p384 } from '@noble/curves/nist.js';
import { vendorNumber } from '../capabilities.js';
import type { Handle } from '../connection.js';
import { DecryptFailedError, HsmError, InvalidInputError, MechanismUnsupportedError } from '../errors.js';
import { EC_HASH, EC_PARAMS, PKCS11_3_2, RSA_RAW, rsaDecryptMechanism, signInput, signMechanism, type EcCurve, type RsaDecryptScheme, type SignScheme } from '../mechanisms.js';
import { ulong } from '../objects.js';
import { oaepDecode } from '../oaep.js';
import type { ObjectName } from '../templates.js';
import type { TokenContext } from './context.js';

// Asymmetric operations in the token: RSA decryption, RSA and ECDSA signatures, public-key
// export, vendor SM2 and PKCS#11 3.2 ML-DSA.

/**
 * Output room for RSA private-key operations: the largest modulus (4096 bits). Sized from the
 * input instead, a short ciphertext made C_Decrypt answer CKR_BUFFER_TOO_SMALL, which by the
 * standard leaves the operation active and the session unusable.
 */
const RSA_OUT_MAX = 512;

export interface PublicKeyExport {
  der: Buffer;
  pem: string;
  keyObject: KeyObject;
}

/** Hash a message the way `sign`/`verify` expect for a scheme and curve. */
export function signDigest(scheme: SignScheme, message: Buffer, curve?: EcCurve): Buffer {
  const alg = scheme === 'ecdsa' ? EC_HASH[curve ?? 'P-256'] : 'sha256';
  return createHash(alg).update(message).digest();
}

/** CKA_EC_POINT is a DER OCTET STRING around the point (docs/contract/token-facts.md#softhsm2-ec). */
export function unwrapOctetString(der: Buffer): Buffer {
  if (der[0] !== 0x04) return der;
  let len = der[1]!;
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = der.readUIntBE(2, n);
    off = 2 + n;
  }
  return off + len === der.length ? der.subarray(off) : der;
}

export class AsymmetricOps {
  constructor(private readonly t: TokenContext) {}

  private requireVendor(name: string): number {
    const n = vendorNumber(this.t.profile, name);
    if (n === undefined) throw new MechanismUnsupportedError(`the token profile declares no ${name}`);
    return n;
  }

  /** RSA private-key decryption in the token. OAEP-SHA256 on a token without it: raw RSA in the token, OAEP decoding here. */
  rsaDecrypt(name: ObjectName, data: Buffer, scheme: RsaDecryptScheme): Promise<Buffer> {
    const { conn, objects } = this.t;
    return conn.run('RSA decrypt', 'decrypt', () =>
      conn.withPoolSession(async (s) => {
        const key = objects.handle(s, name, pkcs11js.CKO_PRIVATE_KEY);
        if (scheme === 'oaep-sha256' && !this.t.capabilities().rsa.oaepSha256) {
          const em = await this.rawRsa(s, key, data);
          try {
            return oaepDecode(em, 'sha256');
          } finally {
            em.fill(0);
          }
        }
        conn.p11.C_DecryptInit(s, rsaDecryptMechanism(scheme), key);
        return Buffer.from(await conn.p11.C_DecryptAsync(s, data, Buffer.alloc(RSA_OUT_MAX)));
      }),
    );
  }

  private async rawRsa(s: Handle, key: Handle, data: Buffer): Promise<Buffer> {
    const p11 = this.t.conn.p11;
    p11.C_DecryptInit(s, RSA_RAW, key);
    const out = Buffer.from(await p11.C_DecryptAsync(s, data, Buffer.alloc(RSA_OUT_MAX)));
    // CKM_RSA_X_509 may strip leading zeros; OAEP decoding wants the full k bytes.
    if (out.length >= data.length) return out;
    const em = Buffer.alloc(data.length);
    out.copy(em, data.length - out.length);
    out.fill(0);
    return em;
  }

  /**
   * Sign a digest in the token. ECDSA signatures come back as raw r ‖ s (PKCS#11 §2.3.1);
   * `format: 'der'` re-encodes them as an X9.62 SEQUENCE.
   */
  async sign(name: ObjectName, scheme: SignScheme, digest: Buffer, format: 'raw' | 'der' = 'der'): Promise<Buffer> {
    const input = signInput(scheme, digest);
    const mech = signMechanism(scheme);
    const { conn, objects } = this.t;
    // RSA signing (~0.7 ms) runs on the libuv pool so several sessions work at once; ECDSA
    // (~55 µs) is faster called directly: the thread hop cost half its rate (bench:token).
    const sig =
      scheme === 'ecdsa'
        ? await conn.run('sign', 'other', (s) => {
            conn.p11.C_SignInit(s, mech, objects.handle(s, name, pkcs11js.CKO_PRIVATE_KEY));
            return Buffer.from(conn.p11.C_Sign(s, input, Buffer.alloc(132)));
          })
        : await conn.run('sign', 'other', () =>
            conn.withPoolSession(async (s) => {
              conn.p11.C_SignInit(s, mech, objects.handle(s, name, pkcs11js.CKO_PRIVATE_KEY));
              return Buffer.from(await conn.p11.C_SignAsync(s, input, Buffer.alloc(1024)));
            }),
          );
    if (scheme !== 'ecdsa' || format === 'raw') return sig;
    const curve = sig.length === 64 ? p256 : sig.length === 96 ? p384 : undefined;
    if (!curve) throw new InvalidInputError(`unexpected ECDSA signature length ${sig.length}`);
    return Buffer.from(curve.Signature.fromBytes(sig, 'compact').toBytes('der'));
  }

  /** Verify in the token; false for a signature that does not verify (in any form). */
  async verify(name: ObjectName, scheme: SignScheme, digest: Buffer, signature: Buffer, format: 'raw' | 'der' = 'der'): Promise<boolean> {
    const input = signInput(scheme, digest);
    let sig = signature;
    if (scheme === 'ecdsa' && format === 'der') {
      try {
        const curve = (await this.curveOf(name)) === 'P-384' ? p384 : p256;
        sig = Buffer.from(curve.Signature.fromBytes(signature, 'der').toBytes('compact'));
      } catch (err) {
        if (err instanceof HsmError) throw err;
        return false;
      }
    }
    const { conn, objects } = this.t;
    try {
      await conn.run('verify', 'verify', () =>
        conn.withPoolSession(async (s) => {
          conn.p11.C_VerifyInit(s, signMechanism(scheme), objects.handle(s, name, pkcs11js.CKO_PUBLIC_KEY));
          return conn.p11.C_VerifyAsync(s, input, sig);
        }),
      );
      return true;
    } catch (err) {
      // A signature of the wrong length or form is a signature that does not verify.
      if (err instanceof HsmError && (err.code === 'SignatureInvalid' || err.ckr === 'CKR_SIGNATURE_LEN_RANGE' || err.ckr === 'CKR_DATA_LEN_RANGE')) return false;
      throw err;
    }
  }

  private async curveOf(name: ObjectName): Promise<EcCurve> {
    const { conn, objects } = this.t;
    const params = await conn.run(
      'read EC params',
      'other',
      (s) => conn.p11.C_GetAttributeValue(s, objects.handle(s, name, pkcs11js.CKO_PUBLIC_KEY), [{ type: pkcs11js.CKA_EC_PARAMS }])[0]?.value as Buffer,
    );
    for (const [curve, der] of Object.entries(EC_PARAMS)) if (der.equals(params)) return curve as EcCurve;
    throw new InvalidInputError('key is not on a supported curve');
  }

  /** The public half as SPKI (DER and PEM), built by Node's crypto from the token's attributes. */
  async exportPublicKey(name: ObjectName): Promise<PublicKeyExport> {
    const { conn, objects } = this.t;
    const keyObject = await conn.run('export public key', 'other', (s) => {
      const p11 = conn.p11;
      const key = objects.handle(s, name, pkcs11js.CKO_PUBLIC_KEY);
      const [type] = p11.C_GetAttributeValue(s, key, [{ type: pkcs11js.CKA_KEY_TYPE }]);
      if (ulong(type?.value as Buffer) === pkcs11js.CKK_RSA) {
        const [n, e] = p11.C_GetAttributeValue(s, key, [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]);
        return createPublicKey({ key: { kty: 'RSA', n: (n!.value as Buffer).toString('base64url'), e: (e!.value as Buffer).toString('base64url') }, format: 'jwk' });
      }
      const [params, point] = p11.C_GetAttributeValue(s, key, [{ type: pkcs11js.CKA_EC_PARAMS }, { type: pkcs11js.CKA_EC_POINT }]);
      const curve = (Object.entries(EC_PARAMS).find(([, der]) => der.equals(params!.value as Buffer)) ?? [])[0];
      if (!curve) throw new InvalidInputError('public key is not on a supported curve');
      const raw = unwrapOctetString(point!.value as Buffer);
      const size = (raw.length - 1) / 2;
      if (raw[0] !== 0x04 || !Number.isInteger(size)) throw new InvalidInputError('EC point is not uncompressed');
      return createPublicKey({
        key: { kty: 'EC', crv: curve, x: raw.subarray(1, 1 + size).toString('base64url'), y: raw.subarray(1 + size).toString('base64url') },
        format: 'jwk',
      });
    });
    const der = keyObject.export({ type: 'spki', format: 'der' });
    const pem = keyObject.export({ type: 'spki', format: 'pem' }).toString();
    return { der, pem, keyObject };
  }

  /** The raw public value of a key pair: the EC point (04 ‖ x ‖ y) or CKA_VALUE (ML-DSA). */
  publicValue(name: ObjectName, kind: 'ec-point' | 'value'): Promise<Buffer> {
    const { conn, objects } = this.t;
    return conn.run('read public key', 'other', (s) => {
      const [attr] = conn.p11.C_GetAttributeValue(s, objects.handle(s, name, pkcs11js.CKO_PUBLIC_KEY), [
        { type: kind === 'ec-point' ? pkcs11js.CKA_EC_POINT : pkcs11js.CKA_VALUE },
      ]);
      const raw = Buffer.from(attr!.value as Buffer);
      return kind === 'ec-point' ? unwrapOctetString(raw) : raw;
    });
  }

  // Vendor SM2 (GM/T mechanisms from the profile). The formats used are the common vendor
  // conventions (GM/T 0018-style raw values); SoftHSM2 has none, so these run against no token
  // in this repository's tests.

  /** SM2 signature over e = SM3(Z ‖ M) computed by the caller; raw r ‖ s (64 bytes). */
  sm2SignDigest(name: ObjectName, e: Buffer): Promise<Buffer> {
    if (e.length !== 32) return Promise.reject(new InvalidInputError('SM2 digest must be 32 bytes'));
    const { conn, objects } = this.t;
    return conn.run('SM2 sign', 'other', (s) => {
      conn.p11.C_SignInit(s, { mechanism: this.requireVendor('SM2_SIGN') }, objects.handle(s, name, pkcs11js.CKO_PRIVATE_KEY));
      return Buffer.from(conn.p11.C_Sign(s, e, Buffer.alloc(128)));
    });
  }

  /** SM2 decryption of a raw C1 ‖ C3 ‖ C2 ciphertext (C1 = 04 ‖ x ‖ y). The caller wipes the result. */
  async sm2Decrypt(name: ObjectName, c1c3c2: Buffer): Promise<Buffer> {
    const { conn, objects } = this.t;
    const out = await conn.run('SM2 decrypt', 'decrypt', (s) => {
      conn.p11.C_DecryptInit(s, { mechanism: this.requireVendor('SM2_ENCRYPT') }, objects.handle(s, name, pkcs11js.CKO_PRIVATE_KEY));
      return Buffer.from(conn.p11.C_Decrypt(s, c1c3c2, Buffer.alloc(c1c3c2.length)));
    });
    if (out.length === 0) throw new DecryptFailedError('SM2 decrypt: failed');
    return out;
  }

  /** Pure ML-DSA (empty context, the token's hedged randomness) over the message. */
  mlDsaSign(name: ObjectName, message: Buffer): Promise<Buffer> {
    const { conn, objects } = this.t;
    return conn.run('ML-DSA sign', 'other', () =>
      conn.withPoolSession(async (s) => {
        conn.p11.C_SignInit(s, { mechanism: PKCS11_3_2.CKM_ML_DSA }, objects.handle(s, name, pkcs11js.CKO_PRIVATE_KEY));
        return Buffer.from(await conn.p11.C_SignAsync(s, message, Buffer.alloc(4627)));
      }),
    );
  }
}
