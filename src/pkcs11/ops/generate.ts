import pkcs11js from 'pkcs11js';
import { vendorNumber } from '../capabilities.js';
import { InvalidInputError, MechanismUnsupportedError } from '../errors.js';
import { EC_PARAMS, PKCS11_3_2, type EcCurve } from '../mechanisms.js';
import {
  assertFlatTemplate,
  mlDsaPairTemplates,
  privateKeyTemplate,
  publicKeyTemplate,
  secretKeyTemplate,
  sm2PairTemplates,
  sm4KeyTemplate,
  type ObjectName,
  type PairUsage,
  type SecretUsage,
} from '../templates.js';
import type { AsymmetricOps } from './asymmetric.js';
import type { TokenContext } from './context.js';

// Key generation: one entry point for every kind of key the service makes in the token. Each
// kind is a complete template (templates.ts) and a mechanism; creation goes through the object
// store's one create path (existence check, serialisation, retry).

export type RsaBits = 2048 | 3072 | 4096;

export type GenerateSpec =
  | { kind: 'aes'; bits: 128 | 256; usage: SecretUsage }
  /** A generic secret for HMAC-SHA256 (sign and verify only). */
  | { kind: 'hmac'; bytes: 32 }
  | { kind: 'rsa'; bits: RsaBits; usage: PairUsage }
  | { kind: 'ec'; curve: EcCurve; usage: PairUsage }
  /** Vendor SM4 (CKK_SM4 from the profile), for encryption. */
  | { kind: 'sm4' }
  /** Vendor SM2 (CKK_SM2 from the profile). */
  | { kind: 'sm2'; usage: PairUsage }
  /** PKCS#11 3.2 ML-DSA-65. */
  | { kind: 'ml-dsa-65' };

export interface GeneratedKey {
  /** SM2: the uncompressed point 04 ‖ x ‖ y; ML-DSA-65: the 1952-byte public key. Otherwise absent (read it with exportPublicKey). */
  publicKey?: Buffer;
}

export interface GenerateOptions {
  /** The caller vouches the name is new (a random UUID): the existence check, a linear scan of the token, is skipped. */
  freshName?: boolean;
}

const RSA_BITS: readonly number[] = [2048, 3072, 4096];

export class KeyGenerator {
  constructor(
    private readonly t: TokenContext,
    private readonly asymmetric: AsymmetricOps,
  ) {}

  private vendor(name: string): number {
    const n = vendorNumber(this.t.profile, name);
    if (n === undefined) throw new MechanismUnsupportedError(`the token profile declares no ${name}`);
    return n;
  }

  async generate(name: ObjectName, spec: GenerateSpec, opts: GenerateOptions = {}): Promise<GeneratedKey> {
    const { conn, objects } = this.t;
    const p11 = conn.p11;
    const secret = (mechanism: number, template: pkcs11js.Template, operation: string) =>
      objects.create(operation, name, (s) => p11.C_GenerateKeyAsync(s, { mechanism }, assertFlatTemplate(template)), opts);
    const pair = (mechanism: number, pub: pkcs11js.Template, priv: pkcs11js.Template, operation: string) =>
      objects.create(operation, name, (s) => p11.C_GenerateKeyPairAsync(s, { mechanism }, assertFlatTemplate(pub), assertFlatTemplate(priv)), opts);
    switch (spec.kind) {
      case 'aes':
        await secret(
          pkcs11js.CKM_AES_KEY_GEN,
          secretKeyTemplate(name, 'AES', spec.usage, { token: true, modifiable: objects.copiesEnabled, valueLen: spec.bits / 8 }),
          'generate AES key',
        );
        return {};
      case 'hmac':
        await secret(
          pkcs11js.CKM_GENERIC_SECRET_KEY_GEN,
          secretKeyTemplate(name, 'GENERIC_SECRET', { sign: true, verify: true }, { token: true, modifiable: false, valueLen: spec.bytes }),
          'generate HMAC key',
        );
        return {};
      case 'rsa': {
        // 0.2–0.8 s on SoftHSM2: the async call keeps the event loop free.
        if (!RSA_BITS.includes(spec.bits)) throw new InvalidInputError(`RSA key size ${spec.bits} not supported`);
        const pub = publicKeyTemplate(name, 'RSA', spec.usage, [
          { type: pkcs11js.CKA_MODULUS_BITS, value: spec.bits },
          { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
        ]);
        await pair(pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN, pub, privateKeyTemplate(name, 'RSA', spec.usage), 'generate RSA key pair');
        return {};
      }
      case 'ec': {
        const params = EC_PARAMS[spec.curve];
        if (!params) throw new InvalidInputError(`EC curve ${String(spec.curve)} not supported`);
        await pair(
          pkcs11js.CKM_EC_KEY_PAIR_GEN,
          publicKeyTemplate(name, 'EC', spec.usage, [{ type: pkcs11js.CKA_EC_PARAMS, value: params }]),
          privateKeyTemplate(name, 'EC', spec.usage),
          'generate EC key pair',
        );
        return {};
      }
      case 'sm4':
        await secret(this.vendor('SM4_KEY_GEN'), sm4KeyTemplate(name, this.vendor('CKK_SM4')), 'generate SM4 key');
        return {};
      case 'sm2': {
        const t = sm2PairTemplates(name, this.vendor('CKK_SM2'), spec.usage);
        await pair(this.vendor('SM2_KEY_PAIR_GEN'), t.pub, t.priv, 'generate SM2 key pair');
        const point = await this.asymmetric.publicValue(name, 'ec-point');
        if (point.length !== 65 || point[0] !== 0x04) throw new InvalidInputError('SM2 public key is not an uncompressed point');
        return { publicKey: point };
      }
      case 'ml-dsa-65': {
        const t = mlDsaPairTemplates(name);
        await pair(PKCS11_3_2.CKM_ML_DSA_KEY_PAIR_GEN, t.pub, t.priv, 'generate ML-DSA key pair');
        const raw = await this.asymmetric.publicValue(name, 'value');
        if (raw.length !== 1952) throw new InvalidInputError(`ML-DSA-65 public key must be 1952 bytes, the token gave ${raw.length}`);
        return { publicKey: raw };
      }
    }
  }
}
