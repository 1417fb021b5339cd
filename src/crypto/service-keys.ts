import { constants, createHash, randomBytes, verify as nodeVerify, type KeyObject } from 'node:crypto';
import type { TokenCapabilities } from '../pkcs11/capabilities.js';
import type { Token } from '../pkcs11/token.js';
import { chooseKekScheme, DEFAULT_KEK_ORDER, Kek, KEK_SCHEMES, type KekScheme } from './kek.js';

// The keys the service itself keeps in the token: the KEK (crypto/kek.ts) and the audit signing
// key pair (checkpoints of the audit chain). Both are chosen from what the token offers, in the
// order the profile gives (docs/hsm.md "Service keys"): the KEK AES-GCM, else AES-CBC-PAD with
// HMAC-SHA256; the audit key ECDSA P-256, else RSA-PSS (RSA-2048, SHA-256). Each checkpoint
// records the scheme it was signed with.

export const AUDIT_SIGNING_KEY = { keyId: 'audit-signing', version: 1 };

export const AUDIT_KEY_SCHEMES = ['ecdsa-p256', 'rsa-pss-sha256'] as const;
export type AuditKeyScheme = (typeof AUDIT_KEY_SCHEMES)[number];

export { KEK_SCHEMES, type KekScheme };

export interface ServiceKeyOrder {
  kek: readonly KekScheme[];
  audit: readonly AuditKeyScheme[];
}

export const DEFAULT_SERVICE_KEY_ORDER: ServiceKeyOrder = { kek: DEFAULT_KEK_ORDER, audit: AUDIT_KEY_SCHEMES };

export class ServiceKeysError extends Error {
  readonly code = 'ServiceKeysUnavailable';
  constructor(
    message: string,
    /** The CKM names the service keys need and the token lacks. */
    readonly missing: string[],
  ) {
    super(message);
    this.name = 'ServiceKeysError';
  }
}

function auditNeeds(scheme: AuditKeyScheme, caps: TokenCapabilities): Array<readonly [boolean, string]> {
  return scheme === 'ecdsa-p256'
    ? [
        [caps.ec.generate, 'CKM_EC_KEY_PAIR_GEN'],
        [caps.ec.ecdsa, 'CKM_ECDSA'],
      ]
    : [
        [caps.rsa.generate, 'CKM_RSA_PKCS_KEY_PAIR_GEN'],
        [caps.rsa.pss, 'CKM_RSA_PKCS_PSS'],
      ];
}

export interface ServiceKeysPlan {
  kek: KekScheme | undefined;
  audit: AuditKeyScheme | undefined;
  /** What the token lacks for the keys it cannot hold (empty when both have a scheme). */
  missing: string[];
}

/** The schemes this token would hold the service keys under. */
export function planServiceKeys(caps: TokenCapabilities, order: ServiceKeyOrder = DEFAULT_SERVICE_KEY_ORDER): ServiceKeysPlan {
  const kek = chooseKekScheme(caps, order.kek);
  const audit = order.audit.find((s) => auditNeeds(s, caps).every(([ok]) => ok));
  const auditMissing = audit
    ? []
    : order.audit.flatMap((s) =>
        auditNeeds(s, caps)
          .filter(([ok]) => !ok)
          .map(([, n]) => n),
      );
  return { kek: kek.scheme, audit, missing: [...new Set([...kek.missing, ...auditMissing])] };
}

function unavailable(plan: ServiceKeysPlan): ServiceKeysError {
  const what = [plan.kek ? undefined : 'the KEK', plan.audit ? undefined : 'the audit signing key'].filter(Boolean).join(' and ');
  return new ServiceKeysError(`the token cannot hold ${what}: it lacks ${plan.missing.join(', ')}`, plan.missing);
}

/** Signs audit checkpoints in the token; verification needs only the public key and the scheme. */
export class AuditSigner {
  constructor(
    private readonly token: Token,
    readonly scheme: AuditKeyScheme,
  ) {}

  async sign(message: Buffer): Promise<Buffer> {
    const digest = createHash('sha256').update(message).digest();
    return this.token.sign(AUDIT_SIGNING_KEY, this.scheme === 'ecdsa-p256' ? 'ecdsa' : 'rsa-pss-sha256', digest, 'der');
  }

