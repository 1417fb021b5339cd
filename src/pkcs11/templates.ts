import pkcs11js from 'pkcs11js';
import { InvalidInputError } from './errors.js';

// Complete templates for every object the service creates (hsm-notes.md must-know 2:
// SoftHSM2's defaults for a minimal AES template are SENSITIVE=false with every usage
// flag on). Every usage flag is written explicitly, true or false.

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
export function secretKeyTemplate(name: ObjectName, keyType: 'AES' | 'GENERIC_SECRET', usage: SecretUsage, opts: { token: boolean; modifiable: boolean; valueLen?: number }): Template {
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

export function publicKeyTemplate(name: ObjectName, keyType: 'RSA' | 'EC', usage: PairUsage, extra: Template): Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyType === 'RSA' ? pkcs11js.CKK_RSA : pkcs11js.CKK_EC },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_MODIFIABLE, value: false },
    { type: pkcs11js.CKA_VERIFY, value: !!usage.sign },
    { type: pkcs11js.CKA_ENCRYPT, value: keyType === 'RSA' && !!usage.decrypt },
    { type: pkcs11js.CKA_WRAP, value: keyType === 'RSA' && !!usage.unwrap },
    { type: pkcs11js.CKA_DERIVE, value: false },
    ...identity(name),
    ...extra,
  ];
}

export function privateKeyTemplate(name: ObjectName, keyType: 'RSA' | 'EC', usage: PairUsage): Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyType === 'RSA' ? pkcs11js.CKK_RSA : pkcs11js.CKK_EC },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_MODIFIABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: !!usage.sign },
    { type: pkcs11js.CKA_SIGN_RECOVER, value: false },
    // Raw RSA (CKM_RSA_X_509) for OAEP-SHA256 on tokens without it needs DECRYPT on an unwrap
    // key: the caller asks for both then, and only then.
    { type: pkcs11js.CKA_DECRYPT, value: keyType === 'RSA' && !!usage.decrypt },
    { type: pkcs11js.CKA_UNWRAP, value: keyType === 'RSA' && !!usage.unwrap },
    { type: pkcs11js.CKA_DERIVE, value: false },
    ...identity(name),
  ];
}

/**
 * pkcs11js crashes the process on an attribute value of an unsupported type
 * (an object, a nested template: hsm-notes.md must-know 3). Check before the addon.
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
