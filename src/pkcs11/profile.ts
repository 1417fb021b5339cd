import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

// A token profile (hsm/<name>.json) says what one PKCS#11 product offers, so that
// attaching a different HSM is configuration, not code. docs/hsm.md explains each field.

const mechanismEntry = z.object({
  available: z.boolean(),
  use: z.string(),
  note: z.string().optional(),
});

const hex = z.string().regex(/^0x[0-9a-fA-F]+$/);

const profileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/),
    product: z.string(),
    tested: z.boolean(),
    module: z.string(),
    initializeFlags: z.array(z.enum(['CKF_OS_LOCKING_OK', 'CKF_LIBRARY_CANT_CREATE_OS_THREADS'])),
    sessionPoolSize: z.number().int().min(1).max(256),
    sessionKeyCopies: z.boolean(),
    mechanisms: z.record(z.string(), mechanismEntry),
    importOaepSha256: z.enum(['raw-rsa-in-token', 'native']),
    smMechanisms: z
      .object({
        SM2_KEY_PAIR_GEN: hex.nullable(),
        SM2_SIGN: hex.nullable(),
        SM2_ENCRYPT: hex.nullable(),
        SM3: hex.nullable(),
        SM4_KEY_GEN: hex.nullable(),
        SM4_ECB: hex.nullable(),
        SM4_CBC: hex.nullable(),
        SM4_GCM: hex.nullable(),
        source: z.string(),
      })
      .passthrough()
      .nullable(),
    quirks: z.array(z.string()),
    sources: z.array(z.string()),
    /**
     * C_Initialize pReserved (NSS softoken's configuration string); `{dataDir}` and `{label}` are
     * replaced by KMS_DATA_DIR and KMS_PKCS11_TOKEN_LABEL. KMS_PKCS11_INIT_ARGS overrides it.
     */
    initArgs: z.string().optional(),
    /** KEK schemes in order of preference; the first the token offers is used (crypto/kek.ts). */
    kekSchemes: z
      .array(z.enum(['aes-gcm', 'aes-gcm-token-iv', 'aes-cbc-hmac-sha256']))
      .min(1)
      .optional(),
    /**
     * false for a module that lets a key marked CKA_EXTRACTABLE=false be wrapped out anyway (NSS
     * softoken): not a custody boundary; `token status` says so. Default true.
     */
    enforcesNonExtractable: z.boolean().optional(),
    /**
     * Where the 12-byte IV of a CMK's AES-GCM encryption comes from: 'service' (drawn from the
     * token's RNG and passed in) or 'token' (an HSM in a FIPS mode that generates it and writes it
     * into the parameters' IV buffer). Default 'service'.
     */
    gcmIv: z.enum(['service', 'token']).optional(),
    /** Audit signing key schemes in order of preference (crypto/service-keys.ts). */
    auditKeySchemes: z
      .array(z.enum(['ecdsa-p256', 'rsa-pss-sha256']))
      .min(1)
      .optional(),
  })
  .refine((p) => (p.importOaepSha256 === 'native') === (p.mechanisms.CKM_RSA_PKCS_OAEP_SHA256?.available === true), {
    message: 'importOaepSha256 must be "native" exactly when CKM_RSA_PKCS_OAEP_SHA256 is available',
    path: ['importOaepSha256'],
  });

export type TokenProfile = z.infer<typeof profileSchema>;

export class ProfileError extends Error {
  readonly code = 'ProfileError';
}

export const PROFILE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []), 'hsm');

/**
 * A profile by name from hsm/, or — when KMS_HSM_PROFILE is a path to a .json file — an
 * operator's own profile (its `name` must equal the file's base name).
 */
export function loadProfile(nameOrFile: string, dir = PROFILE_DIR): TokenProfile {
  const isFile = nameOrFile.includes('/') && nameOrFile.endsWith('.json');
  const name = isFile ? path.basename(nameOrFile, '.json') : nameOrFile;
  if (!/^[a-z0-9-]+$/.test(name)) throw new ProfileError(`KMS_HSM_PROFILE: bad profile name "${name}"`);
  const file = isFile ? path.resolve(nameOrFile) : path.join(dir, `${name}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ProfileError(`cannot read token profile ${file}: ${(err as Error).message}`);
  }
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ProfileError(`token profile ${file}: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  if (parsed.data.name !== name) throw new ProfileError(`token profile ${file} names itself "${parsed.data.name}"`);
  return parsed.data;
}

/**
 * The C_Initialize string for this deployment: KMS_PKCS11_INIT_ARGS when set, else the profile's
 * `initArgs` with `{dataDir}` and `{label}` filled in; undefined when neither gives one.
 */
export function initArgsFor(profile: TokenProfile, opts: { override?: string; dataDir: string; label: string }): string | undefined {
  if (opts.override !== undefined) return opts.override;
  return profile.initArgs?.replaceAll('{dataDir}', opts.dataDir).replaceAll('{label}', opts.label);
}
