import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { renameSync } from 'node:fs';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { p256, p384 } from '@noble/curves/nist.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageDigest } from '../../src/crypto/asymmetric.js';
import { Kek, KEK_SCHEMES } from '../../src/crypto/kek.js';
import {
  DecryptFailedError,
  HsmError,
  InvalidInputError,
  MaterialSizeError,
  MechanismUnsupportedError,
  ObjectNotFoundError,
  TokenUnavailableError,
} from '../../src/pkcs11/errors.js';
import { labelOf } from '../../src/pkcs11/templates.js';
import type { Token } from '../../src/pkcs11/token.js';
import { loadProfile } from '../../src/pkcs11/profile.js';
import { createModuleToken, describeWhere, MODULE_OFFERS, MODULE_UNDER_TEST, openModuleToken, type ModuleToken } from '../helpers/modules.js';
import { ckrOfCall, createKnownAesKey, rawSession, type Raw } from '../helpers/raw-pkcs11.js';

// The token layer on the module under test (KMS_TEST_MODULE: SoftHSM2, NSS softoken,
// openCryptoki), checked against the module itself (raw pkcs11js) and independent
// implementations (Node's crypto, @noble/curves, OpenSSL). What a module lacks is asserted refused.

let tt: ModuleToken;
let token: Token;
let raw: Raw;
const PROFILE = loadProfile(MODULE_UNDER_TEST);

beforeAll(async () => {
  tt = createModuleToken();
  token = await openModuleToken(tt);
  raw = rawSession(tt.label, tt.env);
});

afterAll(() => {
  raw?.close();
  token?.close();
  tt?.cleanup();
});

const name = (keyId: string, version = 1) => ({ keyId, version });

/** Node's AES-256-GCM, the independent implementation the token must agree with. */
function nodeGcmDecrypt(key: Buffer, iv: Buffer, ctAndTag: Buffer, aad?: Buffer): Buffer {
  const d = crypto.createDecipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, iv);
  if (aad) d.setAAD(aad);
  d.setAuthTag(ctAndTag.subarray(ctAndTag.length - 16));
  return Buffer.concat([d.update(ctAndTag.subarray(0, ctAndTag.length - 16)), d.final()]);
}

function nodeGcmEncrypt(key: Buffer, plaintext: Buffer, aad?: Buffer): { iv: Buffer; ciphertext: Buffer } {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, iv);
  if (aad) c.setAAD(aad);
  const ct = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return { iv, ciphertext: ct };
}

function isRsa(h: Buffer): boolean {
  const [t] = raw.p11.C_GetAttributeValue(raw.session, h, [{ type: pkcs11js.CKA_KEY_TYPE }]);
  return (t!.value as Buffer)[0] === pkcs11js.CKK_RSA;
}

/** What an attacker with the PIN could try against a key: read CKA_VALUE, or wrap it out (with a mechanism the module has). */
function exportAttempts(label: string, cls: number): { value: string; wrap: string } {
  const [h] = raw.find(label, cls);
  expect(h, `${label} present`).toBeDefined();
  const wrapKey = raw.p11.C_GenerateKey(raw.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
  ]);
  const wrapMechanism = PROFILE.mechanisms.CKM_AES_KEY_WRAP?.available
    ? { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }
    : { mechanism: pkcs11js.CKM_AES_CBC_PAD, parameter: Buffer.alloc(16) };
  return {
    // the secret part: CKA_VALUE for AES and EC keys, the private exponent for RSA
    value: ckrOfCall(() => raw.p11.C_GetAttributeValue(raw.session, h!, [{ type: isRsa(h!) ? pkcs11js.CKA_PRIVATE_EXPONENT : pkcs11js.CKA_VALUE }])),
    wrap: ckrOfCall(() => raw.p11.C_WrapKey(raw.session, wrapMechanism, wrapKey, h!, Buffer.alloc(4096))),
  };
}

/**
 * A sensitive, non-extractable key refuses both attempts — on modules that enforce
 * CKA_EXTRACTABLE. NSS softoken does not: it wraps such keys out (hsm/nss.json
 * `enforcesNonExtractable`, docs/hsm.md), and that is what is asserted there.
 */
const REFUSED_EXPORT =
  PROFILE.enforcesNonExtractable === false
    ? { value: expect.stringContaining('CKR_ATTRIBUTE_SENSITIVE'), wrap: 'OK' }
    : { value: expect.stringContaining('CKR_ATTRIBUTE_SENSITIVE'), wrap: expect.stringContaining('CKR_KEY_UNEXTRACTABLE') };

