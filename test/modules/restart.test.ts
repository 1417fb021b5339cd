import crypto from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sm4 } from 'sm-crypto-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfile } from '../../src/pkcs11/profile.js';
import { rootCallers, ROOT, startTestServer, type TestServer } from '../helpers/api-server.js';
import { describeWhere, MODULE_OFFERS, MODULE_UNDER_TEST } from '../helpers/modules.js';
import { b64, clearProxy, cnKmsClient, unb64, type KmsCaller } from '../helpers/sdk-clients.js';

// A restart on the module under test: what one run of the server made — ciphertexts under token
// keys and software-module keys, signatures, data keys, API secrets and imported material sealed
// under the KEK, the audit chain and its signed checkpoints — works in the next run, which opens
// the same token and finds its service keys instead of making new ones. Then a change of the KEK
// scheme (the profile's order): new secrets are sealed in the new scheme, old ones still open.

let server: TestServer;
const profileDir = mkdtempSync(path.join(tmpdir(), 'hsmkms-profile-'));

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
});

afterAll(async () => {
  await server?.stop();
  rmSync(profileDir, { recursive: true, force: true });
});

const callers = () => rootCallers(server);

interface Made {
  symmetric: Array<{ call: 'hk' | 'gz'; keyId: string; blob: string; plaintext: string }>;
  signatures: Array<{ keyId: string; algorithm: string; message: string; signature: string; publicKeyPem: string }>;
  dataKey: { blob: string; plaintext: string };
  apiKey: { secretId: string; secretKey: string };
  sm4Import: { keyId: string; material: Buffer };
  tokenObjects: number;
  auditPublicKey: string;
}

const made = {} as Made;

