import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kmsActions } from '../../src/api/actions/index.js';
import { checkAgainstSdkResponse } from '../../src/api/actions/response-check.js';
import { CREATION_TIMEOUT_MS } from '../../src/domain/jobs.js';
import { jobsRunAt as jobsRunAtBeside, ROOT, rootCallers, startTestServer, type TestServer } from '../helpers/api-server.js';
import { REPO } from '../helpers/cli.js';
import { clearProxy, errorCode, type KmsCaller } from '../helpers/sdk-clients.js';

// The key lifecycle through the official SDK, read as a script: create, describe,
// rename, rotate, disable, schedule deletion, cancel, drill the deletion job.

let server: TestServer;
let hk: KmsCaller; // FIPS region
let sg: KmsCaller; // another FIPS region
let gz: KmsCaller; // SM region
const DAY = 86_400;

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  ({ hk, sg, gz } = rootCallers(server));
});

afterAll(async () => {
  await server?.stop();
});

const code = errorCode;

const tokenVersions = async (keyId: string) =>
  (await server.services.token.listObjects())
    .filter((o) => o.name.keyId === keyId)
    .map((o) => `v${o.name.version}:${o.kind}`)
    .sort();

const describeKey = async (call: KmsCaller, keyId: string) => (await call('DescribeKey', { KeyId: keyId })).KeyMetadata as Record<string, unknown>;

const jobsRunAt = (iso: string) => jobsRunAtBeside(server, iso);

