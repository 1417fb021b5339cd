import pkcs11js from 'pkcs11js';
import { InvalidInputError } from './errors.js';
import { PKCS11_3_2, SM2_EC_PARAMS } from './mechanisms.js';

// Complete templates for every object the service creates (docs/contract/token-facts.md#complete-templates:
// SoftHSM2's and NSS's defaults for a minimal AES template are SENSITIVE=false with every usage
// flag on). Every usage flag is written explicitly, true or false. No template is built anywhere
// else in the token layer.

export type Template = pkcs11js.Template;

/** A name in the token: service key id and version (version 0 = service-internal objects). */
export interface ObjectName {
  keyId: string;
  version: number;
}

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** Label and CKA_ID both encode the name: `hsmkms/<keyId>/v<version>`. */
export function labelOf(name: ObjectName): string {
  if (!NAME_RE.test(name.keyId)) throw new InvalidInputError(`bad token object key id "${name.keyId}"`);
  if (!Number.isInteger(name.version) || name.version < 0 || name.version > 0xffffffff) {
    throw new InvalidInputError(`bad token object version ${name.version}`);
  }
  return `hsmkms/${name.keyId}/v${name.version}`;
}

export function parseLabel(label: string): ObjectName | undefined {
  const m = /^hsmkms\/([A-Za-z0-9._-]{1,64})\/v(\d{1,10})$/.exec(label);
  if (!m) return undefined;
  return { keyId: m[1]!, version: Number(m[2]) };
}

export interface SecretUsage {
  encrypt?: boolean;
  decrypt?: boolean;
  wrap?: boolean;
  unwrap?: boolean;
  sign?: boolean;
  verify?: boolean;
}

export interface PairUsage {
  sign?: boolean;
  decrypt?: boolean;
  unwrap?: boolean;
}

function identity(name: ObjectName): Template {
  const label = labelOf(name);
  return [
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: Buffer.from(label, 'utf8') },
  ];
}

/**
 * A secret key that never leaves the token. `modifiable` is true only when the
 * profile lets the service keep session copies (C_CopyObject needs it on SoftHSM2);
 * PKCS#11 forbids turning SENSITIVE off or EXTRACTABLE on even then (v2.40 §4.4).
 */
export function secretKeyTemplate(
  name: ObjectName,
  keyType: 'AES' | 'GENERIC_SECRET',
  usage: SecretUsage,
  opts: { token: boolean; modifiable: boolean; valueLen?: number },
): Template {
  const t: Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyType === 'AES' ? pkcs11js.CKK_AES : pkcs11js.CKK_GENERIC_SECRET },
    { type: pkcs11js.CKA_TOKEN, value: opts.token },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_MODIFIABLE, value: opts.modifiable },
    { type: pkcs11js.CKA_ENCRYPT, value: !!usage.encrypt },
    { type: pkcs11js.CKA_DECRYPT, value: !!usage.decrypt },
    { type: pkcs11js.CKA_WRAP, value: !!usage.wrap },
    { type: pkcs11js.CKA_UNWRAP, value: !!usage.unwrap },
    { type: pkcs11js.CKA_SIGN, value: !!usage.sign },
    { type: pkcs11js.CKA_VERIFY, value: !!usage.verify },
    { type: pkcs11js.CKA_DERIVE, value: false },
    ...identity(name),
  ];
  if (opts.valueLen !== undefined) t.push({ type: pkcs11js.CKA_VALUE_LEN, value: opts.valueLen });
  return t;
}

/** A vendor key type number (SM2, SM4) in place of the standard one. */
type KeyType = 'RSA' | 'EC' | { vendor: number; like: 'EC' };

const keyTypeValue = (t: KeyType) => (typeof t === 'object' ? t.vendor : t === 'RSA' ? pkcs11js.CKK_RSA : pkcs11js.CKK_EC);
const family = (t: KeyType) => (typeof t === 'object' ? t.like : t);

