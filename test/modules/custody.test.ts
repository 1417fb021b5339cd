import crypto from 'node:crypto';
import * as graphene from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfile } from '../../src/pkcs11/profile.js';
import { rootCallers, ROOT, startTestServer, type TestServer } from '../helpers/api-server.js';
import { MODULE_OFFERS, MODULE_UNDER_TEST } from '../helpers/modules.js';
import { cli } from '../helpers/cli.js';
import { b64, clearProxy, type KmsCaller } from '../helpers/sdk-clients.js';

// Custody on the module under test: every secret and private key the service makes — its own
// (KEK, audit signing key, BYOK helpers), the CMKs of every usage this module serves, BYOK
// wrapping pairs and imported material — read back through the module by graphene-pk11, an
// implementation of its own (not our token layer): sensitive, never extractable, its value
// unreadable. Outside the token, software-module keys and API secrets exist only sealed.

let server: TestServer;
let hk: KmsCaller;
let gz: KmsCaller;

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  ({ hk, gz } = rootCallers(server));
});

afterAll(async () => {
  await server?.stop();
});

const PROFILE = loadProfile(MODULE_UNDER_TEST);

/** A session on the server's token through graphene-pk11 (the library is already initialised and logged in by this process). */
function grapheneSession(): { session: graphene.Session; close(): void } {
  const mod = graphene.Module.load(server.tokenEnv.KMS_PKCS11_MODULE!, MODULE_UNDER_TEST);
  // graphene passes these to C_Initialize; pkcs11js drops libraryParameters' last byte (a blank here).
  const initArgs = server.tokenEnv.KMS_PKCS11_INIT_ARGS;
  mod.initialize(initArgs ? { libraryParameters: `${initArgs} `, flags: pkcs11js.CKF_OS_LOCKING_OK } : { flags: pkcs11js.CKF_OS_LOCKING_OK });
  const slots = mod.getSlots(true);
  let slot: graphene.Slot | undefined;
  for (let i = 0; i < slots.length; i++)
    if (
      slots
        .items(i)
        .getToken()
        .label.replace(/[\s\0]+$/, '') === server.config.tokenLabel
    )
      slot = slots.items(i);
  if (!slot) throw new Error(`graphene: no token ${server.config.tokenLabel}`);
  const session = slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
  try {
    session.login(server.tokenEnv.KMS_PKCS11_PIN!, graphene.UserType.USER);
  } catch (err) {
    // Login is per process: the server's Token logged this process in already.
    if (!/CKR_USER_ALREADY_LOGGED_IN/.test(String(err))) throw err;
  }
  return { session, close: () => session.close() };
}

interface KeyFacts {
  label: string;
  cls: 'secret' | 'private';
  sensitive: boolean;
  extractable: boolean;
  alwaysSensitive: boolean;
  neverExtractable: boolean;
  local: boolean;
  valueReadable: boolean;
}

function keysInToken(): KeyFacts[] {
  const { session, close } = grapheneSession();
  try {
    const out: KeyFacts[] = [];
    const objects = session.find({ token: true });
    for (let i = 0; i < objects.length; i++) {
      const o = objects.items(i);
      const cls = o.getAttribute({ class: null }).class as number;
      if (cls !== graphene.ObjectClass.SECRET_KEY && cls !== graphene.ObjectClass.PRIVATE_KEY) continue;
      const a = o.getAttribute({ label: null, sensitive: null, extractable: null, alwaysSensitive: null, neverExtractable: null, local: null });
      if (!String(a.label).startsWith('hsmkms/')) continue;
      let valueReadable = true;
      try {
        o.getAttribute({ value: null });
      } catch {
        valueReadable = false;
      }
      out.push({
        label: String(a.label),
        cls: cls === graphene.ObjectClass.SECRET_KEY ? 'secret' : 'private',
        sensitive: !!a.sensitive,
        extractable: !!a.extractable,
        alwaysSensitive: !!a.alwaysSensitive,
        neverExtractable: !!a.neverExtractable,
        local: !!a.local,
        valueReadable,
      });
    }
    return out;
  } finally {
    close();
  }
}

