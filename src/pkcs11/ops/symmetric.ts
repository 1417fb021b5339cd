import pkcs11js from 'pkcs11js';
import { MechanismUnsupportedError, DecryptFailedError, InvalidInputError } from '../errors.js';
import { vendorNumber } from '../capabilities.js';
import { gcm, GCM_IV_BYTES, GCM_TAG_BYTES, gcmTokenIv } from '../mechanisms.js';
import type { ObjectName } from '../templates.js';
import type { TokenContext } from './context.js';

// Symmetric operations in the token: AES-GCM (CMKs, the KEK), vendor SM4-GCM, AES-CMAC, and
// the token's random generator.

export interface GcmResult {
  iv: Buffer;
  /** ciphertext ‖ 16-byte tag, as PKCS#11 and Node's aes-256-gcm lay it out */
  ciphertext: Buffer;
}

const IV_POOL_BYTES = GCM_IV_BYTES * 512;

export class SymmetricOps {
  private ivPool: Buffer = Buffer.alloc(0);
  private ivOffset = 0;

  constructor(private readonly t: TokenContext) {}

  /** 96-bit IVs from the token's RNG, fetched in batches so one C_GenerateRandom serves many. */
  private nextIv(s: Buffer): Buffer {
    if (this.ivOffset + GCM_IV_BYTES > this.ivPool.length) {
      this.ivPool = this.t.conn.p11.C_GenerateRandom(s, Buffer.alloc(IV_POOL_BYTES));
      this.ivOffset = 0;
    }
    // A view, not a copy: every refill allocates a new pool, so no IV is ever overwritten.
    const iv = this.ivPool.subarray(this.ivOffset, this.ivOffset + GCM_IV_BYTES);
    this.ivOffset += GCM_IV_BYTES;
    return iv;
  }

  /**
   * AES-GCM in the token with a fresh 96-bit IV; returns the IV and ciphertext ‖ tag. The IV comes
   * from `ivFrom` (default: the profile's `gcmIv`): 'service' draws it from the token's RNG and
   * passes it in; 'token' asks the token for one (gcmTokenIv) and takes the 12 bytes it appends
   * after the tag. A token that appends none encrypted under no IV of its own (SoftHSM2 accepts an
   * empty IV): that output is wiped and the call fails, so nothing sealed so leaves.
   */
  aesGcmEncrypt(name: ObjectName, plaintext: Buffer, aad?: Buffer, ivFrom: 'service' | 'token' = this.t.profile.gcmIv ?? 'service'): Promise<GcmResult> {
    // An empty plaintext fails in SoftHSM2 and leaves the operation active on the session.
    if (plaintext.length === 0) return Promise.reject(new InvalidInputError('AES-GCM plaintext must not be empty'));
    const { conn, objects } = this.t;
    return conn.run('AES-GCM encrypt', 'other', (s) => {
      const key = objects.secretHandle(s, name);
      if (ivFrom === 'token') {
        conn.p11.C_EncryptInit(s, gcmTokenIv(aad), key);
        // Room for a 16-byte IV too (older Luna firmware), to tell it apart from none.
        const out = conn.p11.C_Encrypt(s, plaintext, Buffer.alloc(plaintext.length + GCM_TAG_BYTES + 16));
        const extra = out.length - plaintext.length - GCM_TAG_BYTES;
        if (extra !== GCM_IV_BYTES) {
          out.fill(0);
          throw new MechanismUnsupportedError(
            extra === 0
              ? 'AES-GCM encrypt: the token generated no IV (it encrypts under the IV it is given); use a caller-supplied IV (profile gcmIv "service", KEK scheme aes-gcm)'
              : `AES-GCM encrypt: the token appended a ${extra}-byte IV; only a 96-bit one is supported`,
          );
        }
        return { iv: Buffer.from(out.subarray(out.length - GCM_IV_BYTES)), ciphertext: out.subarray(0, out.length - GCM_IV_BYTES) };
      }
      const iv = this.nextIv(s);
      conn.p11.C_EncryptInit(s, gcm(iv, aad), key);
      // allocUnsafe: C_Encrypt fills all length + 16 bytes of it; it returns a view of that fresh buffer.
      return { iv, ciphertext: conn.p11.C_Encrypt(s, plaintext, Buffer.allocUnsafe(plaintext.length + GCM_TAG_BYTES)) };
    });
  }

  /** Fails with DecryptFailedError, and nothing else, when the tag, AAD or key is wrong. */
  aesGcmDecrypt(name: ObjectName, iv: Buffer, ciphertext: Buffer, aad?: Buffer): Promise<Buffer> {
    if (ciphertext.length <= GCM_TAG_BYTES) return Promise.reject(new DecryptFailedError('AES-GCM decrypt: failed'));
    const { conn, objects } = this.t;
    return conn.run('AES-GCM decrypt', 'decrypt', (s) => {
      const key = objects.secretHandle(s, name);
      conn.p11.C_DecryptInit(s, gcm(iv, aad), key);
      return conn.p11.C_Decrypt(s, ciphertext, Buffer.alloc(ciphertext.length));
    });
  }

