import { timingSafeEqual } from 'node:crypto';
import { DecryptFailedError } from '../pkcs11/errors.js';
import type { TokenCapabilities } from '../pkcs11/capabilities.js';
import type { Token } from '../pkcs11/token.js';
import type { ObjectName } from '../pkcs11/templates.js';

// Whatever the service must keep outside the token (software-module SM2/SM4 keys, API secret
// keys, white-box keys) is sealed under the key-encryption key: token objects that only encrypt,
// decrypt and MAC. The scheme is chosen from what the token offers, in the profile's order
// (docs/hsm.md "Service keys"), and every sealed blob names its own scheme, so what was sealed
// under one still opens after a change:
//
//   scheme 1, aes-gcm:             'K' | 0x01 | KEK version (uint32 BE) | IV (12) | AES-256-GCM ciphertext ‖ tag (16)
//                                  AAD = the 6-byte header ‖ context
//   scheme 2, aes-cbc-hmac-sha256: 'K' | 0x02 | KEK version (uint32 BE) | IV (16) | AES-256-CBC-PAD ciphertext | MAC (32)
//                                  MAC = HMAC-SHA256(kek-mac, header ‖ IV ‖ ciphertext ‖ len(context) (uint32 BE) ‖ context),
//                                  checked before anything is decrypted (encrypt-then-MAC)
//
// The context says what the secret is and whose it is, so a blob cannot be moved to another row
// and opened there. Both schemes use the AES key `kek`; scheme 2 adds the generic secret `kek-mac`.

export const KEK_KEY_ID = 'kek';
export const KEK_MAC_KEY_ID = 'kek-mac';

export const KEK_SCHEMES = ['aes-gcm', 'aes-cbc-hmac-sha256'] as const;
export type KekScheme = (typeof KEK_SCHEMES)[number];

const MAGIC = 0x4b;
const FORMAT: Record<KekScheme, number> = { 'aes-gcm': 1, 'aes-cbc-hmac-sha256': 2 };
const HEADER = 2 + 4;
const MAC_BYTES = 32;

const kekName = (version: number): ObjectName => ({ keyId: KEK_KEY_ID, version });
const macName = (version: number): ObjectName => ({ keyId: KEK_MAC_KEY_ID, version });

/** The mechanisms each scheme needs, each with whether the token offers it. */
export function kekSchemeNeeds(scheme: KekScheme, caps: TokenCapabilities): Array<readonly [boolean, string]> {
  const aes = [[caps.aes.generate, 'CKM_AES_KEY_GEN']] as const;
  return scheme === 'aes-gcm'
    ? [...aes, [caps.aes.gcm, 'CKM_AES_GCM']]
    : [...aes, [caps.aes.cbcPad, 'CKM_AES_CBC_PAD'], [caps.hmacSha256, 'CKM_SHA256_HMAC'], [caps.hmacSha256, 'CKM_GENERIC_SECRET_KEY_GEN']];
}

const offers = (scheme: KekScheme, caps: TokenCapabilities) => kekSchemeNeeds(scheme, caps).every(([ok]) => ok);

/** The first scheme in `order` the token offers, or undefined (then `missing` names what the first preference lacks). */
export function chooseKekScheme(caps: TokenCapabilities, order: readonly KekScheme[]): { scheme: KekScheme | undefined; missing: string[] } {
  const scheme = order.find((s) => offers(s, caps));
  if (scheme) return { scheme, missing: [] };
  return {
    scheme: undefined,
    missing: [
      ...new Set(
        order.flatMap((s) =>
          kekSchemeNeeds(s, caps)
            .filter(([ok]) => !ok)
            .map(([, n]) => n),
        ),
      ),
    ],
  };
}

function header(scheme: KekScheme, version: number): Buffer {
  const h = Buffer.alloc(HEADER);
  h[0] = MAGIC;
  h[1] = FORMAT[scheme];
  h.writeUInt32BE(version, 2);
  return h;
}

function macInput(head: Buffer, iv: Buffer, ciphertext: Buffer, context: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(context.length, 0);
  return Buffer.concat([head, iv, ciphertext, len, context]);
}

export class Kek {
  constructor(
    private readonly token: Token,
    /** The scheme new seals use. */
    readonly scheme: KekScheme = 'aes-gcm',
    readonly version = 1,
  ) {}

  /** Whether the KEK's token objects for `scheme` exist (the usual start: nothing to make). */
  static async exists(token: Token, scheme: KekScheme, version = 1): Promise<boolean> {
    if (!(await token.exists(kekName(version)))) return false;
    return scheme === 'aes-gcm' || (await token.exists(macName(version)));
  }

  /** Create the KEK's token objects for `scheme` when absent (`token init`, first start). */
  static async ensure(token: Token, scheme: KekScheme, version = 1): Promise<Kek> {
    if (!(await token.exists(kekName(version)))) await token.generate(kekName(version), { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
    if (scheme === 'aes-cbc-hmac-sha256' && !(await token.exists(macName(version)))) await token.generate(macName(version), { kind: 'hmac', bytes: 32 });
    return new Kek(token, scheme, version);
  }

  async seal(secret: Buffer, context: string): Promise<Buffer> {
    const head = header(this.scheme, this.version);
    const ctx = Buffer.from(context, 'utf8');
    if (this.scheme === 'aes-gcm') {
      const { iv, ciphertext } = await this.token.aesGcmEncrypt(kekName(this.version), secret, Buffer.concat([head, ctx]));
      return Buffer.concat([head, iv, ciphertext]);
    }
    const iv = await this.token.random(16);
    const ciphertext = await this.token.aesCbcPadEncrypt(kekName(this.version), iv, secret);
    const mac = await this.token.hmacSha256(macName(this.version), macInput(head, iv, ciphertext, ctx));
    return Buffer.concat([head, iv, ciphertext, mac]);
  }

  /** The caller wipes the returned secret after use. Every failure is the same DecryptFailedError. */
  async open(blob: Buffer, context: string): Promise<Buffer> {
    if (blob.length < HEADER || blob[0] !== MAGIC) throw new DecryptFailedError('sealed secret: unknown format');
    const head = blob.subarray(0, HEADER);
    const version = blob.readUInt32BE(2);
    const ctx = Buffer.from(context, 'utf8');
    if (blob[1] === FORMAT['aes-gcm']) {
      if (blob.length < HEADER + 12 + 17) throw new DecryptFailedError('sealed secret: unknown format');
      return this.token.aesGcmDecrypt(kekName(version), blob.subarray(HEADER, HEADER + 12), blob.subarray(HEADER + 12), Buffer.concat([head, ctx]));
    }
    if (blob[1] === FORMAT['aes-cbc-hmac-sha256']) {
      const body = blob.length - HEADER - 16 - MAC_BYTES;
      if (body < 16 || body % 16 !== 0) throw new DecryptFailedError('sealed secret: unknown format');
      const iv = blob.subarray(HEADER, HEADER + 16);
      const ciphertext = blob.subarray(HEADER + 16, HEADER + 16 + body);
      const mac = blob.subarray(HEADER + 16 + body);
      const expected = await this.token.hmacSha256(macName(version), macInput(head, iv, ciphertext, ctx));
      if (!timingSafeEqual(expected, mac)) throw new DecryptFailedError('sealed secret: failed');
      return this.token.aesCbcPadDecrypt(kekName(version), iv, ciphertext);
    }
    throw new DecryptFailedError('sealed secret: unknown format');
  }
}
