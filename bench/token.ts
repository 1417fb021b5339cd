// npm run bench:token — the token adapter against a raw pkcs11js loop, side by side in one
// run, on the same kind of key object (a CMK as the service stores it: a token object).
// One JSON line per case: {"case","adapter_ops_s","raw_ops_s","ratio", ...}.
// BENCH_SECONDS (default 1.5) is the time per measurement, BENCH_CASES a regexp of cases to run; each case alternates adapter
// and raw three times and reports the medians, so a noisy neighbour hits both sides.
import { messageDigest } from '../src/crypto/asymmetric.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { loadProfile } from '../src/pkcs11/profile.js';
import { provisionSoftHsm } from '../src/pkcs11/softhsm.js';
import { labelOf } from '../src/pkcs11/templates.js';
import { Token } from '../src/pkcs11/token.js';
import { median } from './stats.js';

const MODULE = process.env.KMS_PKCS11_MODULE || '/usr/lib/softhsm/libsofthsm2.so';
const SECONDS = Number(process.env.BENCH_SECONDS || 1.5);
const ROUNDS = 3;

type Op = () => unknown;

/** Ops per second of `op` run back to back, or with `concurrency` in flight (async ops). */
async function rate(op: Op, concurrency = 1): Promise<number> {
  const warm = Date.now() + 150;
  while (Date.now() < warm) await op();
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(SECONDS * 1e9));
  const worker = async () => {
    for (;;) {
      // Sync loops check the clock every 64 ops to keep the clock out of the measurement.
      for (let i = 0; i < 64; i++) {
        const r = op();
        if (r instanceof Promise) await r;
        n++;
      }
      if (process.hrtime.bigint() >= end) return;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

const ONLY = process.env.BENCH_CASES ? new RegExp(process.env.BENCH_CASES) : undefined;

async function compare(name: string, adapter: Op, raw: Op, extra: Record<string, unknown> = {}, adapterConcurrency = 1, rawConcurrency = 1): Promise<void> {
  if (ONLY && !ONLY.test(name)) return;
  const a: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    a.push(await rate(adapter, adapterConcurrency));
    r.push(await rate(raw, rawConcurrency));
  }
  const adapterOps = median(a);
  const rawOps = median(r);
  console.log(JSON.stringify({ case: name, adapter_ops_s: Math.round(adapterOps), raw_ops_s: Math.round(rawOps), ratio: Number((adapterOps / rawOps).toFixed(3)), ...extra }));
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'hsmkms-bench-'));
  const pin = randomBytes(8).toString('hex');
  const { conf } = provisionSoftHsm({ dataDir, conf: path.join(dataDir, 'softhsm2.conf'), label: 'bench', pin, pinFile: path.join(dataDir, 'user.pin') });
  process.env.SOFTHSM2_CONF = conf;
  const profile = loadProfile('softhsm2');
  const token = await Token.open({ modulePath: MODULE, tokenLabel: 'bench', pin, profile, poolSize: 8 });
  const tokenNoCopies = await Token.open({ modulePath: MODULE, tokenLabel: 'bench', pin, profile: { ...profile, sessionKeyCopies: false }, poolSize: 8 });
  try {
    const cmk = { keyId: 'bench-cmk', version: 1 };
    await token.generate(cmk, { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
    const rsa = { keyId: 'bench-rsa', version: 1 };
    await token.generate(rsa, { kind: 'rsa', bits: 2048, usage: { sign: true } });
    const ec = { keyId: 'bench-ec', version: 1 };
    await token.generate(ec, { kind: 'ec', curve: 'P-256', usage: { sign: true } });

    // The raw side: its own sessions on the same (already initialised, logged-in) library.
    const p11 = new pkcs11js.PKCS11();
    p11.load(MODULE);
    try {
      p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch {
      /* initialised by the adapter */
    }
    const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === 'bench')!;
    const sessions = Array.from({ length: 8 }, () => p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION));
    const s = sessions[0]!;
    const find = (label: string, cls: number) => {
      p11.C_FindObjectsInit(s, [
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_CLASS, value: cls },
      ]);
      const [h] = p11.C_FindObjects(s, 1);
      p11.C_FindObjectsFinal(s);
      return h!;
    };
    const aesTokenObject = find(labelOf(cmk), pkcs11js.CKO_SECRET_KEY);
    const aesSessionCopy = p11.C_CopyObject(s, aesTokenObject, [{ type: pkcs11js.CKA_TOKEN, value: false }]);
    const rsaPriv = find(labelOf(rsa), pkcs11js.CKO_PRIVATE_KEY);
    const ecPriv = find(labelOf(ec), pkcs11js.CKO_PRIVATE_KEY);

    const iv = randomBytes(12);
    const gcm = { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, ivBits: 96, tagBits: 128 } as pkcs11js.IParams };
    const rawGcm = (key: Buffer, pt: Buffer) => {
      const out = Buffer.alloc(pt.length + 16);
      return () => {
        p11.C_EncryptInit(s, gcm, key);
        return p11.C_Encrypt(s, pt, out);
      };
    };
    const pt32 = randomBytes(32);
    const pt4k = randomBytes(4096);

    await compare('aes-gcm-encrypt-32B', () => token.aesGcmEncrypt(cmk, pt32), rawGcm(aesTokenObject, pt32), {
      raw_key: 'token object',
      adapter_key: 'session copy of the token object',
    });
    await compare('aes-gcm-encrypt-4KiB', () => token.aesGcmEncrypt(cmk, pt4k), rawGcm(aesTokenObject, pt4k), {
      raw_key: 'token object',
      adapter_key: 'session copy of the token object',
    });
    await compare('aes-gcm-encrypt-32B-no-session-copies', () => tokenNoCopies.aesGcmEncrypt(cmk, pt32), rawGcm(aesTokenObject, pt32), {
      raw_key: 'token object',
      adapter_key: 'token object',
    });
    await compare('aes-gcm-encrypt-32B-vs-raw-session-object', () => token.aesGcmEncrypt(cmk, pt32), rawGcm(aesSessionCopy, pt32), {
      raw_key: 'session object',
      adapter_key: 'session copy of the token object',
    });

    const digest = messageDigest('rsa-pkcs1-sha256', Buffer.from('bench'));
    const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), digest]);
    const sigOut = Buffer.alloc(512);
    const rawRsaSync = () => {
      p11.C_SignInit(s, { mechanism: pkcs11js.CKM_RSA_PKCS }, rsaPriv);
      return p11.C_Sign(s, digestInfo, sigOut);
    };
    await compare('rsa-2048-sign', () => token.sign(rsa, 'rsa-pkcs1-sha256', digest), rawRsaSync, { adapter: 'async, 1 in flight', raw: 'sync, 1 session' });

    const ecDigest = messageDigest('ecdsa', Buffer.from('bench'), 'P-256');
    const rawEcSync = () => {
      p11.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, ecPriv);
      return p11.C_Sign(s, ecDigest, sigOut);
    };
    await compare('ecdsa-p256-sign', () => token.sign(ec, 'ecdsa', ecDigest, 'raw'), rawEcSync, { adapter: 'sync, main session', raw: 'sync, 1 session' });

    // Do the *Async calls help with several sessions? Adapter with 8 in flight over its
    // 8-session pool, against the raw synchronous loop on one session.
    await compare(
      'rsa-2048-sign-8-in-flight',
      () => token.sign(rsa, 'rsa-pkcs1-sha256', digest),
      rawRsaSync,
      { adapter: 'async, 8 in flight, 8 sessions', raw: 'sync, 1 session' },
      8,
    );
    const free = [...sessions];
    const rawAesAsync = async () => {
      const sess = free.pop()!; // one operation per session at a time
      try {
        p11.C_EncryptInit(sess, gcm, aesSessionCopy);
        return await p11.C_EncryptAsync(sess, pt32, Buffer.alloc(48));
      } finally {
        free.push(sess);
      }
    };
    await compare(
      'aes-gcm-encrypt-32B-raw-async-8-in-flight',
      () => token.aesGcmEncrypt(cmk, pt32),
      rawAesAsync,
      { adapter: 'sync on one session (session copy)', raw: 'C_EncryptAsync, 8 sessions, 8 in flight (session object)' },
      1,
      8,
    );
    for (const sess of sessions) p11.C_CloseSession(sess);
  } finally {
    tokenNoCopies.close();
    token.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench:token failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