describe('a symmetric key from creation to destruction (FIPS region)', () => {
  let keyId: string;

  it('CreateKey makes an Enabled AES-256 key in the token', async () => {
    const r = await hk('CreateKey', { Alias: 'orders', Description: 'order payloads', Tags: [{ TagKey: 'team', TagValue: 'shop' }] });
    expect(checkAgainstSdkResponse('CreateKey', r)).toEqual([]);
    expect(r).toMatchObject({ Alias: 'orders', Description: 'order payloads', KeyState: 'Enabled', KeyUsage: 'ENCRYPT_DECRYPT' });
    keyId = r.KeyId as string;
    expect(keyId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await tokenVersions(keyId)).toEqual(['v1:secret']);
  });

  it('DescribeKey follows the SDK model: Type is the compliance class, Origin, ResourceId', async () => {
    const r = await hk('DescribeKey', { KeyId: keyId });
    expect(checkAgainstSdkResponse('DescribeKey', r)).toEqual([]);
    expect(r.KeyMetadata).toMatchObject({
      KeyId: keyId,
      KeyState: 'Enabled',
      Type: 2,
      Origin: 'TENCENT_KMS',
      Owner: 'user',
      CreatorUin: Number(ROOT.uin),
      ResourceId: `creatorUin/${ROOT.uin}/${keyId}`,
      DeletionDate: 0,
      KeyRotationEnabled: false,
    });
    // The owning account: the caller's own (no organisation members on premises); accounts have no names.
    const account = await server.services.db('accounts').where({ uin: ROOT.uin }).first();
    expect(r.KeyMetadata).toMatchObject({ AccountUin: Number(ROOT.uin), AccountAppId: Number(account.app_id), AccountName: '' });
    const modelled = Object.keys((kmsActions.DescribeKey.response.KeyMetadata!.type as { struct: Record<string, unknown> }).struct);
    expect(modelled.filter((f) => !(f in (r.KeyMetadata as object)))).toEqual([]);
  });

  it('renames and re-describes it', async () => {
    await hk('UpdateAlias', { KeyId: keyId, Alias: 'orders-v2' });
    await hk('UpdateKeyDescription', { KeyId: keyId, Description: 'renamed' });
    expect(await describeKey(hk, keyId)).toMatchObject({ Alias: 'orders-v2', Description: 'renamed' });
  });

  it('enables rotation and rotates: a new version in the token, the old one kept', async () => {
    await hk('EnableKeyRotation', { KeyId: keyId, RotateDays: 7 });
    expect((await hk('GetKeyRotationStatus', { KeyId: keyId })).KeyRotationEnabled).toBe(true);
    const before = await describeKey(hk, keyId);
    expect(before.RotateDays).toBe(7);
    expect(Math.abs((before.NextRotateTime as number) - (Date.now() / 1000 + 7 * DAY))).toBeLessThan(60);
    const r = await hk('RotateKey', { KeyId: keyId });
    expect(r.TaskId).toBe(`${keyId}/v2`);
    expect(await tokenVersions(keyId)).toEqual(['v1:secret', 'v2:secret']);
    expect((await describeKey(hk, keyId)).LastRotateTime).toBeGreaterThan(0);
  });

  it('must be disabled before its deletion is scheduled; cancelling returns it to Disabled', async () => {
    expect(await code(hk('ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: 7 }))).toBe('ResourceUnavailable.CmkShouldBeDisabled');
    await hk('DisableKey', { KeyId: keyId });
    const s = await hk('ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: 7 });
    expect(Math.abs((s.DeletionDate as number) - (Date.now() / 1000 + 7 * DAY))).toBeLessThan(60);
    expect(await describeKey(hk, keyId)).toMatchObject({ KeyState: 'PendingDelete', DeletionDate: s.DeletionDate });
    expect(await code(hk('UpdateAlias', { KeyId: keyId, Alias: 'x' }))).toBe('ResourceUnavailable');
    expect((await hk('CancelKeyDeletion', { KeyId: keyId })).KeyId).toBe(keyId);
    expect(await describeKey(hk, keyId)).toMatchObject({ KeyState: 'Disabled', DeletionDate: 0 });
  });

  it('the deletion job destroys every version when the date passes, not before', async () => {
    const s = await hk('ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: 7 });
    const early = await jobsRunAt(new Date(((s.DeletionDate as number) - 60) * 1000).toISOString());
    expect(early.deleted).toEqual([]);
    expect(await tokenVersions(keyId)).toHaveLength(2);
    const due = await jobsRunAt(new Date(((s.DeletionDate as number) + 1) * 1000).toISOString());
    expect(due.deleted).toEqual([keyId]);
    expect(await tokenVersions(keyId)).toEqual([]);
    expect(await code(hk('DescribeKey', { KeyId: keyId }))).toBe('ResourceUnavailable.CmkNotFound');
    // idempotent
    expect((await jobsRunAt(new Date(((s.DeletionDate as number) + 2) * 1000).toISOString())).deleted).toEqual([]);
  });
});

describe('automatic rotation', () => {
  it('rotates at NextRotateTime and moves NextRotateTime on', async () => {
    const { KeyId } = await hk('CreateKey', { Alias: 'auto-rotated' });
    await hk('EnableKeyRotation', { KeyId, RotateDays: 30 });
    const next = (await describeKey(hk, KeyId as string)).NextRotateTime as number;
    const r = await server.services.jobs.run((next + 1) * 1000);
    expect(r.rotated).toContain(KeyId);
    expect(await tokenVersions(KeyId as string)).toEqual(['v1:secret', 'v2:secret']);
    const after = await describeKey(hk, KeyId as string);
    expect(after.LastRotateTime).toBe(next + 1);
    expect(after.NextRotateTime).toBe(next + 1 + 30 * DAY);
  });
});

describe('expiry of imported material', () => {
  it('destroys expired material and returns the key to PendingImport', async () => {
    const { KeyId } = await hk('CreateKey', { Alias: 'expiring', Type: 2 });
    const id = KeyId as string;
    // Stand in for a BYOK import: material in the token, ValidTo soon.
    await server.services.token.generate({ keyId: id, version: 1 }, { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
    const validTo = Math.floor(Date.now() / 1000) + 3600;
    expect(await server.services.keyRepo.update(id, 'PendingImport', { state: 'Enabled', hasMaterial: true, validTo })).toBe(true);
    expect((await server.services.jobs.run((validTo - 1) * 1000)).expired).not.toContain(id);
    const r = await server.services.jobs.run((validTo + 1) * 1000);
    expect(r.expired).toEqual([id]);
    expect(await tokenVersions(id)).toEqual([]);
    expect(await describeKey(hk, id)).toMatchObject({ KeyState: 'PendingImport', Origin: 'EXTERNAL' });
    // scheduling and cancelling deletion keeps it PendingImport: no material to return to
    await hk('ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: 7 });
    await hk('CancelKeyDeletion', { KeyId: id });
    expect((await describeKey(hk, id)).KeyState).toBe('PendingImport');
  });
});

describe('regions, standards and aliases', () => {
  it('an alias is unique per account and region', async () => {
    await hk('CreateKey', { Alias: 'shared-name' });
    expect(await code(hk('CreateKey', { Alias: 'shared-name' }))).toBe('InvalidParameterValue.AliasAlreadyExists');
    expect((await sg('CreateKey', { Alias: 'shared-name' })).KeyState).toBe('Enabled');
  });

  it('keys of one region are invisible from another', async () => {
    const { KeyId } = await hk('CreateKey', { Alias: 'hk-only' });
    expect(await code(sg('DescribeKey', { KeyId }))).toBe('ResourceUnavailable.CmkNotFound');
    const list = await sg('ListKeyDetail', { KeyUsage: 'ALL', Limit: 200 });
    expect((list.KeyMetadatas as Array<{ KeyId: string }>).map((k) => k.KeyId)).not.toContain(KeyId);
  });

  it('SM regions make SM4 and SM2 keys in the software module, sealed under the KEK, never in the token', async () => {
    const sm4 = await gz('CreateKey', { Alias: 'gm-data' });
    expect((await describeKey(gz, sm4.KeyId as string)).Type).toBe(4);
    const sm2 = await gz('CreateKey', { Alias: 'gm-sign', KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_SM2' });
    for (const id of [sm4.KeyId, sm2.KeyId] as string[]) {
      expect(await tokenVersions(id)).toEqual([]);
      const [v] = await server.services.keyRepo.versions(id);
      expect(v!.sealedMaterial!.length).toBeGreaterThan(16);
    }
    const [pub] = await server.services.keyRepo.versions(sm2.KeyId as string);
    expect(pub!.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(await code(gz('CreateKey', { Alias: 'rsa-in-sm', KeyUsage: 'ASYMMETRIC_DECRYPT_RSA_2048' }))).toBe('UnsupportedOperation.UnsupportedKeyUsageInCurrentRegion');
    expect(await code(hk('CreateKey', { Alias: 'sm2-in-fips', KeyUsage: 'ASYMMETRIC_DECRYPT_SM2' }))).toBe('UnsupportedOperation.UnsupportedKeyUsageInCurrentRegion');
  });

  it('asymmetric FIPS keys are token key pairs; EXTERNAL keys wait for material', async () => {
    const rsa = await hk('CreateKey', { Alias: 'rsa-dec', KeyUsage: 'ASYMMETRIC_DECRYPT_RSA_2048' });
    expect(await tokenVersions(rsa.KeyId as string)).toEqual(['v1:private', 'v1:public']);
    const ec = await hk('CreateKey', { Alias: 'ec-sign', KeyUsage: 'ASYMMETRIC_SIGN_VERIFY_ECC' });
    expect(await tokenVersions(ec.KeyId as string)).toEqual(['v1:private', 'v1:public']);
    const ext = await hk('CreateKey', { Alias: 'byok', Type: 2 });
    expect(ext.KeyState).toBe('PendingImport');
    expect(await describeKey(hk, ext.KeyId as string)).toMatchObject({ Origin: 'EXTERNAL', KeyState: 'PendingImport' });
    expect(await tokenVersions(ext.KeyId as string)).toEqual([]);
    expect(await code(hk('CreateKey', { Alias: 'byok-rsa', Type: 2, KeyUsage: 'ASYMMETRIC_DECRYPT_RSA_2048' }))).toBe('InvalidParameterValue.InvalidType');
    expect(await code(hk('RotateKey', { KeyId: rsa.KeyId }))).toBe('UnsupportedOperation.RotateNotSupported');
  });
});

describe('listing', () => {
  const ids: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 5; i++) {
      const r = await sg('CreateKey', { Alias: `page-${i}`, Tags: [{ TagKey: 'tier', TagValue: i % 2 ? 'gold' : 'silver' }] });
      ids.push(r.KeyId as string);
      await new Promise((res) => setTimeout(res, 1100)); // distinct CreateTime seconds
    }
    await sg('DisableKey', { KeyId: ids[1] });
    await sg('ArchiveKey', { KeyId: ids[2] });
  });

  it('pages newest first by default, oldest first on request, with a TotalCount of all matches', async () => {
    const page = await sg('ListKeyDetail', { Offset: 0, Limit: 2, SearchKeyAlias: 'page-' });
    expect(checkAgainstSdkResponse('ListKeyDetail', page)).toEqual([]);
    expect(page.TotalCount).toBe(5);
    expect((page.KeyMetadatas as Array<{ Alias: string }>).map((k) => k.Alias)).toEqual(['page-4', 'page-3']);
    const oldest = await sg('ListKeyDetail', { Offset: 1, Limit: 2, OrderType: 1, SearchKeyAlias: 'page-' });
    expect((oldest.KeyMetadatas as Array<{ Alias: string }>).map((k) => k.Alias)).toEqual(['page-1', 'page-2']);
  });

  it('filters by state, tag, search on id or alias, origin and usage', async () => {
    const aliases = async (p: Record<string, unknown>) => ((await sg('ListKeyDetail', { Limit: 200, ...p })).KeyMetadatas as Array<{ Alias: string }>).map((k) => k.Alias).sort();
    expect(await aliases({ KeyState: 2, SearchKeyAlias: 'page-' })).toEqual(['page-1']);
    expect(await aliases({ KeyState: 5 })).toEqual(['page-2']);
    expect(await aliases({ TagFilters: [{ TagKey: 'tier', TagValue: ['gold'] }] })).toEqual(['page-1', 'page-3']);
    expect(await aliases({ SearchKeyAlias: ids[4]!.slice(0, 13) })).toEqual(['page-4']);
    expect(await aliases({ SearchKeyAlias: 'page-', Origin: 'EXTERNAL' })).toEqual([]);
    expect(await aliases({ SearchKeyAlias: '%' })).toEqual([]); // LIKE wildcards are literal
  });

  it('ListKeys shows Enabled, Disabled and PendingImport keys only', async () => {
    const r = await sg('ListKeys', { Limit: 200 });
    const listed = (r.Keys as Array<{ KeyId: string }>).map((k) => k.KeyId);
    expect(listed).toContain(ids[1]);
    expect(listed).not.toContain(ids[2]);
    expect(r.TotalCount).toBe(listed.length);
  });

  it('GetServiceStatus counts the account’s keys in the region', async () => {
    const r = await sg('GetServiceStatus');
    expect(r.CmkUserCount).toBe((await sg('ListKeyDetail', { KeyUsage: 'ALL', Limit: 200 })).TotalCount);
  });
});

describe('token and database stay consistent', () => {
  it('destroys token objects left by a create that crashed before its metadata committed', async () => {
    const orphan = { keyId: randomUUID(), version: 1 };
    // The crash: the intent recorded (longer ago than the creation timeout) and the object made, no row.
    await server.services.keyRepo.recordIntent(orphan.keyId, 1, Date.now() - CREATION_TIMEOUT_MS - 60_000);
    await server.services.token.generate(orphan, { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
    const status = JSON.parse(
      (
        await promisify(execFile)(process.execPath, ['bin/hsmkms.js', 'token', 'status', '--json'], {
          cwd: REPO,
          encoding: 'utf8',
          env: { PATH: process.env.PATH, ...server.cliEnv },
        })
      ).stdout,
    );
    expect(status.reconciliation.orphanObjectsDestroyed).toEqual([`${orphan.keyId}/v1`]);
    const r = await server.services.jobs.reconcile();
    expect(r.orphanObjectsDestroyed).toEqual([`${orphan.keyId}/v1`]);
    expect(await server.services.token.exists(orphan)).toBe(false);
    expect((await server.services.keyRepo.intents()).has(`${orphan.keyId}/1`)).toBe(false);
  });

  it('keeps, and reports, key objects this database never began to create: `jobs run` on the wrong database destroys nothing', async () => {
    const { KeyId } = await hk('CreateKey', { Alias: 'not-for-another-database' });
    const stranger = { keyId: randomUUID(), version: 1 }; // another deployment's key on the same token: no row, no intent
    await server.services.token.generate(stranger, { kind: 'aes', bits: 256, usage: { encrypt: true, decrypt: true } });
    const r = await server.services.jobs.reconcile();
    expect(r.orphanObjectsDestroyed).toEqual([]);
    expect(r.unknownObjects).toEqual([`${stranger.keyId}/v1`]);
    expect(await server.services.token.exists(stranger)).toBe(true);

    // An operator's `jobs run` on the same token but another database (KMS_DATABASE_URL left out
    // on PostgreSQL, or the wrong data dir: here a fresh SQLite file in another one), which knows
    // none of the token's keys. Every key object is unknown to it, and every one is kept.
    const elsewhere = mkdtempSync(path.join(tmpdir(), 'hsmkms-other-db-'));
    try {
      const { KMS_DATABASE_URL: _unused, ...withoutDatabase } = server.cliEnv;
      const out = await promisify(execFile)(process.execPath, ['bin/hsmkms.js', 'jobs', 'run', '--json'], {
        cwd: REPO,
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH,
          ...withoutDatabase,
          KMS_DATA_DIR: elsewhere,
          KMS_ROOT_UIN: ROOT.uin,
          KMS_ROOT_SECRET_ID: ROOT.secretId,
          KMS_ROOT_SECRET_KEY: ROOT.secretKey,
        },
      });
      const report = JSON.parse(out.stdout) as { reconciled: { orphanObjectsDestroyed: string[]; unknownObjects: string[] } };
      expect(report.reconciled.orphanObjectsDestroyed).toEqual([]);
      expect(report.reconciled.unknownObjects).toEqual(expect.arrayContaining([`${KeyId}/v1`, `${stranger.keyId}/v1`]));
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
    expect(await server.services.token.exists({ keyId: KeyId as string, version: 1 })).toBe(true);
    expect((await hk('Encrypt', { KeyId, Plaintext: Buffer.from('still here').toString('base64') })).KeyId).toBe(KeyId);
    await server.services.token.destroy(stranger);
  });

  it('finishes a deletion that crashed between destroying token objects and removing the row', async () => {
    const { KeyId } = await hk('CreateKey', { Alias: 'half-deleted' });
    await hk('DisableKey', { KeyId });
    const { DeletionDate } = await hk('ScheduleKeyDeletion', { KeyId, PendingWindowInDays: 7 });
    await server.services.token.destroy({ keyId: KeyId as string, version: 1 }); // the crash: objects gone, row left
    expect((await server.services.jobs.reconcile()).rowsWithoutObjects).toContain(`${KeyId}/v1`);
    const r = await server.services.jobs.run(((DeletionDate as number) + 1) * 1000);
    expect(r.deleted).toContain(KeyId);
    expect(r.errors).toEqual([]);
    expect(await code(hk('DescribeKey', { KeyId }))).toBe('ResourceUnavailable.CmkNotFound');
  });
});

describe('parameters that name what does not exist on premises are refused, not ignored', () => {
  it('MemberAccount naming another account: UnauthorizedOperation (or CAM’s code where the list lacks it); the caller’s own account is accepted', async () => {
    const keyId = (await hk('CreateKey', { Alias: 'member-account' })).KeyId as string;
    const account = await server.services.db('accounts').where({ uin: ROOT.uin }).first();
    const other = { MemberUin: 700002334915881, MemberAppId: 260082377 };
    expect(await code(hk('DescribeKey', { KeyId: keyId, MemberAccount: other }))).toBe('UnauthorizedOperation');
    expect(await code(hk('DescribeKey', { KeyId: keyId, MemberAccount: { MemberUin: other.MemberUin } }))).toBe('UnauthorizedOperation');
    expect(await code(hk('DisableKey', { KeyId: keyId, MemberAccount: { MemberAppId: other.MemberAppId } }))).toBe('UnauthorizedOperation');
    expect(await code(hk('ListKeyDetail', { MemberAccounts: [{ MemberUin: Number(ROOT.uin) }, other] }))).toBe('UnauthorizedOperation');
    expect((await describeKey(hk, keyId)).KeyState).toBe('Enabled');
    // DescribeDataKey's list has no UnauthorizedOperation: CAM's (docs/contract/actions.md#common-answers).
    const dk = (await hk('GenerateDataKey', { KeyId: keyId, NumberOfBytes: 16, IsHostedByKms: 1, DataKeyName: 'member-dk' })).DataKeyId as string;
    expect(await code(hk('DescribeDataKey', { DataKeyId: dk, MemberAccount: other }))).toBe('AuthFailure.UnauthorizedOperation');
    // The caller's own account, or nothing named.
    const own = { MemberUin: Number(ROOT.uin), MemberAppId: Number(account.app_id) };
    expect((await hk('DescribeKey', { KeyId: keyId, MemberAccount: own })).KeyMetadata).toMatchObject({ KeyId: keyId });
    expect((await hk('DescribeKey', { KeyId: keyId, MemberAccount: {} })).KeyMetadata).toMatchObject({ KeyId: keyId });
    expect((await hk('ListKeyDetail', { MemberAccounts: [own] })).TotalCount).toBeGreaterThan(0);
    expect((await hk('DescribeDataKey', { DataKeyId: dk, MemberAccount: own })).DataKeyMetadata).toMatchObject({ DataKeyId: dk });
  });

  it('HsmClusterId: an unknown id is InvalidParameterValue.InvalidHsmClusterId; empty or `default` is this service’s one cluster', async () => {
    expect(await code(hk('CreateKey', { Alias: 'cluster-x', HsmClusterId: 'cls-hsm-3dflmo9g' }))).toBe('InvalidParameterValue.InvalidHsmClusterId');
    expect(await code(hk('ListKeys', { HsmClusterId: 'cls-hsm-3dflmo9g' }))).toBe('InvalidParameterValue.InvalidHsmClusterId');
    expect(await code(hk('ListKeyDetail', { HsmClusterId: 'cls-hsm-3dflmo9g' }))).toBe('InvalidParameterValue.InvalidHsmClusterId');
    expect(await code(hk('ListDataKeys', { HsmClusterId: 'cls-hsm-3dflmo9g' }))).toBe('InvalidParameterValue.InvalidHsmClusterId');
    const keyId = (await hk('CreateKey', { Alias: 'cluster-default', HsmClusterId: 'default' })).KeyId as string;
    expect(await code(hk('GenerateDataKey', { KeyId: keyId, NumberOfBytes: 16, HsmClusterId: 'cls-hsm-3dflmo9g' }))).toBe('InvalidParameterValue.InvalidHsmClusterId');
    // ImportDataKey's list has no InvalidHsmClusterId: its InvalidParameter.
    expect(await code(hk('ImportDataKey', { DataKeyName: 'cluster-dk', ImportKeyMaterial: 'AAAAAAAAAAAAAAAAAAAAAA==', ImportType: 2, KeyId: keyId, HsmClusterId: 'x' }))).toBe(
      'InvalidParameter',
    );
    expect((await hk('ListKeys', { HsmClusterId: 'default', Limit: 200 })).Keys).toContainEqual({ KeyId: keyId });
    expect((await hk('ListKeys', { HsmClusterId: '' })).TotalCount).toBeGreaterThan(0);
  });
});

describe('the key counters behind TotalCount and CmkUserCount', () => {
  it('match a full count of the keys table after everything above', async () => {
    const db = server.services.db;
    const counted = await db('keys')
      .select('account_uin', 'region', 'state', 'key_usage', 'origin')
      .count({ n: '*' })
      .groupBy('account_uin', 'region', 'state', 'key_usage', 'origin');
    const kept = await db('key_counts').where('n', '!=', 0).select('account_uin', 'region', 'state', 'key_usage', 'origin', 'n');
    const norm = (rows: Array<Record<string, unknown>>) => rows.map((r) => `${r.account_uin}|${r.region}|${r.state}|${r.key_usage}|${r.origin}=${Number(r.n)}`).sort();
    expect(norm(kept)).toEqual(norm(counted));
    expect(norm(kept).length).toBeGreaterThan(3);
  });
});
