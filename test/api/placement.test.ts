import crypto from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlacementError } from '../../src/crypto/placement.js';
import { PROFILE_DIR } from '../../src/pkcs11/profile.js';
import { ROOT, startTestServer, type TestServer } from '../helpers/api-server.js';
import { b64, clearProxy, cnKmsClient, errorCode, unb64, type KmsCaller } from '../helpers/sdk-clients.js';

// The SM placement switch: "when a token profile declares vendor SM mechanisms, the
// same operations run inside the token instead: that switch is configuration".
// No token here has GM/T mechanisms, so this file proves the switch and the plumbing with the
// real SoftHSM2 token and an operator profile that declares AES mechanisms under the SM4 names
// (an alias: the token then runs AES-GCM where a vendor token would run SM4-GCM). It shows
// that with such a profile new SM4 keys are made in, and used in, the token — never sealed in
// the database — through rotation and deletion, and that an incomplete declaration refuses
// KMS_SM_ENGINE=token at start-up and falls back to the software module with auto.
// What it cannot show: SM4/SM2 cryptography of a vendor token (formats in docs/hsm.md).

let base: TestServer;
let aliased: TestServer | undefined;
let profileFile: string;

const hex = (n: number) => `0x${n.toString(16)}`;

beforeAll(async () => {
  clearProxy();
  base = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  const p = JSON.parse(readFileSync(path.join(PROFILE_DIR, 'softhsm2.json'), 'utf8')) as Record<string, unknown>;
  p.name = 'sm4-alias';
  p.smMechanisms = {
    SM2_KEY_PAIR_GEN: null,
    SM2_SIGN: null,
    SM2_ENCRYPT: null,
    SM3: null,
    SM4_KEY_GEN: hex(pkcs11js.CKM_AES_KEY_GEN),
    SM4_ECB: null,
    SM4_CBC: null,
    SM4_GCM: hex(pkcs11js.CKM_AES_GCM),
    CKK_SM4: hex(pkcs11js.CKK_AES),
    source: 'test alias: SoftHSM2 AES mechanisms declared under the SM4 names',
  };
  profileFile = path.join(base.config.dataDir, 'sm4-alias.json');
  writeFileSync(profileFile, JSON.stringify(p));
});

afterAll(async () => {
  await aliased?.stop();
  await base?.stop();
});

const gzOf = (s: TestServer): KmsCaller => cnKmsClient({ endpoint: s.endpoint, secretId: ROOT.secretId, secretKey: ROOT.secretKey, region: 'ap-guangzhou' });