  async publicKey(): Promise<KeyObject> {
    return (await this.token.exportPublicKey(AUDIT_SIGNING_KEY)).keyObject;
  }
}

/** Node's verification of a checkpoint signature, by the scheme it records (offline too). */
export function verifyAuditSignature(scheme: string, message: Buffer, publicKey: KeyObject, signature: Buffer): boolean {
  try {
    if (scheme === 'ecdsa-p256') return nodeVerify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, signature);
    if (scheme === 'rsa-pss-sha256') return nodeVerify('sha256', message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature);
    return false;
  } catch {
    return false;
  }
}

/** The audit key's scheme, read from the key the token holds (undefined when it holds none). */
async function auditSchemeInToken(token: Token): Promise<AuditKeyScheme | undefined> {
  if (!(await token.exists(AUDIT_SIGNING_KEY))) return undefined;
  return (await token.exportPublicKey(AUDIT_SIGNING_KEY)).keyObject.asymmetricKeyType === 'rsa' ? 'rsa-pss-sha256' : 'ecdsa-p256';
}

export interface ServiceKeys {
  kek: Kek;
  signer: AuditSigner;
}

/** The service keys when the token holds them all (the usual start), else undefined. */
export async function existingServiceKeys(token: Token, order: ServiceKeyOrder = DEFAULT_SERVICE_KEY_ORDER): Promise<ServiceKeys | undefined> {
  const plan = planServiceKeys(token.capabilities, order);
  if (!plan.kek || !(await Kek.exists(token, plan.kek))) return undefined;
  const audit = await auditSchemeInToken(token);
  if (!audit) return undefined;
  return { kek: new Kek(token, plan.kek), signer: new AuditSigner(token, audit) };
}

/**
 * Makes what is missing of the service keys. Not safe for two processes at once (each would make
 * its own audit key): `token init` runs it once, and openServices under a database lease.
 * Throws ServiceKeysError naming the mechanisms when the token cannot hold them.
 */
export async function ensureServiceKeys(token: Token, order: ServiceKeyOrder = DEFAULT_SERVICE_KEY_ORDER): Promise<ServiceKeys> {
  const plan = planServiceKeys(token.capabilities, order);
  const existingAudit = await auditSchemeInToken(token);
  if (!plan.kek || (!plan.audit && !existingAudit)) throw unavailable(plan);
  const kek = await Kek.ensure(token, plan.kek);
  let audit = existingAudit;
  if (!audit) {
    audit = plan.audit!;
    await token.generate(AUDIT_SIGNING_KEY, audit === 'ecdsa-p256' ? { kind: 'ec', curve: 'P-256', usage: { sign: true } } : { kind: 'rsa', bits: 2048, usage: { sign: true } });
  }
  return { kek, signer: new AuditSigner(token, audit) };
}

/**
 * A real round trip of every service key: a random secret sealed and opened under the KEK, a
 * message signed in the token and verified by Node with the exported public key. Answers what
 * failed, in one line each (empty: the keys work).
 */
export async function checkServiceKeys(keys: ServiceKeys): Promise<string[]> {
  const problems: string[] = [];
  const secret = randomBytes(32);
  try {
    const opened = await keys.kek.open(await keys.kek.seal(secret, 'hsmkms-round-trip'), 'hsmkms-round-trip');
    if (!opened.equals(secret)) problems.push(`KEK (${keys.kek.scheme}): opened a different secret`);
    opened.fill(0);
  } catch (err) {
    problems.push(`KEK (${keys.kek.scheme}): ${(err as Error).message}`);
  } finally {
    secret.fill(0);
  }
  try {
    const message = Buffer.from(`hsmkms-round-trip:${Date.now()}`);
    const signature = await keys.signer.sign(message);
    if (!verifyAuditSignature(keys.signer.scheme, message, await keys.signer.publicKey(), signature))
      problems.push(`audit signing key (${keys.signer.scheme}): the signature does not verify`);
  } catch (err) {
    problems.push(`audit signing key (${keys.signer.scheme}): ${(err as Error).message}`);
  }
  return problems;
}
