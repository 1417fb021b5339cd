import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfile } from '../../src/pkcs11/profile.js';
import { createModuleToken, initializeOptions, MODULE_UNDER_TEST, type ModuleName, type ModuleToken, openRaw, type RawModule, trimLabel } from '../helpers/modules.js';

// What the token layer may rely on, per PKCS#11 module, checked with raw pkcs11js (not our token
// layer) on a fresh token of KMS_TEST_MODULE (softhsm2 | nss | opencryptoki; CI runs each). The
// facts are those of hsm/<module>.json: when a module upgrade changes one, this fails and the
// profile is updated with it. Known-value keys are made with C_CreateObject only to compare the
// token's output with Node's; the service never does that.

const P = pkcs11js;
const M: ModuleName = MODULE_UNDER_TEST;
const REPO = path.resolve(import.meta.dirname, '..', '..');

// The measured differences between the modules (hsm/softhsm2.json, nss.json, opencryptoki.json).
const FACTS = {
  softhsm2: {
    gcm: ['v240', 'AES_GCM', 'GCM'],
    gcmBadTag: 'CKR_GENERAL_ERROR',
    ec: true,
    cmac: true,
    kw: true,
    rfc5649: 0x210a,
    oaepSha256: false,
    tokenData: true,
    unwrapHonoursAttributes: true,
    valueLenAfterUnwrap: 0,
    copyUnmodifiable: false,
    hmacWithAesKey: false,
    hmacVerifyAcceptsPrefix: false,
    cbcPadChecksPadding: true,
    wrapEnforcesExtractable: true,
    sha256RsaPkcs: true,
  },
  nss: {
    gcm: ['v240', 'GCM'],
    gcmBadTag: 'CKR_ENCRYPTED_DATA_INVALID',
    ec: true,
    cmac: true,
    kw: true,
    rfc5649: 0x210b,
    oaepSha256: true,
    tokenData: false,
    unwrapHonoursAttributes: true,
    valueLenAfterUnwrap: 32,
    copyUnmodifiable: true,
    hmacWithAesKey: true,
    hmacVerifyAcceptsPrefix: true,
    cbcPadChecksPadding: true,
    wrapEnforcesExtractable: false,
    sha256RsaPkcs: true,
  },
  opencryptoki: {
    gcm: [],
    gcmBadTag: undefined,
    ec: false,
    cmac: false,
    kw: false,
    rfc5649: undefined,
    oaepSha256: true,
    tokenData: true,
    unwrapHonoursAttributes: false,
    valueLenAfterUnwrap: 32,
    copyUnmodifiable: true,
    hmacWithAesKey: false,
    hmacVerifyAcceptsPrefix: true,
    cbcPadChecksPadding: false,
    wrapEnforcesExtractable: true,
    sha256RsaPkcs: false,
  },
} as const;
const F = FACTS[M];

const GCM_FORMS = { v240: P.CK_PARAMS_AES_GCM_v240, AES_GCM: P.CK_PARAMS_AES_GCM, GCM: P.CK_PARAMS_GCM } as const;
const CKZ_DATA_SPECIFIED = 1;
const CKR_NSS_CERTDB_FAILED = 0xce534351;

let token: ModuleToken;
let raw: RawModule;
let p11: pkcs11js.PKCS11;
let s: Buffer;

/** The CKR name a call fails with ('OK' when it does not), whatever form pkcs11js threw it in. */
function ckr(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (err) {
    return /^(CKR_[A-Z0-9_]+)/.exec((err as Error).message)?.[1] ?? (err as Error).message;
  }
}

type Usage = { enc?: boolean; wrap?: boolean; sign?: boolean };
function secretTemplate(o: Usage & { token?: boolean; label: string; modifiable?: boolean; extractable?: boolean; keyType?: number; valueLen?: number | null }): pkcs11js.Template {
  const t: pkcs11js.Template = [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_KEY_TYPE, value: o.keyType ?? P.CKK_AES },
    { type: P.CKA_TOKEN, value: o.token ?? false },
    { type: P.CKA_PRIVATE, value: true },
    { type: P.CKA_SENSITIVE, value: true },
    { type: P.CKA_EXTRACTABLE, value: o.extractable ?? false },
    { type: P.CKA_MODIFIABLE, value: o.modifiable ?? true },
    { type: P.CKA_ENCRYPT, value: !!o.enc },
    { type: P.CKA_DECRYPT, value: !!o.enc },
    { type: P.CKA_WRAP, value: !!o.wrap },
    { type: P.CKA_UNWRAP, value: !!o.wrap },
    { type: P.CKA_SIGN, value: !!o.sign },
    { type: P.CKA_VERIFY, value: !!o.sign },
    { type: P.CKA_DERIVE, value: false },
    { type: P.CKA_LABEL, value: o.label },
  ];
  // CKA_VALUE_LEN belongs to generation only: C_CreateObject/C_UnwrapKey refuse it (CKR_ATTRIBUTE_READ_ONLY).
  if (o.valueLen !== null) t.push({ type: P.CKA_VALUE_LEN, value: o.valueLen ?? 32 });
  return t;
}
const generateAes = (o: Usage & { token?: boolean; label: string; modifiable?: boolean }) => p11.C_GenerateKey(s, { mechanism: P.CKM_AES_KEY_GEN }, secretTemplate(o));
const knownKey = (value: Buffer, o: Usage & { label: string; extractable?: boolean; keyType?: number }) =>
  p11.C_CreateObject(s, [...secretTemplate({ ...o, valueLen: null }), { type: P.CKA_VALUE, value }]);
