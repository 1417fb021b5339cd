import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RELIED_ON } from '../../src/pkcs11/capabilities.js';
import { loadProfile, PROFILE_DIR, ProfileError } from '../../src/pkcs11/profile.js';

describe('token profiles in hsm/', () => {
  const names = readdirSync(PROFILE_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5));

  it('include SoftHSM2 (tested) and at least two documented hardware HSMs', () => {
    expect(names).toContain('softhsm2');
    expect(names.filter((n) => n !== 'softhsm2').length).toBeGreaterThanOrEqual(2);
  });

  it.each(names)('%s parses, names itself, and cites its sources', (name) => {
    const p = loadProfile(name);
    expect(p.name).toBe(name);
    expect(p.initializeFlags).toContain('CKF_OS_LOCKING_OK');
    expect(p.mechanisms.CKM_AES_GCM).toBeDefined();
    if (name !== 'softhsm2') expect(p.sources.length).toBeGreaterThan(0);
    // Tested: the token suites run on these three modules in CI (.ci/run).
    expect(p.tested).toBe(['softhsm2', 'nss', 'opencryptoki'].includes(name));
  });

  it.each(names)('%s lists every mechanism the service calls (token status checks each)', (name) => {
    const listed = Object.keys(loadProfile(name).mechanisms);
    expect(RELIED_ON.map((m) => m.name).filter((m) => !listed.includes(m))).toEqual([]);
  });

  it('every mechanism the token layer calls is in the list token status reports', () => {
    const src = path.resolve(import.meta.dirname, '..', '..', 'src', 'pkcs11');
    const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const used = new Set(files.flatMap((f) => [...readFileSync(path.join(src, f), 'utf8').matchAll(/pkcs11js\.(CKM_[A-Z0-9_]+)/g)].map((m) => m[1]!)));
    // Hash parameters of OAEP and PSS name digests, not mechanisms the token is asked to run.
    for (const parameter of ['CKM_SHA_1', 'CKM_SHA256']) used.delete(parameter);
    expect([...used].filter((m) => !RELIED_ON.some((r) => r.name === m))).toEqual([]);
  });

  it('refuses a malformed profile with a message naming the field', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hsmkms-profile-'));
    try {
      const good = loadProfile('softhsm2');
      writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ ...good, name: 'bad', sessionPoolSize: 0 }));
      expect(() => loadProfile('bad', dir)).toThrow(/sessionPoolSize/);
      writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ ...good, name: 'bad', importOaepSha256: 'native' }));
      expect(() => loadProfile('bad', dir)).toThrow(/importOaepSha256/);
      writeFileSync(path.join(dir, 'other.json'), JSON.stringify({ ...good, name: 'bad' }));
      expect(() => loadProfile('other', dir)).toThrow(/names itself/);
      expect(() => loadProfile('../etc', dir)).toThrow(ProfileError);
      expect(() => loadProfile('missing', dir)).toThrow(/cannot read token profile/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