function attributes(label: string, cls: number): Record<string, boolean> {
  const [h] = raw.find(label, cls);
  const names = [
    'CKA_TOKEN',
    'CKA_PRIVATE',
    'CKA_SENSITIVE',
    'CKA_EXTRACTABLE',
    'CKA_NEVER_EXTRACTABLE',
    'CKA_ENCRYPT',
    'CKA_DECRYPT',
    'CKA_WRAP',
    'CKA_UNWRAP',
    'CKA_SIGN',
    'CKA_DERIVE',
  ];
  const out: Record<string, boolean> = {};
  for (const n of names) {
    try {
      const [a] = raw.p11.C_GetAttributeValue(raw.session, h!, [{ type: (pkcs11js as unknown as Record<string, number>)[n]! }]);
      out[n] = (a!.value as Buffer)[0] === 1;
    } catch {
      /* attribute not defined for this class */
    }
  }
  return out;
}

describe('token session and status', () => {
  it('logs in and reports the module, label, serial and the mechanisms the profile relies on', async () => {
    const s = await token.status();
    expect(s.loggedIn).toBe(true);
    expect(s.tokenLabel).toBe(tt.label);
    expect(s.module).toBe(tt.module);
    expect(s.profile).toBe(MODULE_UNDER_TEST);
    expect(s.serial).toMatch(/^[0-9a-f]+$/);
    const gcm = s.mechanisms.find((m) => m.name === 'CKM_AES_GCM');
    expect(gcm).toMatchObject({ expected: MODULE_OFFERS.aesGcm, offered: MODULE_OFFERS.aesGcm });
    // What the profile declares missing must really be missing from the token, and vice versa.
    for (const m of s.mechanisms) expect(m.offered, m.name).toBe(m.expected);
    // The service keeps no data object in the token (NSS softoken refuses persistent ones).
    expect(s.objects.data).toBe(0);
  });
});

