import type { Token } from '../pkcs11/token.js';
import { DecryptFailedError } from '../pkcs11/errors.js';

// Whatever the service must keep outside the token (software-module SM2/SM4 keys, API
// secret keys) is sealed under the key-encryption key, an AES-256 token object that only
// encrypts and decrypts. Sealed blob, version 1:
//   'K' | 0x01 | KEK version (uint32 BE) | IV (12) | AES-256-GCM ciphertext ‖ tag (16)
// The AAD is the caller's context (what the secret is, whose it is), so a blob cannot be
// moved to another row and opened there.

const MAGIC = 0x4b;
const FORMAT = 1;
const HEADER = 2 + 4;
export const KEK_KEY_ID = 'kek';

export class Kek {
  constructor(
    private readonly token: Token,
    readonly version = 1,
  ) {}

  /** Create the KEK in the token when absent (setup and first start). */
  static async ensure(token: Token, version = 1): Promise<Kek> {
    const name = { keyId: KEK_KEY_ID, version };
    if (!(await token.exists(name))) await token.generate(name, { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
    return new Kek(token, version);
  }

  async seal(secret: Buffer, context: string): Promise<Buffer> {
    const header = Buffer.alloc(HEADER);
    header[0] = MAGIC;
    header[1] = FORMAT;
    header.writeUInt32BE(this.version, 2);
    const aad = Buffer.concat([header, Buffer.from(context, 'utf8')]);
    const { iv, ciphertext } = await this.token.aesGcmEncrypt({ keyId: KEK_KEY_ID, version: this.version }, secret, aad);
    return Buffer.concat([header, iv, ciphertext]);
  }

  /** The caller wipes the returned secret after use. */
  async open(blob: Buffer, context: string): Promise<Buffer> {
    if (blob.length < HEADER + 12 + 17 || blob[0] !== MAGIC || blob[1] !== FORMAT) throw new DecryptFailedError('sealed secret: unknown format');
    const header = blob.subarray(0, HEADER);
    const version = blob.readUInt32BE(2);
    const aad = Buffer.concat([header, Buffer.from(context, 'utf8')]);
    return this.token.aesGcmDecrypt({ keyId: KEK_KEY_ID, version }, blob.subarray(HEADER, HEADER + 12), blob.subarray(HEADER + 12), aad);
  }
}
