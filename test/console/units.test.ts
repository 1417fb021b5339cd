import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { html, raw } from '../../src/console/html.js';
import { generatePassword, hashPassword, verifyPassword } from '../../src/console/passwords.js';
import { SessionStore } from '../../src/console/sessions.js';
import { regionLabel } from '../../src/console/views.js';

// The console's pure parts: password hashes (checked against Node's scrypt directly), the
// session clock, escaping and the region labels of the guide.

describe('console password hashes', () => {
  it('are scrypt N=2^15 r=8 p=1 over a random salt, verifiable with scrypt itself', async () => {
    const stored = await hashPassword('correct horse battery staple');
    const [scheme, n, r, p, salt, hash] = stored.split('$');
    expect([scheme, n, r, p]).toEqual(['scrypt', '32768', '8', '1']);
    expect(Buffer.from(salt!, 'base64')).toHaveLength(16);
    const independent = scryptSync('correct horse battery staple', Buffer.from(salt!, 'base64'), 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    expect(independent.toString('base64')).toBe(hash);
    expect(await hashPassword('correct horse battery staple')).not.toBe(stored);
  });

  it('verify the right password only, and refuse malformed hashes', async () => {
    const stored = await hashPassword('a long enough password');
    expect(await verifyPassword('a long enough password', stored)).toBe(true);
    expect(await verifyPassword('a long enough passwore', stored)).toBe(false);
    expect(await verifyPassword('a long enough password', 'plain$text')).toBe(false);
    expect(generatePassword()).toMatch(/^[A-Za-z0-9]{20}$/);
  });
});

describe('console sessions', () => {
  const who = { accountUin: '100000000001', userName: 'root' };

  it('end after the idle time without a request, each request renewing it', () => {
    let now = 1_000_000;
    const store = new SessionStore(1_000, 10_000, () => now);
    const s = store.create({ kind: 'secret', secretId: 'AKIDx' }, who);
    now += 900;
    expect('session' in store.get(s.id)).toBe(true);
    now += 900;
    expect('session' in store.get(s.id)).toBe(true);
    now += 1_001;
    expect(store.get(s.id)).toEqual({ expired: true });
    expect(store.get(s.id)).toEqual({ expired: false });
  });

  it('end after the absolute maximum however active, and on destroy', () => {
    let now = 0;
    const store = new SessionStore(1_000, 3_000, () => now);
    const s = store.create({ kind: 'secret', secretId: 'AKIDx' }, who);
    for (let i = 0; i < 6; i++) {
      now += 500;
      expect('session' in store.get(s.id)).toBe(true);
    }
    now += 500;
    expect(store.get(s.id)).toEqual({ expired: true });
    const t = store.create({ kind: 'secret', secretId: 'AKIDx' }, who);
    store.destroy(t.id);
    expect(store.get(t.id)).toEqual({ expired: false });
  });

  it('have unguessable ids and CSRF tokens compared in full', () => {
    const store = new SessionStore(1_000, 3_000);
    const a = store.create({ kind: 'secret', secretId: 'AKIDx' }, who);
    const b = store.create({ kind: 'secret', secretId: 'AKIDx' }, who);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.id).not.toBe(b.id);
    expect(SessionStore.csrfMatches(a, a.csrf)).toBe(true);
    expect(SessionStore.csrfMatches(a, b.csrf)).toBe(false);
    expect(SessionStore.csrfMatches(a, a.csrf.slice(0, -1))).toBe(false);
    expect(SessionStore.csrfMatches(a, undefined)).toBe(false);
  });
});

describe('pages', () => {
  it('escape every interpolated value unless it is already markup', () => {
    expect(html`<p title="${'"><script>'}">${'<b>&'}</p>${raw('<i>ok</i>')}`.value).toBe('<p title="&quot;&gt;&lt;script&gt;">&lt;b&gt;&amp;</p><i>ok</i>');
    expect(html`${['<a>', html`<b>`]}`.value).toBe('&lt;a&gt;<b>');
  });

  it('label regions as the guide writes them', () => {
    expect(regionLabel({ name: 'ap-beijing', standard: 'SM' })).toBe('Beijing (SM-CRYPTO)');
    expect(regionLabel({ name: 'ap-hongkong', standard: 'FIPS' })).toBe('Hong Kong (China)(FIPS)');
    expect(regionLabel({ name: 'on-prem-1', standard: 'FIPS' })).toBe('on-prem-1(FIPS)');
  });
});