async function makeEverything(): Promise<void> {
  const { hk, gz } = callers();
  made.symmetric = [];
  for (const [name, call] of [['gz', gz], ...(MODULE_OFFERS.aesGcm ? [['hk', hk] as const] : [])] as const) {
    const keyId = (await call('CreateKey', { Alias: `restart-${name}` })).KeyId as string;
    const plaintext = b64(crypto.randomBytes(48));
    made.symmetric.push({
      call: name,
      keyId,
      plaintext,
      blob: (await call('Encrypt', { KeyId: keyId, Plaintext: plaintext, EncryptionContext: '{"run":"1"}' })).CiphertextBlob as string,
    });
  }
  made.signatures = [];
  const signers: Array<[KmsCaller, string, string]> = [
    [hk, 'ASYMMETRIC_SIGN_VERIFY_RSA_2048', 'RSA_PSS_SHA_256'],
    [gz, 'ASYMMETRIC_SIGN_VERIFY_SM2', 'SM2DSA'],
    ...(MODULE_OFFERS.ec ? ([[hk, 'ASYMMETRIC_SIGN_VERIFY_ECC', 'ECC_P256_R1']] as Array<[KmsCaller, string, string]>) : []),
  ];
  for (const [call, usage, algorithm] of signers) {
    const keyId = (await call('CreateKey', { Alias: `restart-${algorithm}`, KeyUsage: usage })).KeyId as string;
    const message = b64(`signed in run 1 by ${algorithm}`);
    made.signatures.push({
      keyId,
      algorithm,
      message,
      signature: (await call('SignByAsymmetricKey', { KeyId: keyId, Algorithm: algorithm, Message: message })).Signature as string,
      publicKeyPem: (await call('GetPublicKey', { KeyId: keyId })).PublicKeyPem as string,
    });
  }
  const dk = await gz('GenerateDataKey', { KeyId: made.symmetric[0]!.keyId, NumberOfBytes: 32 });
  made.dataKey = { blob: dk.CiphertextBlob as string, plaintext: dk.Plaintext as string };
  // An API key pair sealed under the KEK (root's is given by the environment at every start).
  const acct = (await import('../helpers/cli.js')).cli(['credential', 'create', '--user', 'root', '--json'], {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...server.cliEnv,
    KMS_ROOT_UIN: ROOT.uin,
    KMS_ROOT_SECRET_ID: ROOT.secretId,
    KMS_ROOT_SECRET_KEY: ROOT.secretKey,
  });
  expect(acct.status, acct.stderr).toBe(0);
  made.apiKey = JSON.parse(acct.stdout) as { secretId: string; secretKey: string };
  // Imported SM4 material: sealed under the KEK by BYOK.
  const material = crypto.randomBytes(16);
  const keyId = (await gz('CreateKey', { Alias: 'restart-byok', Type: 2 })).KeyId as string;
  const p = await gz('GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
  const pub = crypto.createPublicKey({ key: unb64(p.PublicKey), format: 'der', type: 'spki' });
  await gz('ImportKeyMaterial', {
    KeyId: keyId,
    ImportToken: p.ImportToken,
    EncryptedKeyMaterial: crypto.publicEncrypt({ key: pub, oaepHash: 'sha256' }, material).toString('base64'),
  });
  made.sm4Import = { keyId, material };
  await server.services.trail.checkpoint();
  made.tokenObjects = (await server.services.token.listObjects()).length;
  made.auditPublicKey = (await server.services.trail.publicKey()).export({ type: 'spki', format: 'pem' }).toString();
}

async function checkEverything(): Promise<void> {
  const { hk, gz } = callers();
  const byName = { hk, gz };
  for (const s of made.symmetric) {
    expect(unb64((await byName[s.call]('Decrypt', { CiphertextBlob: s.blob, EncryptionContext: '{"run":"1"}' })).Plaintext)).toEqual(unb64(s.plaintext));
  }
  for (const s of made.signatures) {
    const call = s.algorithm === 'SM2DSA' ? gz : hk;
    expect((await call('VerifyByAsymmetricKey', { KeyId: s.keyId, Algorithm: s.algorithm, Message: s.message, SignatureValue: s.signature })).SignatureValid, s.algorithm).toBe(
      true,
    );
    expect((await call('GetPublicKey', { KeyId: s.keyId })).PublicKeyPem).toBe(s.publicKeyPem);
    if (s.algorithm === 'RSA_PSS_SHA_256')
      expect(crypto.verify('sha256', unb64(s.message), { key: s.publicKeyPem, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, unb64(s.signature))).toBe(true);
  }
  expect((await gz('Decrypt', { CiphertextBlob: made.dataKey.blob })).Plaintext).toBe(made.dataKey.plaintext);
  // The sealed API secret authenticates (it is opened under the KEK to check the signature).
  const second = cnKmsClient({ endpoint: server.endpoint, secretId: made.apiKey.secretId, secretKey: made.apiKey.secretKey, region: 'ap-guangzhou' });
  expect(((await second('GetRegions', {})).Regions as string[]).length).toBeGreaterThan(0);
  // The imported SM4 key is the material imported: a blob of this run decrypts outside with it.
  const e = unb64((await gz('Encrypt', { KeyId: made.sm4Import.keyId, Plaintext: b64('after a restart') })).CiphertextBlob);
  const out = sm4.decrypt(e.subarray(36, e.length - 16), made.sm4Import.material, {
    mode: 'gcm',
    iv: e.subarray(24, 36),
    associatedData: e.subarray(0, 24),
    tag: e.subarray(e.length - 16),
    output: 'array',
  } as never) as unknown as Uint8Array;
  expect(Buffer.from(out).toString()).toBe('after a restart');
  // The same audit key signs on; the chain spans both runs.
  expect((await server.services.trail.publicKey()).export({ type: 'spki', format: 'pem' }).toString()).toBe(made.auditPublicKey);
  await server.services.trail.checkpoint();
  expect(await server.services.trail.verify()).toMatchObject({ ok: true, firstBad: null });
}

describe(`restart on ${MODULE_UNDER_TEST}`, () => {
  it('what one run made works in the next, with the same service keys and no new token objects', async () => {
    await makeEverything();
    server = await server.restart();
    expect((await server.services.token.listObjects()).length).toBe(made.tokenObjects);
    await checkEverything();
  });

  // Only a token that offers both KEK schemes can switch between them.
  describeWhere(MODULE_OFFERS.aesGcm)('after a change of the KEK scheme', () => {
    it('new secrets are sealed in the new scheme; what the old one sealed still opens', async () => {
      const base = loadProfile(MODULE_UNDER_TEST);
      const file = path.join(profileDir, `${MODULE_UNDER_TEST}-cbc.json`);
      writeFileSync(file, JSON.stringify({ ...base, name: `${MODULE_UNDER_TEST}-cbc`, kekSchemes: ['aes-cbc-hmac-sha256', 'aes-gcm'] }));
      server = await server.restart({ KMS_HSM_PROFILE: file });
      expect(server.services.kek.scheme).toBe('aes-cbc-hmac-sha256');
      await checkEverything();
      // A new SM4 key is sealed under scheme 2; the ones before under scheme 1.
      const { gz } = callers();
      const keyId = (await gz('CreateKey', { Alias: 'restart-after-switch' })).KeyId as string;
      const rows = await server.services.db('key_versions').whereIn('key_id', [keyId, made.symmetric[0]!.keyId]).select('key_id', 'sealed_material');
      const formatOf = (id: string) => Buffer.from(rows.find((r) => r.key_id === id)!.sealed_material as Buffer)[1];
      expect([formatOf(made.symmetric[0]!.keyId), formatOf(keyId)]).toEqual([1, 2]);
      const blob = (await gz('Encrypt', { KeyId: keyId, Plaintext: b64('new scheme') })).CiphertextBlob;
      expect(unb64((await gz('Decrypt', { CiphertextBlob: blob })).Plaintext).toString()).toBe('new scheme');
    });
  });
});