export function publicKeyTemplate(name: ObjectName, keyType: KeyType, usage: PairUsage, extra: Template): Template {
  const rsa = family(keyType) === 'RSA';
  // A vendor SM2 public key encrypts (SM2 decryption keys); an EC one never does.
  const encrypts = rsa || typeof keyType === 'object';
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyTypeValue(keyType) },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_MODIFIABLE, value: false },
    { type: pkcs11js.CKA_VERIFY, value: !!usage.sign },
    { type: pkcs11js.CKA_ENCRYPT, value: encrypts && !!usage.decrypt },
    { type: pkcs11js.CKA_WRAP, value: rsa && !!usage.unwrap },
    { type: pkcs11js.CKA_DERIVE, value: false },
    ...identity(name),
    ...extra,
  ];
}

export function privateKeyTemplate(name: ObjectName, keyType: KeyType, usage: PairUsage): Template {
  const rsa = family(keyType) === 'RSA';
  const decrypts = rsa || typeof keyType === 'object';
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyTypeValue(keyType) },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_MODIFIABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: !!usage.sign },
    { type: pkcs11js.CKA_SIGN_RECOVER, value: false },
    // Raw RSA (CKM_RSA_X_509) for OAEP-SHA256 on tokens without it needs DECRYPT on an unwrap
    // key: the caller asks for both then, and only then.
    { type: pkcs11js.CKA_DECRYPT, value: decrypts && !!usage.decrypt },
    { type: pkcs11js.CKA_UNWRAP, value: rsa && !!usage.unwrap },
    { type: pkcs11js.CKA_DERIVE, value: false },
    ...identity(name),
  ];
}

/** A vendor SM2 key pair (CKK_SM2 from the profile, CKA_EC_PARAMS = sm2p256v1). */
export function sm2PairTemplates(name: ObjectName, keyType: number, usage: PairUsage): { pub: Template; priv: Template } {
  const t: KeyType = { vendor: keyType, like: 'EC' };
  return { pub: publicKeyTemplate(name, t, usage, [{ type: pkcs11js.CKA_EC_PARAMS, value: SM2_EC_PARAMS }]), priv: privateKeyTemplate(name, t, usage) };
}

/** A vendor SM4 key (CKK_SM4 from the profile), 16 bytes, otherwise as an AES key. */
export function sm4KeyTemplate(name: ObjectName, keyType: number): Template {
  return secretKeyTemplate(name, 'AES', { encrypt: true, decrypt: true }, { token: true, modifiable: false, valueLen: 16 }).map((a) =>
    a.type === pkcs11js.CKA_KEY_TYPE ? { type: pkcs11js.CKA_KEY_TYPE, value: keyType } : a,
  );
}

/** A PKCS#11 3.2 ML-DSA-65 key pair (CKK_ML_DSA, CKP_ML_DSA_65). */
export function mlDsaPairTemplates(name: ObjectName): { pub: Template; priv: Template } {
  const common: Template = [
    { type: pkcs11js.CKA_KEY_TYPE, value: PKCS11_3_2.CKK_ML_DSA },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_MODIFIABLE, value: false },
    ...identity(name),
  ];
  return {
    pub: [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      ...common,
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_VERIFY, value: true },
      { type: PKCS11_3_2.CKA_PARAMETER_SET, value: PKCS11_3_2.CKP_ML_DSA_65 },
    ],
    priv: [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      ...common,
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_DERIVE, value: false },
    ],
  };
}

/**
 * The short-lived session key BYOK unwraps imported material into: sensitive; extractable only
 * on the staging path, so that it can be wrapped under a token key to check its size. It dies
 * with the import.
 */
export function stagingKeyTemplate(extractable: boolean): Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: extractable },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_SIGN, value: false },
    { type: pkcs11js.CKA_VERIFY, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
  ];
}

/**
 * pkcs11js crashes the process on an attribute value of an unsupported type
 * (an object, a nested template: docs/contract/token-facts.md#validate-templates). Check before the addon.
 */
export function assertFlatTemplate(t: Template): Template {
  for (const attr of t) {
    const v = attr.value;
    if (!Number.isInteger(attr.type) || attr.type < 0) throw new InvalidInputError(`template: bad attribute type ${String(attr.type)}`);
    if (v === undefined || typeof v === 'boolean' || typeof v === 'string' || Buffer.isBuffer(v)) continue;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) continue;
    throw new InvalidInputError(`template: attribute 0x${attr.type.toString(16)} has a value of unsupported type`);
  }
  return t;
}