  private requireVendor(name: string): number {
    const n = vendorNumber(this.t.profile, name);
    if (n === undefined) throw new MechanismUnsupportedError(`the token profile declares no ${name}`);
    return n;
  }

  /** SM4-GCM (RFC 8998) with a vendor mechanism, GCM parameters as for AES; output ciphertext ‖ tag. */
  sm4GcmEncrypt(name: ObjectName, plaintext: Buffer, aad: Buffer): Promise<GcmResult> {
    if (plaintext.length === 0) return Promise.reject(new InvalidInputError('SM4-GCM plaintext must not be empty'));
    const { conn, objects } = this.t;
    return conn.run('SM4-GCM encrypt', 'other', (s) => {
      const mechanism = this.requireVendor('SM4_GCM');
      const iv = this.nextIv(s);
      conn.p11.C_EncryptInit(s, gcm(iv, aad, mechanism), objects.handle(s, name, pkcs11js.CKO_SECRET_KEY));
      return { iv, ciphertext: conn.p11.C_Encrypt(s, plaintext, Buffer.allocUnsafe(plaintext.length + GCM_TAG_BYTES)) };
    });
  }

  sm4GcmDecrypt(name: ObjectName, iv: Buffer, ciphertext: Buffer, aad: Buffer): Promise<Buffer> {
    if (ciphertext.length <= GCM_TAG_BYTES) return Promise.reject(new DecryptFailedError('SM4-GCM decrypt: failed'));
    const { conn, objects } = this.t;
    return conn.run('SM4-GCM decrypt', 'decrypt', (s) => {
      const mechanism = this.requireVendor('SM4_GCM');
      conn.p11.C_DecryptInit(s, gcm(iv, aad, mechanism), objects.handle(s, name, pkcs11js.CKO_SECRET_KEY));
      return conn.p11.C_Decrypt(s, ciphertext, Buffer.alloc(ciphertext.length));
    });
  }

  /**
   * AES-CBC with PKCS#7 padding (the KEK's scheme on tokens without GCM). openCryptoki does not
   * check the padding when it decrypts: callers authenticate the ciphertext first.
   */
  aesCbcPadEncrypt(name: ObjectName, iv: Buffer, plaintext: Buffer): Promise<Buffer> {
    if (iv.length !== 16) return Promise.reject(new InvalidInputError('AES-CBC IV must be 16 bytes'));
    const { conn, objects } = this.t;
    return conn.run('AES-CBC encrypt', 'other', (s) => {
      conn.p11.C_EncryptInit(s, { mechanism: pkcs11js.CKM_AES_CBC_PAD, parameter: iv }, objects.secretHandle(s, name));
      return Buffer.from(conn.p11.C_Encrypt(s, plaintext, Buffer.alloc(plaintext.length + 16)));
    });
  }

  aesCbcPadDecrypt(name: ObjectName, iv: Buffer, ciphertext: Buffer): Promise<Buffer> {
    if (iv.length !== 16 || ciphertext.length === 0 || ciphertext.length % 16 !== 0) return Promise.reject(new DecryptFailedError('AES-CBC decrypt: failed'));
    const { conn, objects } = this.t;
    return conn.run('AES-CBC decrypt', 'decrypt', (s) => {
      conn.p11.C_DecryptInit(s, { mechanism: pkcs11js.CKM_AES_CBC_PAD, parameter: iv }, objects.secretHandle(s, name));
      return Buffer.from(conn.p11.C_Decrypt(s, ciphertext, Buffer.alloc(ciphertext.length)));
    });
  }

  /**
   * HMAC-SHA256 (32 bytes) under a token generic-secret key. Compared by the caller, never with
   * C_Verify: openCryptoki's C_Verify accepts any prefix of the MAC.
   */
  hmacSha256(name: ObjectName, data: Buffer): Promise<Buffer> {
    const { conn, objects } = this.t;
    return conn.run('HMAC-SHA256', 'other', (s) => {
      conn.p11.C_SignInit(s, { mechanism: pkcs11js.CKM_SHA256_HMAC }, objects.handle(s, name, pkcs11js.CKO_SECRET_KEY));
      return Buffer.from(conn.p11.C_Sign(s, data, Buffer.alloc(32)));
    });
  }

  /** AES-CMAC (16 bytes) of data under a token AES key with CKA_SIGN (keyed fingerprints). */
  cmac(name: ObjectName, data: Buffer): Promise<Buffer> {
    const { conn, objects } = this.t;
    return conn.run('AES-CMAC', 'other', (s) => {
      conn.p11.C_SignInit(s, { mechanism: pkcs11js.CKM_AES_CMAC }, objects.handle(s, name, pkcs11js.CKO_SECRET_KEY));
      return Buffer.from(conn.p11.C_Sign(s, data, Buffer.alloc(16)));
    });
  }

  random(bytes: number): Promise<Buffer> {
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > 65536) return Promise.reject(new InvalidInputError('random: 1 to 65536 bytes'));
    const { conn } = this.t;
    return conn.run('generate random', 'other', (s) => Buffer.from(conn.p11.C_GenerateRandom(s, Buffer.alloc(bytes))));
  }
}
