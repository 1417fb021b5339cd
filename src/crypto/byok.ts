import { constants, createCipheriv, publicEncrypt, timingSafeEqual } from 'node:crypto';
import { StagingRefusedError, type FingerprintMac, type ImportPath, type Token, type TokenObjectInfo } from '../pkcs11/token.js';
import type { ObjectName } from '../pkcs11/templates.js';
import { MaterialMismatchError, MaterialSizeError, MechanismUnsupportedError } from '../pkcs11/errors.js';
import type { Kek } from './kek.js';
import { materialContext } from './key-material.js';

// The token side of bring-your-own-key (docs/byok.md): wrapping key pairs made in the token, and
// imported material brought in without being kept anywhere but the token (AES) or sealed under
// the KEK (SM4). Paths, by region standard and wrapping algorithm:
// - FIPS, RSAES_PKCS1_V1_5 / RSAES_OAEP_SHA_1 (and OAEP_SHA_256 on a token that has it):
//   C_UnwrapKey in the token; the material is never in this process (Token.importAesKey).
// - FIPS, RSAES_OAEP_SHA_256 on a token without it (SoftHSM2): raw RSA in the token, OAEP
//   decoded here, the 32 bytes re-encrypted at once to the same wrapping public key with
//   OAEP-SHA1 and wiped, then the in-token path. The material is in memory for microseconds.
// - SM regions: SM4 material lives in the software module anyway: RSA decryption in the token,
//   the 16 bytes sealed under the KEK and wiped.
// Re-import must be the same material: a keyed fingerprint (AES-CMAC, or HMAC-SHA256 on tokens
// without CMAC, under a token key, of the material's key check value and the key id) is kept,
// never the material; the stored fingerprint names its MAC (`hmac-sha256:` prefix; none = CMAC).
// How the FIPS path checks the material follows the token (pkcs11/ops/import.ts): wrapped under a
// staging key where the token has AES key wrap and allows an extractable session key, else a
// non-extractable session key whose reported length and AES-ECB check it.
// Failures: DecryptFailedError (the material does not unwrap), MaterialSizeError (wrong size),
// MaterialMismatchError (not the material imported before).

export type WrapScheme = 'pkcs1' | 'oaep-sha1' | 'oaep-sha256';

const STAGING_KEY: ObjectName = { keyId: 'import-staging', version: 1 };
const FINGERPRINT_KEYS: Record<FingerprintMac, ObjectName> = { cmac: { keyId: 'import-fingerprint', version: 1 }, 'hmac-sha256': { keyId: 'import-fingerprint-hmac', version: 1 } };
const HMAC_TAG = 'hmac-sha256:';

/** A stored fingerprint: its MAC and bytes. */
function parseFingerprint(stored: string): { mac: FingerprintMac; bytes: Buffer } {
  return stored.startsWith(HMAC_TAG) ? { mac: 'hmac-sha256', bytes: Buffer.from(stored.slice(HMAC_TAG.length), 'hex') } : { mac: 'cmac', bytes: Buffer.from(stored, 'hex') };
}
const formatFingerprint = (mac: FingerprintMac, bytes: Buffer) => (mac === 'cmac' ? bytes.toString('hex') : `${HMAC_TAG}${bytes.toString('hex')}`);
const WRAP_PREFIX = 'wrap-';

const pairName = (importId: string): ObjectName => ({ keyId: `${WRAP_PREFIX}${importId}`, version: 0 });
const fingerprintContext = (keyId: string) => Buffer.from(`hsmkms-byok-fingerprint-v1:${keyId}:`, 'utf8');
const UNWRAP = { pkcs1: 'rsa-pkcs1', 'oaep-sha1': 'rsa-oaep-sha1', 'oaep-sha256': 'rsa-oaep-sha256' } as const;

export interface ImportedMaterial {
  /** The keyed fingerprint to keep, naming its MAC. */
  fingerprint: string;
  /** A token object was made for the key (FIPS, first import). */
  created: boolean;
  /** SM4 material sealed under the KEK (SM, first import). */
  sealed?: Buffer;
}

export class ByokEngine {
  private internalKeys: Promise<void> | undefined;

  constructor(
    private readonly token: Token,
    private readonly kek: Kek,
  ) {}

  /** Whether the token unwraps OAEP-SHA256 itself; otherwise the raw-RSA path. */
  private get nativeOaepSha256(): boolean {
    return this.token.capabilities.rsa.oaepSha256;
  }

  /** The fingerprint MAC this token offers: AES-CMAC, else HMAC-SHA256. */
  private fingerprintMac(): FingerprintMac {
    const caps = this.token.capabilities;
    if (caps.aes.cmac) return 'cmac';
    if (caps.hmacSha256) return 'hmac-sha256';
    throw new MechanismUnsupportedError('this token offers neither CKM_AES_CMAC nor CKM_SHA256_HMAC for BYOK fingerprints');
  }

  /** The FIPS path's check of unwrapped material (see above). */
  private importPath(): ImportPath {
    const caps = this.token.capabilities;
    return caps.aes.keyWrap && caps.aes.ecb && this.stagingAllowed ? 'staging' : 'direct';
  }

  /** False once the token refused an extractable staging key (then every import takes the direct path). */
  private stagingAllowed = true;

  private ensureInternalKeys(): Promise<void> {
    this.internalKeys ??= (async () => {
      const mac = this.fingerprintMac();
      const fp = FINGERPRINT_KEYS[mac];
      if (this.importPath() === 'staging' && !(await this.token.exists(STAGING_KEY)))
        await this.token.generate(STAGING_KEY, { kind: 'aes', bits: 256, usage: { wrap: true, unwrap: true } });
      if (!(await this.token.exists(fp))) await this.token.generate(fp, mac === 'cmac' ? { kind: 'aes', bits: 256, usage: { sign: true } } : { kind: 'hmac', bytes: 32 });
    })().catch((err) => {
      this.internalKeys = undefined;
      throw err;
    });
    return this.internalKeys;
  }

