import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfile } from '../../src/pkcs11/profile.js';
import { cli } from '../helpers/cli.js';
import { createModuleToken, MODULE_OFFERS, MODULE_UNDER_TEST, type ModuleToken } from '../helpers/modules.js';

// The operator's first commands on a module (docs/hsm.md "Porting to your HSM"): `token status`
// answers on any token, even one that cannot serve, and exits 0; `token init` makes the service
// keys with a round trip through each, or fails with one line naming what is missing. Run on
// each module CI has (KMS_TEST_MODULE).

interface Status {
  ready: boolean;
  missing: string[];
  mechanisms: Array<{ name: string; expected: boolean; offered: boolean }>;
  serviceKeys: { kek: { scheme: string | null; present: boolean }; auditSigningKey: { scheme: string | null; present: boolean }; problems: string[] };
}

let token: ModuleToken;
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...token.env, ...extra });

/** A copy of the module's profile with `changes`, as an operator's own profile file. */
function profileWith(name: string, changes: Record<string, unknown>): string {
  const file = path.join(token.dataDir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ ...loadProfile(MODULE_UNDER_TEST), name, ...changes }));
  return file;
}

function status(extra: NodeJS.ProcessEnv = {}): Status {
  const r = cli(['token', 'status', '--json'], env(extra));
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Status;
}

beforeAll(() => {
  token = createModuleToken(MODULE_UNDER_TEST, 'hsmkms-token-cli-');
});

afterAll(() => token?.cleanup());

describe(`token status and token init on ${MODULE_UNDER_TEST}`, () => {
  it('before init: status answers (exit 0), not ready, every mechanism the profile relies on as the token offers it', () => {
    const s = status();
    expect(s.ready).toBe(false);
    expect(s.missing).toEqual([]);
    expect(s.serviceKeys.kek.present).toBe(false);
    expect(s.mechanisms.length).toBeGreaterThan(10);
    for (const m of s.mechanisms) expect({ name: m.name, offered: m.offered }).toEqual({ name: m.name, offered: m.expected });
  });

  it('init makes the service keys in the schemes the token offers, checks a round trip, and status is then ready', () => {
    const r = cli(['token', 'init', '--json'], env());
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      kekScheme: MODULE_OFFERS.aesGcm ? 'aes-gcm' : 'aes-cbc-hmac-sha256',
      auditKeyScheme: MODULE_OFFERS.auditScheme,
    });
    const s = status();
    expect(s).toMatchObject({ ready: true, missing: [], serviceKeys: { problems: [] } });
  });

  it('a profile asking for schemes the token lacks: init fails with one line naming the mechanisms; status still answers, not ready', () => {
    // openCryptoki lacks GCM and EC; the others lack neither, so their refusal is the KEK asked
    // for a token-generated IV (none of the three generates one: ops/symmetric.ts).
    const lacking = MODULE_OFFERS.aesGcm ? undefined : { kekSchemes: ['aes-gcm'], auditKeySchemes: ['ecdsa-p256'] };
    const file = profileWith(`${MODULE_UNDER_TEST}-strict`, lacking ?? { kekSchemes: ['aes-gcm-token-iv'] });
    const r = cli(['token', 'init'], env({ KMS_HSM_PROFILE: file }));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^hsmkms: [^\n]+\n$/);
    expect(r.stderr).not.toContain(token.pin);
    if (lacking) expect(r.stderr).toMatch(/CKM_AES_GCM.*CKM_EC_KEY_PAIR_GEN|CKM_EC_KEY_PAIR_GEN.*CKM_AES_GCM/);
    else expect(r.stderr).toMatch(/round trip failed: KEK \(aes-gcm-token-iv\)/);
    const s = status({ KMS_HSM_PROFILE: file });
    expect(s.ready).toBe(false);
    if (lacking) expect(s.missing).toEqual(expect.arrayContaining(['CKM_AES_GCM', 'CKM_EC_KEY_PAIR_GEN']));
    else expect(s.serviceKeys.problems.join(' ')).toMatch(/aes-gcm-token-iv/);
    // The module's own profile still finds everything ready: nothing was changed by the failure.
    expect(status().ready).toBe(true);
  });
});