function bool(h: Buffer, type: number): boolean {
  return p11.C_GetAttributeValue(s, h, [{ type }])[0]!.value![0] === 1;
}
function ulong(h: Buffer, type: number): number {
  const v = p11.C_GetAttributeValue(s, h, [{ type }])[0]!.value as Buffer;
  return v.readUIntLE(0, Math.min(6, v.length));
}
function find(template: pkcs11js.Template): Buffer[] {
  p11.C_FindObjectsInit(s, template);
  try {
    return p11.C_FindObjects(s, 64);
  } finally {
    p11.C_FindObjectsFinal(s);
  }
}
const ecb = (h: Buffer, block = Buffer.alloc(16)) => {
  p11.C_EncryptInit(s, { mechanism: P.CKM_AES_ECB }, h);
  return Buffer.from(p11.C_Encrypt(s, block, Buffer.alloc(16)));
};
const nodeEcb = (key: Buffer) => {
  const c = crypto.createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
  c.setAutoPadding(false);
  return c.update(Buffer.alloc(16));
};
const gcmMech = (form: keyof typeof GCM_FORMS, iv: Buffer, aad: Buffer): pkcs11js.Mechanism => ({
  mechanism: P.CKM_AES_GCM,
  parameter: { type: GCM_FORMS[form], iv, ivBits: iv.length * 8, aad, tagBits: 128 } as pkcs11js.IParams,
});
const oaep = (hash: 'sha1' | 'sha256'): pkcs11js.Mechanism => ({
  mechanism: P.CKM_RSA_PKCS_OAEP,
  parameter: {
    type: P.CK_PARAMS_RSA_OAEP,
    hashAlg: hash === 'sha1' ? P.CKM_SHA_1 : P.CKM_SHA256,
    mgf: hash === 'sha1' ? P.CKG_MGF1_SHA1 : P.CKG_MGF1_SHA256,
    source: CKZ_DATA_SPECIFIED,
  } as pkcs11js.IParams,
});

/** A child Node process using pkcs11js on this token (C_Initialize is process-wide). */
function child(code: string, env: NodeJS.ProcessEnv = {}, cwd = REPO) {
  // pkcs11js from this repository whatever the child's working directory.
  const prelude = `import { createRequire } from 'node:module'; const P = createRequire(${JSON.stringify(path.join(REPO, 'package.json'))})('pkcs11js'); const p11 = new P.PKCS11(); p11.load(process.env.LIB);`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', prelude + code], {
    cwd,
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      PATH: process.env.PATH,
      ...(token.env.SOFTHSM2_CONF ? { SOFTHSM2_CONF: token.env.SOFTHSM2_CONF } : {}),
      LIB: token.module,
      LABEL: token.label,
      PIN: token.pin,
      INIT: JSON.stringify(initializeOptions(token)),
      ...env,
    },
  });
}
const childOpen = `
const init = JSON.parse(process.env.INIT);
let slot;
for (let i = 0; i < 10 && !slot; i++) {
  if (i) { p11.C_Finalize(); await new Promise((r) => setTimeout(r, 50 * i)); }
  p11.C_Initialize(init);
  slot = p11.C_GetSlotList(true).find((x) => p11.C_GetTokenInfo(x).label.replace(/[\\s\\0]+$/, '') === process.env.LABEL);
}
const s = p11.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);`;

beforeAll(async () => {
  token = createModuleToken(M, `hsmkms-probe-${M}-`);
  console.info(`${M}: fresh token provisioned in ${token.provisionSeconds.toFixed(2)} s`);
  raw = await openRaw(token);
  p11 = raw.p11;
  s = raw.session;
});

afterAll(() => {
  raw?.finalize();
  token?.cleanup();
});