describe(`custody on ${MODULE_UNDER_TEST}`, () => {
  const made: string[] = [];
  let importedKeyId: string;
  let sm4KeyId: string;

  beforeAll(async () => {
    // Keys made in the token are listed in `made`; the SM ones live in the software module.
    const create = async (call: KmsCaller, alias: string, extra: Record<string, unknown> = {}) => {
      const id = (await call('CreateKey', { Alias: alias, ...extra })).KeyId as string;
      if (call === hk) made.push(id);
      return id;
    };
    await create(hk, 'custody-rsa-dec', { KeyUsage: 'ASYMMETRIC_DECRYPT_RSA_2048' });
    await create(hk, 'custody-rsa-sign', { KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_RSA_2048' });
    if (MODULE_OFFERS.ec) await create(hk, 'custody-ec', { KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_ECC' });
    if (MODULE_OFFERS.aesGcm) {
      const aes = await create(hk, 'custody-aes');
      await hk('RotateKey', { KeyId: aes }).catch(() => undefined);
    }
    // BYOK: a wrapping pair, the service's import helpers, and (FIPS) imported material in the token.
    const [call, bytes] = MODULE_OFFERS.aesGcm ? [hk, 32] : [gz, 16];
    importedKeyId = (await call('CreateKey', { Alias: 'custody-byok', Type: 2 })).KeyId as string;
    const p = await call('GetParametersForImport', { KeyId: importedKeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
    const pub = crypto.createPublicKey({ key: Buffer.from(p.PublicKey as string, 'base64'), format: 'der', type: 'spki' });
    await call('ImportKeyMaterial', {
      KeyId: importedKeyId,
      ImportToken: p.ImportToken,
      EncryptedKeyMaterial: crypto.publicEncrypt({ key: pub, oaepHash: 'sha256' }, crypto.randomBytes(bytes)).toString('base64'),
    });
    // A pending wrapping pair stays in the token until used or expired.
    const other = (await call('CreateKey', { Alias: 'custody-byok-pending', Type: 2 })).KeyId as string;
    await call('GetParametersForImport', { KeyId: other, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' });
    // SM keys: software module, sealed under the KEK.
    sm4KeyId = await create(gz, 'custody-sm4');
    await create(gz, 'custody-sm2', { KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_SM2' });
  });

  it('every secret and private key is sensitive and never extractable, its value unreadable (read by graphene-pk11)', () => {
    const keys = keysInToken();
    const labels = keys.map((k) => k.label);
    // The service's own keys, and one object per token-resident key version made above.
    expect(labels).toContain('hsmkms/kek/v1');
    expect(labels).toContain('hsmkms/audit-signing/v1');
    if (!MODULE_OFFERS.aesGcm) expect(labels).toContain('hsmkms/kek-mac/v1');
    for (const id of made)
      expect(
        labels.some((l) => l.startsWith(`hsmkms/${id}/`)),
        id,
      ).toBe(true);
    expect(labels.some((l) => l.startsWith('hsmkms/wrap-'))).toBe(true);
    expect(labels.some((l) => l.startsWith('hsmkms/import-fingerprint'))).toBe(true);
    if (MODULE_OFFERS.aesGcm) expect(labels).toContain(`hsmkms/${importedKeyId}/v1`);
    for (const k of keys) {
      expect({ label: k.label, sensitive: k.sensitive, extractable: k.extractable, valueReadable: k.valueReadable }).toEqual({
        label: k.label,
        sensitive: true,
        extractable: false,
        valueReadable: false,
      });
      // Generated in the token: so from birth. Imported material came from outside (not local).
      // NSS softoken leaves CKA_LOCAL false even on keys it generated (measured).
      if (k.label !== `hsmkms/${importedKeyId}/v1`) {
        expect({ label: k.label, alwaysSensitive: k.alwaysSensitive, neverExtractable: k.neverExtractable }).toEqual({
          label: k.label,
          alwaysSensitive: true,
          neverExtractable: true,
        });
        if (MODULE_UNDER_TEST !== 'nss') expect({ label: k.label, local: k.local }).toEqual({ label: k.label, local: true });
      }
    }
  });

  it('the module says whether it enforces non-extractability, and token status repeats it', () => {
    // NSS softoken wraps keys out whatever CKA_EXTRACTABLE says (test/integration/token.test.ts):
    // its profile says so, and an operator sees it in token status.
    const enforced = MODULE_UNDER_TEST !== 'nss';
    expect(PROFILE.enforcesNonExtractable ?? true).toBe(enforced);
    const status = cli(['token', 'status', '--json'], { PATH: process.env.PATH, HOME: process.env.HOME, ...server.cliEnv });
    expect(status.status).toBe(0);
    const s = JSON.parse(status.stdout) as { ready: boolean; warnings: string[] };
    expect(s.ready).toBe(true);
    expect(s.warnings.some((w) => /CKA_EXTRACTABLE/.test(w))).toBe(!enforced);
  });

  it('outside the token, software-module keys and API secrets exist only sealed under the KEK, in its scheme', async () => {
    const format = MODULE_OFFERS.aesGcm ? 1 : 2;
    const sealed = await server.services.db('key_versions').whereNotNull('sealed_material').select('sealed_material');
    expect(sealed.length).toBeGreaterThanOrEqual(2);
    for (const r of sealed) {
      const b = Buffer.from(r.sealed_material as Buffer);
      expect([b[0], b[1]]).toEqual([0x4b, format]);
    }
    const creds = await server.services.db('credentials').select('sealed_secret_key');
    for (const r of creds) {
      const b = Buffer.from(r.sealed_secret_key as Buffer);
      expect(b[0]).toBe(0x4b);
      expect(b.includes(Buffer.from(ROOT.secretKey))).toBe(false);
    }
  });

  it('the audit trail verifies, its checkpoints signed in the token in this module’s scheme', async () => {
    await hk('ListKeys', {});
    const c = await server.services.trail.checkpoint();
    expect(c?.scheme).toBe(MODULE_OFFERS.auditScheme);
    expect(await server.services.trail.verify()).toMatchObject({ ok: true, firstBad: null });
    // and an SDK call still works after all of the above
    expect((await gz('Encrypt', { KeyId: sm4KeyId, Plaintext: b64('x') })).CiphertextBlob).toBeTruthy();
  });
});