describe('placement by configuration', () => {
  it('softhsm2 profile: SM keys in the software module (sealed under the KEK, no token object)', async () => {
    expect(base.services.placement).toMatchObject({ sm2: 'software', sm4: 'software' });
    const keyId = (await gzOf(base)('CreateKey', { Alias: 'sm4-software' })).KeyId as string;
    expect(await base.services.token.exists({ keyId, version: 1 })).toBe(false);
    const row = await base.services.db('keys').where('key_id', keyId).first('token_resident');
    expect(!!row.token_resident).toBe(false);
    const v = await base.services.db('key_versions').where('key_id', keyId).first('sealed_material');
    expect(v.sealed_material).toBeTruthy();
  });

  it('post-quantum: ML-DSA in the software module unless the profile declares PKCS#11 3.2 CKM_ML_DSA and the token lists it; ML-KEM always there', async () => {
    expect(base.services.placement).toMatchObject({ mldsa: 'software', mlkem: 'software' });
    await expect(startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0', KMS_PQC_ENGINE: 'token' }, base)).rejects.toSatisfy(
      (err: unknown) => err instanceof PlacementError && /KMS_PQC_ENGINE=token/.test(err.message) && /CKM_ML_DSA_KEY_PAIR_GEN/.test(err.message),
    );
    // A profile may declare them; SoftHSM2 2.6.1 does not list them, so auto keeps the software module.
    const p = JSON.parse(readFileSync(path.join(PROFILE_DIR, 'softhsm2.json'), 'utf8')) as { name: string; mechanisms: Record<string, unknown> };
    p.name = 'mldsa-declared';
    p.mechanisms.CKM_ML_DSA_KEY_PAIR_GEN = { available: true, use: 'ML-DSA-65 keys' };
    p.mechanisms.CKM_ML_DSA = { available: true, use: 'ML-DSA-65 signing' };
    const file = path.join(base.config.dataDir, 'mldsa-declared.json');
    writeFileSync(file, JSON.stringify(p));
    const declared = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0', KMS_HSM_PROFILE: file }, base);
    try {
      expect(declared.services.placement.mldsa).toBe('software');
      expect(declared.services.placement.detail.join(' ')).toMatch(/ml-dsa: software module \(token lacks CKM_ML_DSA_KEY_PAIR_GEN, CKM_ML_DSA\)/);
    } finally {
      await declared.stop();
    }
  });

  it('KMS_SM_ENGINE=token with a profile that lacks the SM2 mechanisms: start-up refused, naming them', async () => {
    await expect(startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0', KMS_HSM_PROFILE: profileFile, KMS_SM_ENGINE: 'token' }, base)).rejects.toSatisfy(
      (err: unknown) => err instanceof PlacementError && /SM2_KEY_PAIR_GEN/.test(err.message) && /SM2_ENCRYPT/.test(err.message),
    );
    await expect(startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0', KMS_SM_ENGINE: 'token' }, base)).rejects.toBeInstanceOf(PlacementError);
  });
});

describe('SM4 in the token (declared vendor mechanisms)', () => {
  let gz: KmsCaller;
  beforeAll(async () => {
    aliased = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0', KMS_HSM_PROFILE: profileFile }, base);
    gz = gzOf(aliased);
  });

  it('auto: SM4 goes to the token (declared and listed), SM2 stays in the software module', () => {
    expect(aliased!.services.placement).toMatchObject({ sm4: 'token', sm2: 'software' });
    expect(aliased!.services.placement.detail.join(' ')).toMatch(/sm2: software module \(token lacks SM2_KEY_PAIR_GEN/);
  });

  it('new SM4 keys are token objects, never in the database; encrypt/decrypt, rotation and deletion run in the token', async () => {
    const keyId = (await gz('CreateKey', { Alias: 'sm4-token' })).KeyId as string;
    const services = aliased!.services;
    expect(await services.token.exists({ keyId, version: 1 })).toBe(true);
    expect(!!(await services.db('keys').where('key_id', keyId).first('token_resident')).token_resident).toBe(true);
    expect((await services.db('key_versions').where('key_id', keyId).first('sealed_material')).sealed_material).toBeNull();
    const pt = crypto.randomBytes(100);
    const e = await gz('Encrypt', { KeyId: keyId, Plaintext: b64(pt), EncryptionContext: '{"k":"v"}' });
    expect(unb64(e.CiphertextBlob)[3]).toBe(2); // the SM4-GCM blob algorithm
    expect(unb64((await gz('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: '{"k":"v"}' })).Plaintext)).toEqual(pt);
    const tampered = unb64(e.CiphertextBlob);
    tampered[tampered.length - 1]! ^= 1;
    expect(await errorCode(gz('Decrypt', { CiphertextBlob: tampered.toString('base64'), EncryptionContext: '{"k":"v"}' }))).toBe('InvalidParameterValue.InvalidCiphertext');
    await gz('EnableKeyRotation', { KeyId: keyId });
    await gz('RotateKey', { KeyId: keyId });
    expect(await services.token.exists({ keyId, version: 2 })).toBe(true);
    const e2 = await gz('Encrypt', { KeyId: keyId, Plaintext: b64('v2') });
    expect(unb64((await gz('Decrypt', { CiphertextBlob: e2.CiphertextBlob })).Plaintext).toString()).toBe('v2');
    expect(unb64((await gz('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: '{"k":"v"}' })).Plaintext)).toEqual(pt);
    await gz('DisableKey', { KeyId: keyId });
    await gz('ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: 7 });
    const report = await services.jobs.run(Date.now() + 8 * 86_400_000);
    expect(report.deleted).toContain(keyId);
    expect(await services.token.exists({ keyId, version: 1 })).toBe(false);
    expect(await services.token.exists({ keyId, version: 2 })).toBe(false);
  });

  it('keys keep their place: an SM4 key made in the software module still works, and rotates there', async () => {
    const keyId = (await gzOf(base)('CreateKey', { Alias: 'sm4-made-in-software' })).KeyId as string;
    const e = await gz('Encrypt', { KeyId: keyId, Plaintext: b64('old place') });
    expect(unb64((await gz('Decrypt', { CiphertextBlob: e.CiphertextBlob })).Plaintext).toString()).toBe('old place');
    await gz('EnableKeyRotation', { KeyId: keyId });
    await gz('RotateKey', { KeyId: keyId });
    expect(await aliased!.services.token.exists({ keyId, version: 2 })).toBe(false);
    expect((await aliased!.services.db('key_versions').where({ key_id: keyId, version: 2 }).first('sealed_material')).sealed_material).toBeTruthy();
  });

  it('SM2 keys stay in the software module and interoperate as before', async () => {
    const keyId = (await gz('CreateKey', { Alias: 'sm2-still-software', KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_SM2' })).KeyId as string;
    expect(await aliased!.services.token.exists({ keyId, version: 1 })).toBe(false);
    const sig = await gz('SignByAsymmetricKey', { KeyId: keyId, Algorithm: 'SM2DSA', Message: b64('m'), MessageType: 'RAW' });
    expect((await gz('VerifyByAsymmetricKey', { KeyId: keyId, Algorithm: 'SM2DSA', Message: b64('m'), SignatureValue: sig.Signature, MessageType: 'RAW' })).SignatureValid).toBe(
      true,
    );
  });
});