  /** A keyed fingerprint of a key check value, with the given MAC (or the token's). */
  private async fingerprintOf(context: Buffer, kcv: Buffer, mac: FingerprintMac): Promise<Buffer> {
    const data = Buffer.concat([context, kcv]);
    return mac === 'cmac' ? this.token.cmac(FINGERPRINT_KEYS.cmac, data) : this.token.hmacSha256(FINGERPRINT_KEYS['hmac-sha256'], data);
  }

  /** A new RSA-2048 wrapping pair in the token for one set of import parameters; answers its SubjectPublicKeyInfo (DER). */
  async createWrappingPair(importId: string, standard: 'FIPS' | 'SM', scheme: WrapScheme): Promise<Buffer> {
    await this.ensureInternalKeys();
    // SM: the material goes to the software module (decrypt); raw RSA needs decrypt beside unwrap.
    const usage = standard === 'SM' ? { decrypt: true } : scheme === 'oaep-sha256' && !this.nativeOaepSha256 ? { unwrap: true, decrypt: true } : { unwrap: true };
    await this.token.generate(pairName(importId), { kind: 'rsa', bits: 2048, usage });
    return (await this.token.exportPublicKey(pairName(importId))).der;
  }

  async destroyWrappingPair(importId: string): Promise<void> {
    await this.token.destroy(pairName(importId));
  }

  /** The import ids of the wrapping pairs among listed token objects. */
  wrappingPairs(objects: readonly TokenObjectInfo[]): string[] {
    return [...new Set(objects.filter((o) => o.name.keyId.startsWith(WRAP_PREFIX)).map((o) => o.name.keyId.slice(WRAP_PREFIX.length)))];
  }

  /**
   * Unwrap `encrypted` with the parameters' pair, check its size and (re-import) its
   * fingerprint, and — on a first import — keep it: an AES token object named key id / v1
   * (FIPS), or the SM4 key sealed under the KEK (SM).
   */
  async importMaterial(p: {
    importId: string;
    standard: 'FIPS' | 'SM';
    scheme: WrapScheme;
    encrypted: Buffer;
    keyId: string;
    expectFingerprint?: string;
    hasMaterial: boolean;
  }): Promise<ImportedMaterial> {
    await this.ensureInternalKeys();
    const pair = pairName(p.importId);
    const context = fingerprintContext(p.keyId);
    // A re-import is checked with the MAC its first import was fingerprinted with.
    const expected = p.expectFingerprint === undefined ? undefined : parseFingerprint(p.expectFingerprint);
    const mac = expected?.mac ?? this.fingerprintMac();
    const mismatch = () => new MaterialMismatchError('the key material differs from the material imported before into this key');
    if (p.standard === 'SM') {
      const material = await this.token.rsaDecrypt(pair, p.encrypted, p.scheme);
      try {
        if (material.length !== 16) throw new MaterialSizeError('key material must be 128 bits (16 bytes) for SM4 keys in SM regions');
        const fingerprint = await this.fingerprintOf(context, sm4Kcv(material), mac);
        if (expected && (expected.bytes.length !== fingerprint.length || !timingSafeEqual(expected.bytes, fingerprint))) throw mismatch();
        const sealed = p.hasMaterial ? undefined : await this.kek.seal(material, materialContext(p.keyId, 1));
        return { fingerprint: formatFingerprint(mac, fingerprint), created: false, sealed };
      } finally {
        material.fill(0);
      }
    }
    let scheme: WrapScheme = p.scheme;
    let wrapped = p.encrypted;
    if (scheme === 'oaep-sha256' && !this.nativeOaepSha256) {
      const material = await this.token.rsaDecrypt(pair, p.encrypted, 'oaep-sha256');
      try {
        if (material.length !== 32) throw new MaterialSizeError('key material must be 256 bits (32 bytes) for AES keys in FIPS regions');
        const { keyObject } = await this.token.exportPublicKey(pair);
        wrapped = publicEncrypt({ key: keyObject, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, material);
        scheme = 'oaep-sha1';
      } finally {
        material.fill(0);
      }
    }
    const request = {
      unwrapper: pair,
      scheme: UNWRAP[scheme],
      wrapped,
      bytes: 32 as const,
      staging: STAGING_KEY,
      fingerprint: { key: FINGERPRINT_KEYS[mac], mac, context },
      expectFingerprint: expected?.bytes,
      // Material already present (re-import to set a new ValidTo): checked, not replaced.
      target: p.hasMaterial ? undefined : { name: { keyId: p.keyId, version: 1 }, usage: { encrypt: true, decrypt: true } },
    };
    let fingerprint: Buffer;
    try {
      fingerprint = await this.token.importAesKey({ ...request, path: this.importPath() });
    } catch (err) {
      if (!(err instanceof StagingRefusedError)) throw err;
      // The token will not make an extractable session key (a FIPS-mode HSM, openCryptoki).
      this.stagingAllowed = false;
      fingerprint = await this.token.importAesKey({ ...request, path: 'direct' });
    }
    return { fingerprint: formatFingerprint(mac, fingerprint), created: !p.hasMaterial };
  }
}

/** SM4 key check value: SM4-ECB of a zero block (Node's OpenSSL). */
function sm4Kcv(key: Buffer): Buffer {
  const c = createCipheriv('sm4-ecb', key, null).setAutoPadding(false);
  return Buffer.concat([c.update(Buffer.alloc(16)), c.final()]);
}