describe(`PKCS#11 module facts: ${M}`, () => {
  it('has a token labelled hsmkms in its own slot, the generated user PIN logs in once per process', () => {
    const info = p11.C_GetTokenInfo(raw.slot);
    expect(trimLabel(info.label)).toBe('hsmkms');
    expect(info.flags & P.CKF_USER_PIN_INITIALIZED).toBeTruthy();
    expect(ckr(() => p11.C_Login(s, P.CKU_USER, token.pin))).toBe('CKR_USER_ALREADY_LOGGED_IN');
    const labels = p11.C_GetSlotList(true).map((x) => trimLabel(p11.C_GetTokenInfo(x).label));
    if (M === 'nss') {
      // Slot 1: NSS Internal Cryptographic Services (no database); slot 2: the database, labelled by dbTokenDescription.
      expect(labels).toEqual(['NSS Generic Crypto Services', 'hsmkms']);
      expect(raw.slot.readUInt32LE(0)).toBe(2);
      expect([info.minPinLen, info.maxPinLen]).toEqual([0, 500]);
    }
    if (M === 'opencryptoki') {
      expect(raw.slot.readUInt32LE(0)).toBe(3);
      expect(info.model.trim()).toBe('IBM SoftTok');
      expect([info.minPinLen, info.maxPinLen]).toEqual([4, 8]);
      expect(token.pin.length).toBeLessThanOrEqual(8);
    }
  });

  it('lists exactly the mechanisms its profile marks available (those with a pkcs11js number)', () => {
    const listed = new Set(p11.C_GetMechanismList(raw.slot));
    const profile = loadProfile(M);
    const checked = Object.entries(profile.mechanisms).filter(([n]) => typeof (P as unknown as Record<string, unknown>)[n] === 'number');
    expect(checked.length).toBeGreaterThan(10);
    for (const [n, m] of checked) expect(listed.has((P as unknown as Record<string, number>)[n]!), n).toBe(m.available);
    expect(profile.tested).toBe(true);
  });

  it('generates AES-256 token keys from a complete template, sensitive and non-extractable', () => {
    const k = generateAes({ token: true, enc: true, label: 'probe-kek' });
    expect([bool(k, P.CKA_SENSITIVE), bool(k, P.CKA_EXTRACTABLE), bool(k, P.CKA_TOKEN), ulong(k, P.CKA_VALUE_LEN)]).toEqual([true, false, true, 32]);
    expect(ckr(() => p11.C_GetAttributeValue(s, k, [{ type: P.CKA_VALUE }]))).toBe('CKR_ATTRIBUTE_SENSITIVE');
    expect(find([{ type: P.CKA_LABEL, value: 'probe-kek' }])).toHaveLength(1);
    expect(p11.C_GenerateRandom(s, Buffer.alloc(32))).toHaveLength(32);
  });

  it('AES-GCM with the caller’s 12-byte IV and AAD: which pkcs11js parameter forms work, ciphertext‖tag as Node makes it', () => {
    const kv = crypto.randomBytes(32);
    const k = knownKey(kv, { enc: true, label: 'probe-gcm' });
    const iv = crypto.randomBytes(12);
    const aad = Buffer.from('aad');
    const pt = Buffer.from('hsmkms AES-GCM probe');
    const c = crypto.createCipheriv('aes-256-gcm', kv, iv).setAAD(aad);
    const expected = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
    if (F.gcm.length === 0) {
      expect(ckr(() => p11.C_EncryptInit(s, gcmMech('v240', iv, aad), k))).toBe('CKR_MECHANISM_INVALID');
      return;
    }
    // NSS: CK_PARAMS_AES_GCM (the struct without ulIvBits) fails now and then (~2 % of calls,
    // CKR_MECHANISM_PARAM_INVALID), so it is not among NSS's forms.
    for (const form of F.gcm) {
      p11.C_EncryptInit(s, gcmMech(form, iv, aad), k);
      expect(Buffer.from(p11.C_Encrypt(s, pt, Buffer.alloc(pt.length + 16))), form).toEqual(expected);
      p11.C_DecryptInit(s, gcmMech(form, iv, aad), k);
      expect(Buffer.from(p11.C_Decrypt(s, expected, Buffer.alloc(expected.length))), form).toEqual(pt);
    }
    // No token-generated IV: an all-zero IV handed in is used as it is (pkcs11js passes the Buffer's memory).
    const zero = Buffer.alloc(12);
    p11.C_EncryptInit(s, gcmMech('v240', zero, aad), k);
    const ct = Buffer.from(p11.C_Encrypt(s, pt, Buffer.alloc(pt.length + 16)));
    expect(zero.equals(Buffer.alloc(12))).toBe(true);
    const z = crypto.createCipheriv('aes-256-gcm', kv, zero).setAAD(aad);
    expect(ct).toEqual(Buffer.concat([z.update(pt), z.final(), z.getAuthTag()]));
    const bad = Buffer.from(expected);
    bad[bad.length - 1]! ^= 1;
    p11.C_DecryptInit(s, gcmMech('v240', iv, aad), k);
    expect(ckr(() => p11.C_Decrypt(s, bad, Buffer.alloc(bad.length)))).toBe(F.gcmBadTag);
  });

  it('AES-CBC-PAD with the caller’s IV equals Node’s aes-256-cbc (every module); padding checked or not', () => {
    const kv = crypto.randomBytes(32);
    const k = knownKey(kv, { enc: true, label: 'probe-cbc' });
    const iv = crypto.randomBytes(16);
    const pt = Buffer.from('the KEK scheme without AES-GCM: AES-CBC-PAD + HMAC-SHA256');
    p11.C_EncryptInit(s, { mechanism: P.CKM_AES_CBC_PAD, parameter: iv }, k);
    const ct = Buffer.from(p11.C_Encrypt(s, pt, Buffer.alloc(pt.length + 16)));
    const c = crypto.createCipheriv('aes-256-cbc', kv, iv);
    expect(ct).toEqual(Buffer.concat([c.update(pt), c.final()]));
    p11.C_DecryptInit(s, { mechanism: P.CKM_AES_CBC_PAD, parameter: iv }, k);
    expect(Buffer.from(p11.C_Decrypt(s, ct, Buffer.alloc(ct.length)))).toEqual(pt);
    ct[ct.length - 1]! ^= 0x55;
    p11.C_DecryptInit(s, { mechanism: P.CKM_AES_CBC_PAD, parameter: iv }, k);
    const r = ckr(() => p11.C_Decrypt(s, ct, Buffer.alloc(ct.length)));
    // openCryptoki returns data for a corrupted last block: the MAC must be checked first.
    expect(r === 'OK').toBe(!F.cbcPadChecksPadding);
  });

  it('HMAC-SHA256 with a generic secret key equals Node’s; with an AES key only on NSS; C_Verify’s length check', () => {
    const gen = p11.C_GenerateKey(s, { mechanism: P.CKM_GENERIC_SECRET_KEY_GEN }, secretTemplate({ token: true, sign: true, label: 'probe-hmac', keyType: P.CKK_GENERIC_SECRET }));
    expect(ulong(gen, P.CKA_VALUE_LEN)).toBe(32);
    const msg = Buffer.from('message');
    for (const [keyType, expectOk] of [
      [P.CKK_GENERIC_SECRET, true],
      [P.CKK_AES, F.hmacWithAesKey],
    ] as const) {
      const kv = crypto.randomBytes(32);
      const k = knownKey(kv, { sign: true, label: 'probe-hmac-known', keyType });
      const r = ckr(() => p11.C_SignInit(s, { mechanism: P.CKM_SHA256_HMAC }, k));
      expect(r === 'OK', `HMAC with key type ${keyType}`).toBe(expectOk);
      if (r !== 'OK') {
        expect(r).toBe('CKR_KEY_TYPE_INCONSISTENT');
        continue;
      }
      expect(Buffer.from(p11.C_Sign(s, msg, Buffer.alloc(32)))).toEqual(crypto.createHmac('sha256', kv).update(msg).digest());
    }
    p11.C_SignInit(s, { mechanism: P.CKM_SHA256_HMAC }, gen);
    const mac = Buffer.from(p11.C_Sign(s, msg, Buffer.alloc(32)));
    p11.C_VerifyInit(s, { mechanism: P.CKM_SHA256_HMAC }, gen);
    expect(p11.C_Verify(s, msg, mac)).toBe(true);
    // NSS and openCryptoki verify a 1-byte prefix of the MAC as valid: compare C_Sign output instead.
    p11.C_VerifyInit(s, { mechanism: P.CKM_SHA256_HMAC }, gen);
    const prefix = ckr(() => {
      if (!p11.C_Verify(s, msg, mac.subarray(0, 1))) throw new Error('CKR_SIGNATURE_INVALID');
    });
    expect(prefix === 'OK').toBe(F.hmacVerifyAcceptsPrefix);
  });

  it('AES key wrap (RFC 3394) and RFC 5649 under their numbers here, AES-ECB check values, AES-CMAC', () => {
    const kv = crypto.randomBytes(32);
    const wk = knownKey(kv, { wrap: true, enc: true, sign: true, label: 'probe-wk' });
    const tv = crypto.randomBytes(32);
    const target = knownKey(tv, { enc: true, extractable: true, label: 'probe-wrapped' });
    expect(ecb(target)).toEqual(nodeEcb(tv));
    const nodeWrap = (alg: string, iv: string) => {
      const c = crypto.createCipheriv(alg, kv, Buffer.from(iv, 'hex'));
      return Buffer.concat([c.update(tv), c.final()]);
    };
    const kw = ckr(() => p11.C_WrapKey(s, { mechanism: P.CKM_AES_KEY_WRAP }, wk, target, Buffer.alloc(64)));
    expect(kw === 'OK').toBe(F.kw);
    if (F.kw) {
      expect(Buffer.from(p11.C_WrapKey(s, { mechanism: P.CKM_AES_KEY_WRAP }, wk, target, Buffer.alloc(64)))).toEqual(nodeWrap('id-aes256-wrap', 'a6a6a6a6a6a6a6a6'));
      const rfc5649 = nodeWrap('id-aes256-wrap-pad', 'a65959a6');
      expect(Buffer.from(p11.C_WrapKey(s, { mechanism: F.rfc5649! }, wk, target, Buffer.alloc(64)))).toEqual(rfc5649);
      const back = p11.C_UnwrapKey(s, { mechanism: F.rfc5649! }, wk, rfc5649, secretTemplate({ enc: true, label: 'probe-kwp', valueLen: null }));
      expect(ecb(back)).toEqual(nodeEcb(tv));
      if (M === 'nss') {
        // NSS's 0x210A (CKM_AES_KEY_WRAP_PAD) is RFC 3394 over the key PKCS#7-padded to 8 bytes, not RFC 5649.
        expect(ckr(() => p11.C_UnwrapKey(s, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, wk, rfc5649, secretTemplate({ enc: true, label: 'x', valueLen: null })))).toBe(
          'CKR_WRAPPED_KEY_INVALID',
        );
        const c = crypto.createCipheriv('id-aes256-wrap', kv, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
        expect(Buffer.from(p11.C_WrapKey(s, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, wk, target, Buffer.alloc(64)))).toEqual(
          Buffer.concat([c.update(Buffer.concat([tv, Buffer.alloc(8, 8)])), c.final()]),
        );
      }
    } else {
      expect(kw).toBe('CKR_MECHANISM_INVALID');
      // Without AES key wrap, AES-ECB and AES-CBC-PAD wrap and unwrap keys.
      const w = Buffer.from(p11.C_WrapKey(s, { mechanism: P.CKM_AES_ECB }, wk, target, Buffer.alloc(64)));
      expect(w).toHaveLength(32);
      const back = p11.C_UnwrapKey(s, { mechanism: P.CKM_AES_ECB }, wk, w, secretTemplate({ enc: true, label: 'probe-ecb-unwrapped', valueLen: 32 }));
      expect(ecb(back)).toEqual(nodeEcb(tv));
    }
    const m = ckr(() => p11.C_SignInit(s, { mechanism: P.CKM_AES_CMAC }, wk));
    expect(m === 'OK').toBe(F.cmac);
    if (F.cmac) expect(p11.C_Sign(s, Buffer.alloc(20), Buffer.alloc(16))).toHaveLength(16);
  });

  it('RSA-2048: PKCS#1 v1.5, OAEP-SHA1 and (NSS, openCryptoki) OAEP-SHA256 decrypt and unwrap; raw RSA; PSS over a digest', async () => {
    const pub: pkcs11js.Template = [
      { type: P.CKA_CLASS, value: P.CKO_PUBLIC_KEY },
      { type: P.CKA_KEY_TYPE, value: P.CKK_RSA },
      { type: P.CKA_TOKEN, value: true },
      { type: P.CKA_PRIVATE, value: false },
      { type: P.CKA_VERIFY, value: true },
      { type: P.CKA_ENCRYPT, value: true },
      { type: P.CKA_WRAP, value: true },
      { type: P.CKA_LABEL, value: 'probe-rsa' },
      { type: P.CKA_MODULUS_BITS, value: 2048 },
      { type: P.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
    ];
    const priv: pkcs11js.Template = [
      { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
      { type: P.CKA_KEY_TYPE, value: P.CKK_RSA },
      { type: P.CKA_TOKEN, value: true },
      { type: P.CKA_PRIVATE, value: true },
      { type: P.CKA_SENSITIVE, value: true },
      { type: P.CKA_EXTRACTABLE, value: false },
      { type: P.CKA_MODIFIABLE, value: false },
      { type: P.CKA_SIGN, value: true },
      { type: P.CKA_DECRYPT, value: true },
      { type: P.CKA_UNWRAP, value: true },
      { type: P.CKA_DERIVE, value: false },
      { type: P.CKA_LABEL, value: 'probe-rsa' },
    ];
    const kp = await p11.C_GenerateKeyPairAsync(s, { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN }, pub, priv);
    const [n, e] = p11.C_GetAttributeValue(s, kp.publicKey, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]);
    const key = crypto.createPublicKey({ key: { kty: 'RSA', n: (n!.value as Buffer).toString('base64url'), e: (e!.value as Buffer).toString('base64url') }, format: 'jwk' });
    const material = crypto.randomBytes(32);
    const cases: [string, pkcs11js.Mechanism, Buffer, boolean][] = [
      ['PKCS#1 v1.5', { mechanism: P.CKM_RSA_PKCS }, crypto.publicEncrypt({ key, padding: crypto.constants.RSA_PKCS1_PADDING }, material), true],
      ['OAEP-SHA1', oaep('sha1'), crypto.publicEncrypt({ key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, material), true],
      ['OAEP-SHA256', oaep('sha256'), crypto.publicEncrypt({ key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material), F.oaepSha256],
    ];
    for (const [name, mech, wrapped, works] of cases) {
      let out: Buffer | undefined;
      const r = ckr(() => {
        p11.C_DecryptInit(s, mech, kp.privateKey);
        out = Buffer.from(p11.C_Decrypt(s, wrapped, Buffer.alloc(256)));
      });
      expect(r, name).toBe(works ? 'OK' : 'CKR_ARGUMENTS_BAD');
      if (works) expect(out, name).toEqual(material);
      if (!works) continue;
      const k = p11.C_UnwrapKey(s, mech, kp.privateKey, wrapped, secretTemplate({ enc: true, label: 'probe-rsa-unwrapped', valueLen: null }));
      expect(ecb(k), name).toEqual(nodeEcb(material));
    }
    p11.C_DecryptInit(s, { mechanism: P.CKM_RSA_X_509 }, kp.privateKey);
    expect(p11.C_Decrypt(s, cases[2]![2], Buffer.alloc(256))).toHaveLength(256);
    const msg = Buffer.from('audit checkpoint');
    const pss = { type: P.CK_PARAMS_RSA_PSS, hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, saltLen: 32 } as pkcs11js.IParams;
    p11.C_SignInit(s, { mechanism: P.CKM_RSA_PKCS_PSS, parameter: pss }, kp.privateKey);
    const sig = Buffer.from(p11.C_Sign(s, crypto.createHash('sha256').update(msg).digest(), Buffer.alloc(256)));
    expect(crypto.verify('sha256', msg, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig)).toBe(true);
    p11.C_SignInit(s, { mechanism: P.CKM_SHA256_RSA_PKCS_PSS, parameter: pss }, kp.privateKey);
    expect(crypto.verify('sha256', msg, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, Buffer.from(p11.C_Sign(s, msg, Buffer.alloc(256))))).toBe(true);
    const sha256RsaPkcs = ckr(() => {
      p11.C_SignInit(s, { mechanism: P.CKM_SHA256_RSA_PKCS }, kp.privateKey);
      p11.C_Sign(s, msg, Buffer.alloc(256));
    });
    expect(sha256RsaPkcs).toBe(F.sha256RsaPkcs ? 'OK' : 'CKR_MECHANISM_INVALID');
    // Everywhere: PKCS#1 v1.5 over a DigestInfo computed outside.
    p11.C_SignInit(s, { mechanism: P.CKM_RSA_PKCS }, kp.privateKey);
    const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), crypto.createHash('sha256').update(msg).digest()]);
    expect(crypto.verify('sha256', msg, key, Buffer.from(p11.C_Sign(s, digestInfo, Buffer.alloc(256))))).toBe(true);
  });

  it('EC P-256 and P-384 key pairs and CKM_ECDSA over a digest (raw r‖s) — none on openCryptoki', async () => {
    for (const [curve, oid, hash, len] of [
      ['P-256', '06082a8648ce3d030107', 'sha256', 32],
      ['P-384', '06052b81040022', 'sha384', 48],
    ] as const) {
      const pub: pkcs11js.Template = [
        { type: P.CKA_CLASS, value: P.CKO_PUBLIC_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_EC },
        { type: P.CKA_TOKEN, value: true },
        { type: P.CKA_VERIFY, value: true },
        { type: P.CKA_LABEL, value: 'probe-ec' },
        { type: P.CKA_EC_PARAMS, value: Buffer.from(oid, 'hex') },
      ];
      const priv: pkcs11js.Template = [
        { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_EC },
        { type: P.CKA_TOKEN, value: true },
        { type: P.CKA_PRIVATE, value: true },
        { type: P.CKA_SENSITIVE, value: true },
        { type: P.CKA_EXTRACTABLE, value: false },
        { type: P.CKA_SIGN, value: true },
        { type: P.CKA_LABEL, value: 'probe-ec' },
      ];
      let kp: pkcs11js.KeyPair | undefined;
      const r = await p11.C_GenerateKeyPairAsync(s, { mechanism: P.CKM_EC_KEY_PAIR_GEN }, pub, priv).then(
        (v) => ((kp = v), 'OK'),
        (err: Error) => err.message,
      );
      expect(r, curve).toBe(F.ec ? 'OK' : 'CKR_MECHANISM_INVALID');
      if (!kp) continue;
      const der = p11.C_GetAttributeValue(s, kp.publicKey, [{ type: P.CKA_EC_POINT }])[0]!.value as Buffer;
      expect(der[0]).toBe(0x04); // DER OCTET STRING around the uncompressed point
      const point = der.subarray(der.length - (2 * len + 1));
      const key = crypto.createPublicKey({
        key: { kty: 'EC', crv: curve, x: point.subarray(1, 1 + len).toString('base64url'), y: point.subarray(1 + len).toString('base64url') },
        format: 'jwk',
      });
      const msg = Buffer.from('audit checkpoint');
      p11.C_SignInit(s, { mechanism: P.CKM_ECDSA }, kp.privateKey);
      const sig = Buffer.from(p11.C_Sign(s, crypto.createHash(hash).update(msg).digest(), Buffer.alloc(132)));
      expect(sig).toHaveLength(2 * len);
      expect(crypto.verify(hash, msg, { key, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
    }
  });

  it('persistent CKO_DATA objects: refused by NSS (plain Error "CKR_NAME:n", not a Pkcs11Error); session ones everywhere', () => {
    const data = (tokenObject: boolean): pkcs11js.Template => [
      { type: P.CKA_CLASS, value: P.CKO_DATA },
      { type: P.CKA_TOKEN, value: tokenObject },
      { type: P.CKA_PRIVATE, value: false },
      { type: P.CKA_LABEL, value: 'hsmkms/sentinel/v0' },
      { type: P.CKA_APPLICATION, value: 'hsmkms' },
      { type: P.CKA_VALUE, value: Buffer.from('hsmkms token sentinel') },
    ];
    let thrown: unknown;
    try {
      p11.C_CreateObject(s, data(true));
    } catch (err) {
      thrown = err;
    }
    if (F.tokenData) expect(thrown).toBeUndefined();
    else {
      expect(thrown).toBeInstanceOf(Error);
      expect(thrown).not.toBeInstanceOf(P.Pkcs11Error);
      expect((thrown as Error).message).toMatch(/^CKR_ATTRIBUTE_VALUE_INVALID:19(\n|$)/);
      // What stands in as a sentinel there: a token secret key with no usage.
      p11.C_GenerateKey(s, { mechanism: P.CKM_GENERIC_SECRET_KEY_GEN }, secretTemplate({ token: true, label: 'hsmkms/sentinel/v0', keyType: P.CKK_GENERIC_SECRET, valueLen: 16 }));
    }
    p11.C_CreateObject(s, data(false));
    expect(find([{ type: P.CKA_LABEL, value: 'hsmkms/sentinel/v0' }]).length).toBe(2);
  });

  it('C_UnwrapKey: what the template’s SENSITIVE/EXTRACTABLE become, CKA_VALUE_LEN after unwrap (BYOK staging)', async () => {
    const kp = await p11.C_GenerateKeyPairAsync(
      s,
      { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [
        { type: P.CKA_TOKEN, value: false },
        { type: P.CKA_MODULUS_BITS, value: 2048 },
        { type: P.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
        { type: P.CKA_ENCRYPT, value: true },
      ],
      [
        { type: P.CKA_TOKEN, value: false },
        { type: P.CKA_PRIVATE, value: true },
        { type: P.CKA_SENSITIVE, value: true },
        { type: P.CKA_EXTRACTABLE, value: false },
        { type: P.CKA_UNWRAP, value: true },
      ],
    );
    const [n, e] = p11.C_GetAttributeValue(s, kp.publicKey, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]);
    const key = crypto.createPublicKey({ key: { kty: 'RSA', n: (n!.value as Buffer).toString('base64url'), e: (e!.value as Buffer).toString('base64url') }, format: 'jwk' });
    const material = crypto.randomBytes(32);
    const wrapped = crypto.publicEncrypt({ key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, material);
    const unwrap = (o: { token: boolean; extractable: boolean }) =>
      p11.C_UnwrapKey(s, oaep('sha1'), kp.privateKey, wrapped, secretTemplate({ ...o, enc: true, label: 'probe-byok', valueLen: null }));
    for (const tokenObject of [false, true]) {
      const staged = ckr(() => unwrap({ token: tokenObject, extractable: true }));
      expect(staged).toBe(F.unwrapHonoursAttributes ? 'OK' : 'CKR_ATTRIBUTE_READ_ONLY');
      const k = unwrap({ token: tokenObject, extractable: false });
      expect(ulong(k, P.CKA_VALUE_LEN)).toBe(F.valueLenAfterUnwrap);
      if (F.unwrapHonoursAttributes) {
        expect([bool(k, P.CKA_SENSITIVE), bool(k, P.CKA_EXTRACTABLE)]).toEqual([true, false]);
        continue;
      }
      // openCryptoki: out comes a non-sensitive, extractable key whose value can be read...
      expect([bool(k, P.CKA_SENSITIVE), bool(k, P.CKA_EXTRACTABLE)]).toEqual([false, true]);
      expect(p11.C_GetAttributeValue(s, k, [{ type: P.CKA_VALUE }])[0]!.value).toEqual(material);
      // ...until it is made sensitive and non-extractable (it was made MODIFIABLE=true).
      p11.C_SetAttributeValue(s, k, [{ type: P.CKA_SENSITIVE, value: true }]);
      p11.C_SetAttributeValue(s, k, [{ type: P.CKA_EXTRACTABLE, value: false }]);
      expect([bool(k, P.CKA_SENSITIVE), bool(k, P.CKA_EXTRACTABLE)]).toEqual([true, false]);
      expect(ckr(() => p11.C_GetAttributeValue(s, k, [{ type: P.CKA_VALUE }]))).toBe('CKR_ATTRIBUTE_SENSITIVE');
      expect(ecb(k)).toEqual(nodeEcb(material));
    }
  });

  it('C_WrapKey of a non-extractable key: refused, except by NSS softoken, which hands the key material out', () => {
    const victim = generateAes({ token: true, enc: true, label: 'probe-nonextractable', modifiable: false });
    const kv = crypto.randomBytes(32);
    const wk = knownKey(kv, { wrap: true, enc: true, label: 'probe-attacker' });
    const mech = F.kw ? P.CKM_AES_KEY_WRAP : P.CKM_AES_ECB;
    const r = ckr(() => p11.C_WrapKey(s, { mechanism: mech }, wk, victim, Buffer.alloc(64)));
    if (F.wrapEnforcesExtractable) {
      expect(r).toBe('CKR_KEY_UNEXTRACTABLE');
      return;
    }
    const w = Buffer.from(p11.C_WrapKey(s, { mechanism: mech }, wk, victim, Buffer.alloc(64)));
    const d = crypto.createDecipheriv('id-aes256-wrap', kv, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
    const recovered = Buffer.concat([d.update(w), d.final()]);
    expect(ecb(victim)).toEqual(nodeEcb(recovered));
  });

  it('session copies (C_CopyObject, CKA_TOKEN=false) keep SENSITIVE/EXTRACTABLE, serve other sessions, die with their session', () => {
    const k = generateAes({ token: true, enc: true, label: 'probe-copy', modifiable: true });
    const copy = p11.C_CopyObject(s, k, [{ type: P.CKA_TOKEN, value: false }]);
    expect([bool(copy, P.CKA_TOKEN), bool(copy, P.CKA_SENSITIVE), bool(copy, P.CKA_EXTRACTABLE)]).toEqual([false, true, false]);
    const other = p11.C_OpenSession(raw.slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
    p11.C_EncryptInit(other, { mechanism: P.CKM_AES_CBC_PAD, parameter: Buffer.alloc(16) }, copy);
    expect(p11.C_Encrypt(other, Buffer.alloc(5), Buffer.alloc(16))).toHaveLength(16);
    const doomed = p11.C_CopyObject(other, k, [{ type: P.CKA_TOKEN, value: false }]);
    p11.C_CloseSession(other);
    expect(ckr(() => ecb(doomed))).toMatch(/^CKR_(KEY|OBJECT)_HANDLE_INVALID$/);
    const fixed = generateAes({ token: true, enc: true, label: 'probe-copy-fixed', modifiable: false });
    let thrown: unknown;
    try {
      p11.C_CopyObject(s, fixed, [{ type: P.CKA_TOKEN, value: false }]);
    } catch (err) {
      thrown = err;
    }
    if (F.copyUnmodifiable) expect(thrown).toBeUndefined();
    else {
      // SoftHSM2 copies only MODIFIABLE=true keys; the error is a plain Error, not a Pkcs11Error.
      expect(thrown).not.toBeInstanceOf(P.Pkcs11Error);
      expect((thrown as Error).message).toMatch(/^CKR_ATTRIBUTE_READ_ONLY:16(\n|$)/);
    }
  });

  it('finds by CKA_LABEL and allows duplicate labels', () => {
    generateAes({ enc: true, label: 'probe-dup' });
    generateAes({ enc: true, label: 'probe-dup' });
    expect(find([{ type: P.CKA_LABEL, value: 'probe-dup' }])).toHaveLength(2);
  });

  it('pkcs11js error forms: Pkcs11Error with .code from most calls, a plain Error "CKR_NAME:n" from C_CreateObject/C_CopyObject', () => {
    let e: unknown;
    try {
      p11.C_EncryptInit(s, { mechanism: P.CKM_AES_CBC_PAD, parameter: Buffer.alloc(16) }, Buffer.from([0xee, 0xee, 0, 0, 0, 0, 0, 0]));
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(P.Pkcs11Error);
    expect((e as pkcs11js.Pkcs11Error).message).toMatch(/^CKR_(KEY|OBJECT)_HANDLE_INVALID$/);
    expect((e as pkcs11js.Pkcs11Error).code).toBeGreaterThan(0);
    for (const call of [
      () =>
        p11.C_CreateObject(s, [
          { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
          { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
          { type: P.CKA_TOKEN, value: false },
        ]),
      () => p11.C_CopyObject(s, Buffer.from([0xee, 0xee, 0, 0, 0, 0, 0, 0]), [{ type: P.CKA_TOKEN, value: false }]),
    ]) {
      e = undefined;
      try {
        call();
      } catch (err) {
        e = err;
      }
      expect(e).toBeInstanceOf(Error);
      expect(e).not.toBeInstanceOf(P.Pkcs11Error);
      expect((e as { code?: unknown }).code).toBeUndefined();
      expect((e as Error).message).toMatch(/^CKR_[A-Z_]+:\d+(\n|$)/);
    }
    e = undefined;
    try {
      new P.PKCS11().load(path.join(token.dataDir, 'missing.so'));
    } catch (err) {
      e = err;
    }
    expect(e).not.toBeInstanceOf(P.Pkcs11Error);
    expect((e as Error).message).toMatch(/cannot open shared object file/);
  });

  it('a second process logs in while this one is, and sees this one’s new token key without a restart', () => {
    generateAes({ token: true, enc: true, label: 'probe-shared' });
    const r = child(`${childOpen}
      p11.C_Login(s, P.CKU_USER, process.env.PIN);
      p11.C_FindObjectsInit(s, [{ type: P.CKA_LABEL, value: 'probe-shared' }]);
      console.log(p11.C_FindObjects(s, 5).length); p11.C_FindObjectsFinal(s); p11.C_Finalize();`);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('1');
  });

  it('C_Initialize: what the module does with and without an init string', () => {
    const run = (options: string) =>
      child(`try { p11.C_Initialize(${options}); console.log('OK'); p11.C_Finalize(); } catch (e) { console.log(e.message.split('\\n')[0] + ' ' + e.code); }`, {}, token.dataDir);
    const out = (options: string) => run(options).stdout.trim();
    if (M !== 'nss') {
      expect(out(`{ flags: P.CKF_OS_LOCKING_OK }`)).toBe('OK');
      expect(out(`{ libraryParameters: "configdir='sql:/x' ", flags: P.CKF_OS_LOCKING_OK }`)).toBe(`CKR_ARGUMENTS_BAD ${P.CKR_ARGUMENTS_BAD}`);
      return;
    }
    expect(out(`undefined`)).toBe(`CKR_ARGUMENTS_BAD ${P.CKR_ARGUMENTS_BAD}`);
    expect(out(`{ flags: P.CKF_OS_LOCKING_OK }`)).toBe(`CKR_ARGUMENTS_BAD ${P.CKR_ARGUMENTS_BAD}`);
    expect(out(`{ libraryParameters: "configdir='sql:${path.join(token.dataDir, 'absent')}' dbTokenDescription='x' ", flags: P.CKF_OS_LOCKING_OK }`)).toBe(
      `CKR_VENDOR_DEFINED ${CKR_NSS_CERTDB_FAILED}`,
    );
    // pkcs11js drops the string's last character: an unquoted last value loses a letter.
    const dir = path.join(token.dataDir, 'nss');
    const label = child(`p11.C_Initialize({ libraryParameters: "configdir='sql:${dir}' dbTokenDescription=abcdef", flags: P.CKF_OS_LOCKING_OK });
      console.log(p11.C_GetSlotList(true).map((x) => p11.C_GetTokenInfo(x).label.trim()).join('|')); p11.C_Finalize();`);
    expect(label.stdout.trim()).toBe('NSS Generic Crypto Services|abcde');
    // No configdir at all: NSS crashes the process inside C_Initialize.
    expect(run(`{ libraryParameters: "dbTokenDescription='x' ", flags: P.CKF_OS_LOCKING_OK }`).signal).toBe('SIGSEGV');
  });

  it('token objects outlive C_Finalize / C_Initialize (last: it ends this process’s sessions)', async () => {
    raw.finalize();
    raw = await openRaw(token);
    p11 = raw.p11;
    s = raw.session;
    expect(find([{ type: P.CKA_LABEL, value: 'probe-kek' }])).toHaveLength(1);
    expect(
      find([
        { type: P.CKA_LABEL, value: 'probe-rsa' },
        { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
      ]),
    ).toHaveLength(1);
    expect(find([{ type: P.CKA_LABEL, value: 'probe-dup' }])).toHaveLength(0); // session objects are gone
  });
});