if (!MODULE_OFFERS.aesGcm) {
  describe(`AES-GCM on ${MODULE_UNDER_TEST}`, () => {
    it('is not offered: the capabilities say so, and a call is MechanismUnsupported', async () => {
      expect(token.capabilities.aes.gcm).toBe(false);
      await token.generate(name('aes-no-gcm'), { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
      await expect(token.aesGcmEncrypt(name('aes-no-gcm'), Buffer.from('x'))).rejects.toBeInstanceOf(MechanismUnsupportedError);
    });
  });
}

describeWhere(MODULE_OFFERS.aesGcm)('symmetric keys: generated in the token, AES-GCM with AAD', () => {
  it('generates AES-256 and AES-128 keys that cannot be read or wrapped out', async () => {
    await token.generate(name('aes256'), { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
    await token.generate(name('aes128'), { kind: 'aes', bits: 128, usage: { encrypt: true, decrypt: true } });
    for (const id of ['aes256', 'aes128']) {
      const label = labelOf(name(id));
      expect(exportAttempts(label, pkcs11js.CKO_SECRET_KEY)).toEqual(REFUSED_EXPORT);
      expect(attributes(label, pkcs11js.CKO_SECRET_KEY)).toMatchObject({
        CKA_TOKEN: true,
        CKA_PRIVATE: true,
        CKA_SENSITIVE: true,
        CKA_EXTRACTABLE: false,
        CKA_NEVER_EXTRACTABLE: true,
        CKA_ENCRYPT: true,
        CKA_DECRYPT: true,
        CKA_WRAP: false,
        CKA_UNWRAP: false,
        CKA_SIGN: false,
        CKA_DERIVE: false,
      });
    }
  });

  it('refuses to create a second object under an existing name', async () => {
    await expect(token.generate(name('aes256'), { kind: 'aes', bits: 256, usage: { encrypt: true } })).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('encrypts and decrypts with AAD, 12-byte token-random IVs, 16-byte tags', async () => {
    const pt = Buffer.from('the quick brown fox');
    const aad = Buffer.from('{"a":"b"}');
    const ivs = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const { iv, ciphertext } = await token.aesGcmEncrypt(name('aes256'), pt, aad);
      expect(iv.length).toBe(12);
      expect(ciphertext.length).toBe(pt.length + 16);
      ivs.add(iv.toString('hex'));
      if (i % 100 === 0) expect(await token.aesGcmDecrypt(name('aes256'), iv, ciphertext, aad)).toEqual(pt);
    }
    expect(ivs.size).toBe(600);
    const r128 = await token.aesGcmEncrypt(name('aes128'), pt);
    expect(await token.aesGcmDecrypt(name('aes128'), r128.iv, r128.ciphertext)).toEqual(pt);
  });

  it('fails decryption, and says nothing more, on a wrong AAD, a flipped bit, a wrong key or a short input', async () => {
    const { iv, ciphertext } = await token.aesGcmEncrypt(name('aes256'), Buffer.from('secret'), Buffer.from('ctx'));
    const flipped = Buffer.from(ciphertext);
    flipped[0]! ^= 1;
    const attempts = [
      token.aesGcmDecrypt(name('aes256'), iv, ciphertext, Buffer.from('other')),
      token.aesGcmDecrypt(name('aes256'), iv, ciphertext),
      token.aesGcmDecrypt(name('aes256'), iv, flipped, Buffer.from('ctx')),
      token.aesGcmDecrypt(name('aes128'), iv, ciphertext, Buffer.from('ctx')),
      token.aesGcmDecrypt(name('aes256'), iv, ciphertext.subarray(0, 10), Buffer.from('ctx')),
    ];
    for (const a of attempts) await expect(a).rejects.toBeInstanceOf(DecryptFailedError);
    // and the session is still usable afterwards
    expect(await token.aesGcmDecrypt(name('aes256'), iv, ciphertext, Buffer.from('ctx'))).toEqual(Buffer.from('secret'));
  });

  it('refuses an empty plaintext without leaving an operation active', async () => {
    await expect(token.aesGcmEncrypt(name('aes256'), Buffer.alloc(0))).rejects.toBeInstanceOf(InvalidInputError);
    const r = await token.aesGcmEncrypt(name('aes256'), Buffer.from('x'));
    expect(await token.aesGcmDecrypt(name('aes256'), r.iv, r.ciphertext)).toEqual(Buffer.from('x'));
  });

  it('interoperates with Node’s aes-256-gcm in both directions (same key, same layout)', async () => {
    const keyBytes = crypto.randomBytes(32);
    createKnownAesKey(raw, labelOf(name('interop')), keyBytes, { encrypt: true });
    const aad = Buffer.from('aad-bytes');
    const pt = crypto.randomBytes(4096);
    const t = await token.aesGcmEncrypt(name('interop'), pt, aad);
    expect(nodeGcmDecrypt(keyBytes, t.iv, t.ciphertext, aad)).toEqual(pt);
    const n = nodeGcmEncrypt(keyBytes, pt, aad);
    expect(await token.aesGcmDecrypt(name('interop'), n.iv, n.ciphertext, aad)).toEqual(pt);
  });

  it('reports a missing key as ObjectNotFoundError', async () => {
    await expect(token.aesGcmEncrypt(name('nope'), Buffer.from('x'))).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  // None of the three modules here generates the IV itself (an HSM in a FIPS mode does): asked
  // to, each must fail without handing back a ciphertext made under an IV nobody chose.
  it('asked for a token-generated IV, a token that does not generate one fails, and the session stays usable', async () => {
    const err = await token.aesGcmEncrypt(name('aes256'), Buffer.from('secret'), Buffer.from('ctx'), 'token').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HsmError);
    if (MODULE_UNDER_TEST === 'softhsm2') expect((err as Error).message).toMatch(/generated no IV/);
    const r = await token.aesGcmEncrypt(name('aes256'), Buffer.from('x'));
    expect(await token.aesGcmDecrypt(name('aes256'), r.iv, r.ciphertext)).toEqual(Buffer.from('x'));
  });
});

describe('RSA key pairs', () => {
  beforeAll(async () => {
    await token.generate(name('rsa-dec'), { kind: 'rsa', bits: 2048, usage: { decrypt: true } });
    await token.generate(name('rsa-sign'), { kind: 'rsa', bits: 3072, usage: { sign: true } });
  });

  it('keeps the private key sensitive and non-extractable, with only the usage it needs', () => {
    for (const id of ['rsa-dec', 'rsa-sign']) {
      expect(exportAttempts(labelOf(name(id)), pkcs11js.CKO_PRIVATE_KEY)).toEqual(REFUSED_EXPORT);
    }
    expect(attributes(labelOf(name('rsa-sign')), pkcs11js.CKO_PRIVATE_KEY)).toMatchObject({
      CKA_SIGN: true,
      CKA_DECRYPT: false,
      CKA_UNWRAP: false,
      CKA_SENSITIVE: true,
      CKA_EXTRACTABLE: false,
    });
    expect(attributes(labelOf(name('rsa-dec')), pkcs11js.CKO_PRIVATE_KEY)).toMatchObject({ CKA_SIGN: false, CKA_DECRYPT: true, CKA_UNWRAP: false });
  });

  it('exports the public key as SPKI that Node and OpenSSL read', async () => {
    const pub = await token.exportPublicKey(name('rsa-sign'));
    expect(pub.keyObject.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(pub.pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const text = execFileSync('openssl', ['pkey', '-pubin', '-noout', '-text'], { input: pub.pem }).toString();
    expect(text).toMatch(/Public-Key: \(3072 bit\)/);
  });

  it('decrypts OAEP-SHA1, OAEP-SHA256 and PKCS#1 v1.5 ciphertexts made by Node', async () => {
    const pub = (await token.exportPublicKey(name('rsa-dec'))).keyObject;
    const msg = crypto.randomBytes(32);
    const cases = [
      ['oaep-sha1', { padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }],
      ['oaep-sha256', { padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }],
      ['pkcs1', { padding: crypto.constants.RSA_PKCS1_PADDING }],
    ] as const;
    for (const [scheme, opts] of cases) {
      const ct = crypto.publicEncrypt({ key: pub, ...opts }, msg);
      expect(await token.rsaDecrypt(name('rsa-dec'), ct, scheme), scheme).toEqual(msg);
    }
  });

  it('fails OAEP decryption uniformly on a wrong hash or a corrupted block', async () => {
    const pub = (await token.exportPublicKey(name('rsa-dec'))).keyObject;
    const ct1 = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from('m'));
    await expect(token.rsaDecrypt(name('rsa-dec'), ct1, 'oaep-sha256')).rejects.toBeInstanceOf(DecryptFailedError);
    const ct256 = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('m'));
    await expect(token.rsaDecrypt(name('rsa-dec'), ct256, 'oaep-sha1')).rejects.toBeInstanceOf(DecryptFailedError);
    const bad = Buffer.from(ct256);
    bad[5]! ^= 0xff;
    await expect(token.rsaDecrypt(name('rsa-dec'), bad, 'oaep-sha256')).rejects.toBeInstanceOf(DecryptFailedError);
  });

  it('short or oversized ciphertexts fail cleanly and leave no session with an operation active', async () => {
    const pub = (await token.exportPublicKey(name('rsa-dec'))).keyObject;
    for (const scheme of ['oaep-sha1', 'oaep-sha256', 'pkcs1'] as const) {
      for (const data of [crypto.randomBytes(10), crypto.randomBytes(255), Buffer.alloc(256, 0xff), crypto.randomBytes(300)]) {
        const err = await token.rsaDecrypt(name('rsa-dec'), data, scheme).then(
          () => undefined,
          (e: unknown) => e,
        );
        // NSS answers bad PKCS#1 v1.5 padding with a synthetic plaintext instead of an error
        // (implicit rejection, against Bleichenbacher/Marvin): no oracle either way.
        if (MODULE_UNDER_TEST === 'nss' && scheme === 'pkcs1' && err === undefined) continue;
        expect(err instanceof DecryptFailedError || err instanceof InvalidInputError, `${scheme} ${data.length}: ${String(err)}`).toBe(true);
      }
    }
    // every pool session still works (a poisoned one answered CKR_OPERATION_ACTIVE before)
    const ct = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from('ok'));
    const results = await Promise.all(Array.from({ length: 24 }, () => token.rsaDecrypt(name('rsa-dec'), ct, 'oaep-sha1')));
    for (const r of results) expect(r.toString()).toBe('ok');
  });

  it('signs RSA-PSS and PKCS#1 v1.5 SHA-256 that Node verifies; verification in the token accepts them and nothing else', async () => {
    const pub = (await token.exportPublicKey(name('rsa-sign'))).keyObject;
    const msg = Buffer.from('message to sign');
    const digest = messageDigest('rsa-pss-sha256', msg);
    const pss = await token.sign(name('rsa-sign'), 'rsa-pss-sha256', digest);
    expect(crypto.verify('sha256', msg, { key: pub, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, pss)).toBe(true);
    const v15 = await token.sign(name('rsa-sign'), 'rsa-pkcs1-sha256', digest);
    expect(crypto.verify('sha256', msg, { key: pub, padding: crypto.constants.RSA_PKCS1_PADDING }, v15)).toBe(true);
    expect(await token.verify(name('rsa-sign'), 'rsa-pss-sha256', digest, pss)).toBe(true);
    expect(await token.verify(name('rsa-sign'), 'rsa-pkcs1-sha256', digest, v15)).toBe(true);
    const other = messageDigest('rsa-pss-sha256', Buffer.from('other message'));
    expect(await token.verify(name('rsa-sign'), 'rsa-pss-sha256', other, pss)).toBe(false);
    expect(await token.verify(name('rsa-sign'), 'rsa-pkcs1-sha256', other, v15)).toBe(false);
    expect(await token.verify(name('rsa-sign'), 'rsa-pkcs1-sha256', digest, Buffer.alloc(10))).toBe(false);
  });

  it('generates 4096-bit pairs', async () => {
    await token.generate(name('rsa4096'), { kind: 'rsa', bits: 4096, usage: { sign: true } });
    expect((await token.exportPublicKey(name('rsa4096'))).keyObject.asymmetricKeyDetails?.modulusLength).toBe(4096);
  });

  it('serves many concurrent signatures through the session pool', async () => {
    const pub = (await token.exportPublicKey(name('rsa-sign'))).keyObject;
    const msgs = Array.from({ length: 24 }, (_, i) => Buffer.from(`m${i}`));
    const sigs = await Promise.all(msgs.map((m) => token.sign(name('rsa-sign'), 'rsa-pkcs1-sha256', messageDigest('rsa-pkcs1-sha256', m))));
    sigs.forEach((s, i) => expect(crypto.verify('sha256', msgs[i]!, pub, s)).toBe(true));
  });
});

if (!MODULE_OFFERS.ec) {
  describe(`EC on ${MODULE_UNDER_TEST}`, () => {
    it('is not offered: the capabilities say so, and generating a pair is MechanismUnsupported', async () => {
      expect(token.capabilities.ec).toEqual({ generate: false, ecdsa: false });
      await expect(token.generate(name('ec-none'), { kind: 'ec', curve: 'P-256', usage: { sign: true } })).rejects.toBeInstanceOf(MechanismUnsupportedError);
    });
  });
}

describeWhere(MODULE_OFFERS.ec)('EC key pairs', () => {
  it.each([
    ['P-256', p256, 'prime256v1', 'sha256'],
    ['P-384', p384, 'secp384r1', 'sha384'],
  ] as const)('%s: ECDSA in DER and raw r‖s, checked by Node and @noble/curves', async (curve, noble, osslName, hash) => {
    const n = name(`ec-${curve}`);
    await token.generate(n, { kind: 'ec', curve: curve, usage: { sign: true } });
    expect(exportAttempts(labelOf(n), pkcs11js.CKO_PRIVATE_KEY)).toEqual(REFUSED_EXPORT);
    const pub = await token.exportPublicKey(n);
    expect(pub.keyObject.asymmetricKeyDetails?.namedCurve).toBe(osslName);
    const msg = Buffer.from('ecdsa message');
    const digest = messageDigest('ecdsa', msg, curve);
    const der = await token.sign(n, 'ecdsa', digest, 'der');
    const rawSig = await token.sign(n, 'ecdsa', digest, 'raw');
    expect(rawSig.length).toBe(curve === 'P-256' ? 64 : 96);
    expect(crypto.verify(hash, msg, pub.keyObject, der)).toBe(true);
    expect(crypto.verify(hash, msg, { key: pub.keyObject, dsaEncoding: 'ieee-p1363' }, rawSig)).toBe(true);
    const point = pub.keyObject.export({ format: 'jwk' });
    const uncompressed = Buffer.concat([Buffer.from([4]), Buffer.from(point.x!, 'base64url'), Buffer.from(point.y!, 'base64url')]);
    expect(noble.verify(rawSig, digest, uncompressed, { prehash: false, lowS: false })).toBe(true);
    expect(await token.verify(n, 'ecdsa', digest, der, 'der')).toBe(true);
    expect(await token.verify(n, 'ecdsa', digest, rawSig, 'raw')).toBe(true);
    expect(await token.verify(n, 'ecdsa', messageDigest('ecdsa', Buffer.from('x'), curve), der, 'der')).toBe(false);
    expect(await token.verify(n, 'ecdsa', digest, Buffer.from('3000', 'hex'), 'der')).toBe(false);
  });
});

describeWhere(MODULE_OFFERS.aesGcm)('BYOK import into the token (importAesKey)', () => {
  const staging = name('byok-staging');
  const fpKey = name('byok-fp');
  const context = Buffer.from('fp:key-1');
  let pub: crypto.KeyObject;
  beforeAll(async () => {
    await token.generate(name('byok-wrap'), { kind: 'rsa', bits: 2048, usage: { unwrap: true } });
    await token.generate(staging, { kind: 'aes', bits: 256, usage: { wrap: true, unwrap: true } });
    await token.generate(fpKey, { kind: 'aes', bits: 256, usage: { sign: true } });
    pub = (await token.exportPublicKey(name('byok-wrap'))).keyObject;
  });
  const wrap = (material: Buffer, scheme: 'rsa-oaep-sha1' | 'rsa-pkcs1' = 'rsa-oaep-sha1') =>
    crypto.publicEncrypt(
      scheme === 'rsa-pkcs1' ? { key: pub, padding: crypto.constants.RSA_PKCS1_PADDING } : { key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      material,
    );
  const base = { unwrapper: name('byok-wrap'), bytes: 32 as const, path: 'staging' as const, staging, fingerprint: { key: fpKey, mac: 'cmac' as const, context } };

  it('imports the exact material: non-extractable, interoperates with Node, keyed fingerprint equals a CMAC of the KCV', async () => {
    const material = crypto.randomBytes(32);
    const target = name('byok-target');
    const fp = await token.importAesKey({ ...base, scheme: 'rsa-pkcs1', wrapped: wrap(material, 'rsa-pkcs1'), target: { name: target, usage: { encrypt: true, decrypt: true } } });
    expect(exportAttempts(labelOf(target), pkcs11js.CKO_SECRET_KEY)).toEqual(REFUSED_EXPORT);
    const r = await token.aesGcmEncrypt(target, Buffer.from('byok'));
    expect(nodeGcmDecrypt(material, r.iv, r.ciphertext)).toEqual(Buffer.from('byok'));
    const e = nodeGcmEncrypt(material, Buffer.from('from node'));
    expect(await token.aesGcmDecrypt(target, e.iv, e.ciphertext)).toEqual(Buffer.from('from node'));
    // The fingerprint is CMAC_fp(context ‖ AES-ECB_material(0^16)), computed independently.
    const ecb = crypto.createCipheriv('aes-256-ecb', material, null).setAutoPadding(false);
    const kcv = Buffer.concat([ecb.update(Buffer.alloc(16)), ecb.final()]);
    expect(fp).toEqual(await token.cmac(fpKey, Buffer.concat([context, kcv])));
    expect(fp).toHaveLength(16);
    // The same material again (another wrapping): same fingerprint, accepted with expectFingerprint.
    expect(await token.importAesKey({ ...base, scheme: 'rsa-oaep-sha1', wrapped: wrap(material), expectFingerprint: fp })).toEqual(fp);
    // Other material: refused, the target untouched.
    await expect(
      token.importAesKey({ ...base, scheme: 'rsa-oaep-sha1', wrapped: wrap(crypto.randomBytes(32)), expectFingerprint: fp, target: { name: target, usage: { encrypt: true } } }),
    ).rejects.toMatchObject({ code: 'MaterialMismatch' });
    expect(await token.aesGcmDecrypt(target, e.iv, e.ciphertext)).toEqual(Buffer.from('from node'));
  });

  it.each([16, 20, 24, 25, 31, 33, 40, 48])('refuses %i-byte material for a 256-bit key, creating nothing', async (n) => {
    const target = name(`byok-size-${n}`);
    await expect(
      token.importAesKey({ ...base, scheme: 'rsa-oaep-sha1', wrapped: wrap(crypto.randomBytes(n)), target: { name: target, usage: { encrypt: true } } }),
    ).rejects.toBeInstanceOf(MaterialSizeError);
    expect(await token.exists(target)).toBe(false);
  });

  it('refuses garbage and tampered ciphertexts as DecryptFailed, creating nothing', async () => {
    const target = name('byok-garbage');
    const tampered = wrap(crypto.randomBytes(32));
    tampered[7]! ^= 0x40;
    for (const wrapped of [tampered, crypto.randomBytes(256), Buffer.alloc(256), crypto.randomBytes(17)]) {
      await expect(token.importAesKey({ ...base, scheme: 'rsa-oaep-sha1', wrapped, target: { name: target, usage: { encrypt: true } } })).rejects.toBeInstanceOf(
        DecryptFailedError,
      );
    }
    expect(await token.exists(target)).toBe(false);
    // no session object is left behind either
    expect((await token.listObjects()).filter((o) => o.name.keyId.startsWith('byok-garbage'))).toHaveLength(0);
  });

  it('a wrapping key made for unwrap only cannot decrypt (CKA_DECRYPT false)', async () => {
    await expect(token.rsaDecrypt(name('byok-wrap'), wrap(crypto.randomBytes(32)), 'oaep-sha1')).rejects.toThrow();
  });
});

describe('random, naming, destroy, KEK', () => {
  it('returns token randomness of the requested length', async () => {
    const a = await token.random(32);
    const b = await token.random(32);
    expect(a.length).toBe(32);
    expect(a.equals(b)).toBe(false);
    await expect(token.random(0)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('names objects by service key id and version in label and CKA_ID', async () => {
    await token.generate(name('versioned', 2), { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
    const [h] = raw.find('hsmkms/versioned/v2', pkcs11js.CKO_SECRET_KEY);
    const [id] = raw.p11.C_GetAttributeValue(raw.session, h!, [{ type: pkcs11js.CKA_ID }]);
    expect((id!.value as Buffer).toString()).toBe('hsmkms/versioned/v2');
    const listed = await token.listObjects();
    expect(listed).toContainEqual({ name: { keyId: 'versioned', version: 2 }, kind: 'secret' });
    expect(
      listed
        .filter((o) => o.name.keyId === 'rsa-dec')
        .map((o) => o.kind)
        .sort(),
    ).toEqual(['private', 'public']);
  });

  it('destroys both halves of a pair and every cached handle', async () => {
    // A signing pair of a kind the module has (RSA everywhere; EC where offered).
    const sign = (n: ReturnType<typeof name>) =>
      MODULE_OFFERS.ec ? token.sign(n, 'ecdsa', messageDigest('ecdsa', Buffer.from('x'))) : token.sign(n, 'rsa-pss-sha256', messageDigest('rsa-pss-sha256', Buffer.from('x')));
    await token.generate(name('doomed'), MODULE_OFFERS.ec ? { kind: 'ec', curve: 'P-256', usage: { sign: true } } : { kind: 'rsa', bits: 2048, usage: { sign: true } });
    await sign(name('doomed'));
    expect(await token.destroy(name('doomed'))).toBe(2);
    expect(await token.exists(name('doomed'))).toBe(false);
    await expect(sign(name('doomed'))).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await token.destroy(name('doomed'))).toBe(0);
    // an AES key with a session copy in use is gone from every path too (CBC-PAD where there is no GCM)
    await token.generate(name('doomed-aes'), { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
    const use = () =>
      MODULE_OFFERS.aesGcm ? token.aesGcmEncrypt(name('doomed-aes'), Buffer.from('x')) : token.aesCbcPadEncrypt(name('doomed-aes'), Buffer.alloc(16), Buffer.from('x'));
    await use();
    await token.destroy(name('doomed-aes'));
    await expect(use()).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it('a listing indexes handles: listed keys are used without a find, later ones are still found', async () => {
    // A second Token on the same token: another process's view, with caches of its own.
    const other = await openModuleToken(tt);
    try {
      // Counts the finds the other Token starts (a find is a scan of every object in SoftHSM2).
      const p11 = (other as unknown as { conn: { p11: pkcs11js.PKCS11 } }).conn.p11;
      const init = p11.C_FindObjectsInit.bind(p11);
      let finds = 0;
      p11.C_FindObjectsInit = (session, template) => {
        finds++;
        return init(session, template);
      };
      // AES-GCM and ECDSA where the module has them; AES-CBC-PAD and RSA-PSS where not.
      const seal = async (t: Token, n: ReturnType<typeof name>) =>
        MODULE_OFFERS.aesGcm ? (await t.aesGcmEncrypt(n, Buffer.from('indexed'))).ciphertext : t.aesCbcPadEncrypt(n, Buffer.alloc(16), Buffer.from('indexed'));
      const scheme = MODULE_OFFERS.ec ? ('ecdsa' as const) : ('rsa-pss-sha256' as const);
      const listedKey = name(`indexed-${crypto.randomUUID()}`);
      const listedPair = name(`indexed-pair-${crypto.randomUUID()}`);
      await token.generate(listedKey, { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
      await token.generate(listedPair, MODULE_OFFERS.ec ? { kind: 'ec', curve: 'P-256', usage: { sign: true } } : { kind: 'rsa', bits: 2048, usage: { sign: true } });
      expect((await other.listObjects()).length).toBeGreaterThanOrEqual(3);
      finds = 0;
      await seal(other, listedKey);
      const digest = messageDigest(scheme, Buffer.from('indexed'));
      const signature = await other.sign(listedPair, scheme, digest);
      expect(finds).toBe(0);
      // The handles are the right objects: the first Token, which found them by name, agrees.
      expect(await token.verify(listedPair, scheme, digest, signature)).toBe(true);
      // Made after the listing: not in the index, found by name at its first use.
      const later = name(`later-${crypto.randomUUID()}`);
      await token.generate(later, { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
      await seal(other, later);
      expect(finds).toBeGreaterThan(0);
    } finally {
      other.close();
    }
  });

  // aes-gcm-token-iv needs a token that generates the GCM IV; none of the three here does (below).
  it.each(KEK_SCHEMES.filter((scheme) => scheme === 'aes-cbc-hmac-sha256' || (scheme === 'aes-gcm' && MODULE_OFFERS.aesGcm)))(
    'seals secrets under the token KEK (%s), bound to their context',
    async (scheme) => {
      const kek = await Kek.ensure(token, scheme);
      const again = await Kek.ensure(token, scheme); // idempotent
      const secret = Buffer.from('an API secret key');
      const blob = await kek.seal(secret, 'credential:AKID1');
      expect(blob.includes(secret)).toBe(false);
      expect(blob[1]).toBe(scheme === 'aes-gcm' ? 1 : 2); // the blob names its scheme
      expect(await again.open(blob, 'credential:AKID1')).toEqual(secret);
      await expect(kek.open(blob, 'credential:AKID2')).rejects.toBeInstanceOf(DecryptFailedError);
      for (const at of [blob.length - 1, blob.length - 40, 10]) {
        const tampered = Buffer.from(blob);
        tampered[at]! ^= 1;
        await expect(kek.open(tampered, 'credential:AKID1'), `byte ${at}`).rejects.toBeInstanceOf(DecryptFailedError);
      }
      await expect(kek.open(Buffer.from('junk'), 'credential:AKID1')).rejects.toBeInstanceOf(DecryptFailedError);
    },
  );

  it('the token-generated-IV KEK scheme seals nothing on a token that does not generate the IV', async () => {
    const kek = await Kek.ensure(token, 'aes-gcm-token-iv');
    await expect(kek.seal(Buffer.from('an API secret key'), 'ctx')).rejects.toBeInstanceOf(HsmError);
  });

  it('opens what either scheme sealed, whichever seals new secrets (a token or profile change)', async () => {
    const cbc = await Kek.ensure(token, 'aes-cbc-hmac-sha256');
    const sealed = await cbc.seal(Buffer.from('kept'), 'ctx');
    if (MODULE_OFFERS.aesGcm) {
      const gcmKek = await Kek.ensure(token, 'aes-gcm');
      expect(await gcmKek.open(sealed, 'ctx')).toEqual(Buffer.from('kept'));
      expect(await cbc.open(await gcmKek.seal(Buffer.from('new'), 'ctx'), 'ctx')).toEqual(Buffer.from('new'));
    } else {
      expect(await new Kek(token, 'aes-gcm').open(sealed, 'ctx')).toEqual(Buffer.from('kept'));
    }
  });
});

// pkcs11-tool passes no C_Initialize string (NSS needs one) and openCryptoki's soft token lacks
// EC and AES-GCM: the custody suite (test/modules/custody.test.ts) reads every module back
// through graphene-pk11 instead.
describeWhere(MODULE_UNDER_TEST === 'softhsm2')('independent check with OpenSC pkcs11-tool', () => {
  it('lists the generated keys as sensitive, never extractable, local', () => {
    const out = execFileSync('pkcs11-tool', ['--module', tt.module, '--token-label', tt.label, '--login', '--pin', tt.pin, '--list-objects'], { env: tt.env }).toString();
    const block = (label: string, kind: string) => {
      const blocks = out.split(/\n(?=\S)/).filter((b) => b.startsWith(kind) && b.includes(`label:      ${label}`));
      expect(blocks, `${kind} ${label} in pkcs11-tool output`).toHaveLength(1);
      return blocks[0]!;
    };
    const access = (label: string, kind: string) => /Access:\s+(.*)/.exec(block(label, kind))![1]!.split(', ');
    // generated in the token: sensitive from birth, never extractable, local
    for (const [label, kind] of [
      ['hsmkms/aes256/v1', 'Secret Key Object'],
      ['hsmkms/rsa-sign/v1', 'Private Key Object'],
      ['hsmkms/ec-P-256/v1', 'Private Key Object'],
    ] as const) {
      expect(access(label, kind), label).toEqual(expect.arrayContaining(['sensitive', 'always sensitive', 'never extractable', 'local']));
      expect(access(label, kind), label).not.toContain('extractable');
    }
    // imported (BYOK): sensitive and not extractable (not 'local': it came from outside)
    expect(access('hsmkms/byok-target/v1', 'Secret Key Object')).toContain('sensitive');
    expect(access('hsmkms/byok-target/v1', 'Secret Key Object')).not.toContain('extractable');
    expect(block('hsmkms/rsa-sign/v1', 'Private Key Object')).toMatch(/Usage:\s+sign\s*$/m);
  });
});

describe('recovery', () => {
  it('recovers when every session is closed under the pool', async () => {
    const kek = await Kek.ensure(token, MODULE_OFFERS.aesGcm ? 'aes-gcm' : 'aes-cbc-hmac-sha256');
    const before = await kek.seal(Buffer.from('before'), 'ctx');
    raw.p11.C_CloseAllSessions(raw.slot);
    expect(await kek.open(before, 'ctx')).toEqual(Buffer.from('before'));
    const sig = await token.sign(name('rsa-sign'), 'rsa-pss-sha256', messageDigest('rsa-pss-sha256', Buffer.from('after')));
    expect(sig.length).toBe(384);
    raw = rawSession(tt.label, tt.env);
  });
});

// Taking a token away under a running process is done by moving SoftHSM2's token directory.
describeWhere(MODULE_UNDER_TEST === 'softhsm2')('recovery when the token goes away', () => {
  it('fails with TokenUnavailableError while the token is gone, and comes back when it returns', async () => {
    const fast = await openModuleToken(tt, { recoverTimeoutMs: 300 });
    const tokenDir = path.join(tt.dataDir, 'tokens');
    try {
      const ct = await fast.aesGcmEncrypt(name('aes256'), Buffer.from('survives'));
      renameSync(tokenDir, `${tokenDir}.away`);
      try {
        await expect(fast.sign(name('rsa-sign'), 'rsa-pss-sha256', messageDigest('rsa-pss-sha256', Buffer.from('x')))).rejects.toBeInstanceOf(TokenUnavailableError);
        expect(await fast.healthy()).toBe(false);
      } finally {
        renameSync(`${tokenDir}.away`, tokenDir);
      }
      expect(await fast.healthy()).toBe(true);
      expect(await fast.aesGcmDecrypt(name('aes256'), ct.iv, ct.ciphertext)).toEqual(Buffer.from('survives'));
      expect((await fast.sign(name('rsa-sign'), 'rsa-pss-sha256', messageDigest('rsa-pss-sha256', Buffer.from('x')))).length).toBe(384);
      // the other Token on the same library recovers as well
      expect(await token.healthy()).toBe(true);
    } finally {
      fast.close();
    }
    raw = rawSession(tt.label, tt.env);
  });
});
