import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kmsActions } from '../../src/api/actions/index.js';
import { checkAgainstSdkResponse } from '../../src/api/actions/response-check.js';
import { jobsRunAt as jobsRunAtBeside, ROOT, rootCallers, startTestServer, type TestServer } from '../helpers/api-server.js';
import { b64, clearProxy, cnKmsClient, errorCode, unb64, type KmsCaller } from '../helpers/sdk-clients.js';

// Hosted data keys (docs/contract/actions.md#group-data-keys) through the official CN SDK: all 15 actions plus
// GenerateDataKey's IsHostedByKms=1, the data-key state table, what the CMK's state does to its
// data keys (docs/data-keys.md), CAM on the region-less data-key resource, the audit trail and the
// deletion drill with `hsmkms jobs run --at`.

const LIMIT = 20;
let server: TestServer;
let hk: KmsCaller;
let gz: KmsCaller;
let cmk: string;
const code = errorCode;
const DAY = 86_400;

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0', KMS_DATA_KEY_LIMIT: String(LIMIT) });
  ({ hk, gz } = rootCallers(server));
  cmk = (await hk('CreateKey', { Alias: 'dk-wrapper' })).KeyId as string;
});

afterAll(async () => {
  await server?.stop();
});

/** Every call is one audit event, Success, naming the resource it touched. */
async function audited(
  call: KmsCaller,
  action: string,
  params: Record<string, unknown>,
  resource: string | ((answer: Record<string, unknown>) => string),
): Promise<Record<string, unknown>> {
  const r = await call(action, params);
  if (typeof resource === 'function') resource = resource(r);
  const ev = await server.services.auditRepo.query({ limit: 10, requestId: r.RequestId as string });
  expect(ev, action).toMatchObject([{ eventName: action, result: 'Success', resourceType: 'kms', resourceName: resource }]);
  expect(checkAgainstSdkResponse(action as never, r), action).toEqual([]);
  return r;
}

const hosted = async (name: string, extra: Record<string, unknown> = {}, call = hk, keyId = cmk) =>
  call('GenerateDataKey', { KeyId: keyId, NumberOfBytes: 32, IsHostedByKms: 1, DataKeyName: name, ...extra });
const meta = async (id: string, call = hk) => (await call('DescribeDataKey', { DataKeyId: id })).DataKeyMetadata as Record<string, unknown>;
const row = async (id: string) => server.services.db('data_keys').where({ data_key_id: id }).first();

describe('the 15 hosted data-key actions and GenerateDataKey hosting, each audited', () => {
  let dk: string;
  let plaintext: Buffer;

  it('GenerateDataKey IsHostedByKms=1 returns the data key, its blob and a DataKeyId; only the ciphertext is stored', async () => {
    const r = await audited(
      hk,
      'GenerateDataKey',
      { KeyId: cmk, KeySpec: 'AES_256', IsHostedByKms: 1, DataKeyName: 'orders-dk', Description: 'order data', Tags: [{ TagKey: 'team', TagValue: 'shop' }] },
      // The CMK, and the data key the call created (docs/contract/audit.md#what-is-recorded).
      (answer) => `${cmk},${answer.DataKeyId}`,
    );
    dk = r.DataKeyId as string;
    expect(dk).toMatch(/^[0-9a-f-]{36}$/);
    plaintext = unb64(r.Plaintext);
    expect(plaintext).toHaveLength(32);
    const stored = await row(dk);
    expect(stored.ciphertext_blob.includes(plaintext)).toBe(false);
    expect(JSON.stringify(stored)).not.toContain(r.Plaintext as string);
    // The stored blob is a CryptoService blob under the CMK: AES-256-GCM (algorithm 1) in the token.
    expect(Buffer.from(stored.ciphertext_blob).subarray(0, 4)).toEqual(Buffer.from([0x48, 0x4b, 1, 1]));
    expect(unb64((await hk('Decrypt', { CiphertextBlob: r.CiphertextBlob })).Plaintext)).toEqual(plaintext);
    expect(server.logText()).not.toContain(r.Plaintext as string);
    expect(JSON.stringify(await server.services.auditRepo.query({ limit: 1000 }))).not.toContain(r.Plaintext as string);
  });

  it('DescribeDataKey: DataKeyMetadata exactly as the SDK models it', async () => {
    const r = await audited(hk, 'DescribeDataKey', { DataKeyId: dk }, dk);
    expect(r.DataKeyMetadata).toMatchObject({
      DataKeyId: dk,
      KeyId: cmk,
      KeyName: 'dk-wrapper',
      DataKeyName: 'orders-dk',
      NumberOfBytes: 32,
      Description: 'order data',
      KeyState: 'Enabled',
      CreatorUin: Number(ROOT.uin),
      CreatorUinString: ROOT.uin,
      Owner: 'user',
      DeletionDate: 0,
      Origin: 'TENCENT_KMS',
      ResourceId: `creatorUin/${ROOT.uin}/${dk}`,
      AccountUin: Number(ROOT.uin),
      AccountName: '',
    });
    const account = await server.services.db('accounts').where({ uin: ROOT.uin }).first();
    expect((r.DataKeyMetadata as Record<string, unknown>).AccountAppId).toBe(Number(account.app_id));
    const modelled = Object.keys((kmsActions.DescribeDataKey.response.DataKeyMetadata!.type as { struct: Record<string, unknown> }).struct);
    expect(modelled.filter((f) => !(f in (r.DataKeyMetadata as object)))).toEqual([]);
  });

  it('GetDataKeyPlaintext returns it (and wraps it to an EncryptionPublicKey); GetDataKeyCiphertextBlob is Decrypt-compatible', async () => {
    const p = await audited(hk, 'GetDataKeyPlaintext', { DataKeyId: dk }, dk);
    expect(unb64(p.Plaintext)).toEqual(plaintext);
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const w = await hk('GetDataKeyPlaintext', { DataKeyId: dk, EncryptionPublicKey: publicKey.export({ type: 'spki', format: 'pem' }), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' });
    expect(crypto.privateDecrypt({ key: privateKey, oaepHash: 'sha256', padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }, unb64(w.Plaintext))).toEqual(plaintext);
    expect(JSON.stringify(await server.services.auditRepo.query({ limit: 1000 }))).not.toContain(p.Plaintext as string);
    const c = await audited(hk, 'GetDataKeyCiphertextBlob', { DataKeyId: dk }, dk);
    expect(unb64((await hk('Decrypt', { CiphertextBlob: c.CiphertextBlob })).Plaintext)).toEqual(plaintext);
  });

  it('ImportDataKey: type 2 (plaintext, EXTERNAL) and type 1 (a GenerateDataKey blob, KeyId must match)', async () => {
    const material = crypto.randomBytes(24);
    const i2 = await audited(hk, 'ImportDataKey', { DataKeyName: 'imported-plain', ImportKeyMaterial: b64(material), ImportType: 2, KeyId: cmk }, (a) => `${cmk},${a.DataKeyId}`);
    expect(i2.KeyId).toBe(cmk);
    expect(await meta(i2.DataKeyId as string)).toMatchObject({ Origin: 'EXTERNAL', NumberOfBytes: 24 });
    expect(unb64((await hk('GetDataKeyPlaintext', { DataKeyId: i2.DataKeyId })).Plaintext)).toEqual(material);

    const g = await hk('GenerateDataKey', { KeyId: cmk, NumberOfBytes: 16 });
    const i1 = await audited(hk, 'ImportDataKey', { DataKeyName: 'imported-blob', ImportKeyMaterial: g.CiphertextBlob, ImportType: 1 }, (a) => `${cmk},${a.DataKeyId}`);
    expect(unb64((await hk('GetDataKeyPlaintext', { DataKeyId: i1.DataKeyId })).Plaintext)).toEqual(unb64(g.Plaintext));
    const other = (await hk('CreateKey', { Alias: 'dk-other' })).KeyId as string;
    expect(await code(hk('ImportDataKey', { DataKeyName: 'wrong-cmk', ImportKeyMaterial: g.CiphertextBlob, ImportType: 1, KeyId: other }))).toBe(
      'InvalidParameterValue.InvalidImportKeyMaterial',
    );
    const bad = unb64(g.CiphertextBlob);
    bad[bad.length - 1] ^= 1;
    expect(await code(hk('ImportDataKey', { DataKeyName: 'tampered', ImportKeyMaterial: bad.toString('base64'), ImportType: 1 }))).toBe(
      'InvalidParameterValue.InvalidImportKeyMaterial',
    );
    expect(await code(hk('ImportDataKey', { DataKeyName: 'garbage', ImportKeyMaterial: b64('not a blob'), ImportType: 1 }))).toBe('InvalidParameterValue.InvalidImportKeyMaterial');
    // ImportDataKey's list names no DataKeyNameAlreadyExists: its InvalidDataKeyName (docs/contract/actions.md#common-answers).
    expect(await code(hk('ImportDataKey', { DataKeyName: 'imported-plain', ImportKeyMaterial: b64('x'), ImportType: 2, KeyId: cmk }))).toBe(
      'InvalidParameterValue.InvalidDataKeyName',
    );
  });

  it('DescribeDataKeys, ListDataKeys, ListDataKeyDetail (filters, ordering, paging)', async () => {
    const ids = [dk, (await hosted('list-b', { NumberOfBytes: 16 })).DataKeyId as string];
    const d = await audited(hk, 'DescribeDataKeys', { DataKeyIds: ids }, ids.join(','));
    expect((d.DataKeyMetadatas as Array<{ DataKeyId: string }>).map((m) => m.DataKeyId)).toEqual(ids);
    expect(await code(hk('DescribeDataKeys', { DataKeyIds: [dk, '00000000-0000-4000-8000-000000000001'] }))).toBe('ResourceUnavailable.DataKeyNotFound');
    expect(await code(hk('DescribeDataKeys', { DataKeyIds: [dk, dk] }))).toBe('InvalidParameterValue.DuplicatedDataKeyId');

    // Pages partition the set (same-second CreateTimes tie-break on the id, as for CMKs).
    const l = await audited(hk, 'ListDataKeys', { Limit: 2 }, '*');
    expect(l.TotalCount).toBe(4);
    const rest = await hk('ListDataKeys', { Offset: 2, Limit: 2 });
    const all = [...(l.DataKeys as Array<{ DataKeyId: string }>), ...(rest.DataKeys as Array<{ DataKeyId: string }>)].map((d) => d.DataKeyId);
    expect(new Set(all).size).toBe(4);
    expect(all).toEqual(expect.arrayContaining(ids));

    // names sorted: the filter's result set; times: the order it came in.
    const detail = async (p: Record<string, unknown>) => {
      const r = await hk('ListDataKeyDetail', p);
      expect(checkAgainstSdkResponse('ListDataKeyDetail', r)).toEqual([]);
      const m = r.DataKeyMetadatas as Array<{ DataKeyName: string; CreateTime: number }>;
      return { total: r.TotalCount, names: m.map((x) => x.DataKeyName).sort(), times: m.map((x) => x.CreateTime) };
    };
    await audited(hk, 'ListDataKeyDetail', {}, '*');
    const oldest = await detail({ OrderType: 1 });
    expect(oldest).toMatchObject({ total: 4, names: ['imported-blob', 'imported-plain', 'list-b', 'orders-dk'] });
    expect(oldest.times).toEqual([...oldest.times].sort((a, b) => a - b));
    const newest = await detail({ OrderType: 0 });
    expect(newest.times).toEqual([...newest.times].sort((a, b) => b - a));
    expect(await detail({ Origin: 'EXTERNAL' })).toMatchObject({ total: 2, names: ['imported-blob', 'imported-plain'] });
    expect(await detail({ DataKeyLen: 16 })).toMatchObject({ total: 2, names: ['imported-blob', 'list-b'] });
    const page = await detail({ SearchKeyAlias: 'imported', Limit: 1 });
    expect(page.total).toBe(2);
    expect(page.names).toHaveLength(1);
    expect(await detail({ SearchKeyAlias: dk.slice(0, 13) })).toMatchObject({ names: ['orders-dk'] });
    expect(await detail({ TagFilters: [{ TagKey: 'team', TagValue: ['shop'] }] })).toMatchObject({ total: 1, names: ['orders-dk'] });
    expect(await detail({ KeyId: cmk, KeyState: 1 })).toMatchObject({ total: 4 });
    expect(await detail({ KeyId: cmk, KeyState: 2 })).toMatchObject({ total: 0, names: [] });
    expect(await detail({ Role: 1 })).toMatchObject({ total: 0, names: [] });
  });

  it('UpdateDataKeyName / UpdateDataKeyDescription', async () => {
    await audited(hk, 'UpdateDataKeyName', { DataKeyId: dk, DataKeyName: 'orders-dk-2' }, dk);
    await audited(hk, 'UpdateDataKeyDescription', { DataKeyId: dk, Description: 'renamed' }, dk);
    expect(await meta(dk)).toMatchObject({ DataKeyName: 'orders-dk-2', Description: 'renamed' });
    // UpdateDataKeyName's list names no DataKeyNameAlreadyExists: its InvalidParameterValue.
    expect(await code(hk('UpdateDataKeyName', { DataKeyId: dk, DataKeyName: 'list-b' }))).toBe('InvalidParameterValue');
    expect(await code(hk('UpdateDataKeyDescription', { DataKeyId: dk, Description: 'x'.repeat(101) }))).toBe('InvalidParameter');
  });

  it('the data-key state table: Disable, Enable (batch too), Schedule (Disabled first), Cancel', async () => {
    await audited(hk, 'DisableDataKey', { DataKeyId: dk }, dk);
    expect(await code(hk('GetDataKeyPlaintext', { DataKeyId: dk }))).toBe('ResourceUnavailable.DataKeyDisabled');
    expect(await code(hk('GetDataKeyCiphertextBlob', { DataKeyId: dk }))).toBe('ResourceUnavailable.DataKeyStateNotSupport');
    await audited(hk, 'EnableDataKey', { DataKeyId: dk }, dk);
    expect((await hk('GetDataKeyPlaintext', { DataKeyId: dk })).Plaintext).toBe(b64(plaintext));

    const other = (await hosted('batch-b')).DataKeyId as string;
    await audited(hk, 'DisableDataKeys', { DataKeyIds: [dk, other] }, `${dk},${other}`);
    expect((await meta(other)).KeyState).toBe('Disabled');
    await audited(hk, 'EnableDataKeys', { DataKeyIds: [dk, other] }, `${dk},${other}`);
    expect((await meta(other)).KeyState).toBe('Enabled');

    expect(await code(hk('ScheduleDataKeyDeletion', { DataKeyId: dk, PendingWindowInDays: 7 }))).toBe('ResourceUnavailable.DataKeyStateNotSupport');
    await hk('DisableDataKey', { DataKeyId: dk });
    const s = await audited(hk, 'ScheduleDataKeyDeletion', { DataKeyId: dk, PendingWindowInDays: 7 }, dk);
    expect(s.DataKeyId).toBe(dk);
    expect(Math.abs((s.DeletionDate as number) - (Date.now() / 1000 + 7 * DAY))).toBeLessThan(60);
    expect(await meta(dk)).toMatchObject({ KeyState: 'PendingDelete', DeletionDate: s.DeletionDate });
    expect(await code(hk('GetDataKeyPlaintext', { DataKeyId: dk }))).toBe('ResourceUnavailable.DataKeyPendingDelete');
    // Neither list has a data-key state code: the common ResourceUnavailable (docs/contract/actions.md#common-answers).
    expect(await code(hk('EnableDataKey', { DataKeyId: dk }))).toBe('ResourceUnavailable');
    expect(await code(hk('UpdateDataKeyName', { DataKeyId: dk, DataKeyName: 'x' }))).toBe('ResourceUnavailable');
    expect(await code(hk('ScheduleDataKeyDeletion', { DataKeyId: dk, PendingWindowInDays: 6 }))).toBe('InvalidParameter.InvalidPendingWindowInDays');
    expect((await audited(hk, 'CancelDataKeyDeletion', { DataKeyId: dk }, dk)).DataKeyId).toBe(dk);
    expect(await meta(dk)).toMatchObject({ KeyState: 'Disabled', DeletionDate: 0 });
    expect(await code(hk('CancelDataKeyDeletion', { DataKeyId: dk }))).toBe('ResourceUnavailable.DataKeyNotPendingDelete');
    expect(await code(hk('DescribeDataKey', { DataKeyId: '00000000-0000-4000-8000-000000000002' }))).toBe('ResourceUnavailable.DataKeyNotFound');
    expect(await code(hk('DescribeDataKey', { DataKeyId: 'not-an-id' }))).toBe('InvalidParameterValue.InvalidDataKeyId');
  });

  it('names are unique per account and region; a failed call changes nothing', async () => {
    expect(await code(hosted('list-b'))).toBe('InvalidParameterValue.DataKeyNameAlreadyExists');
    expect(await code(hk('GenerateDataKey', { KeyId: cmk, NumberOfBytes: 8, IsHostedByKms: 1 }))).toBe('MissingParameter');
    expect((await hk('ListDataKeys', {})).TotalCount).toBe(5);
  });
});

describe('SM region: the hosted copy is SM4-GCM in the software module', () => {
  it('GenerateDataKey with an EncryptionContext: the caller’s blob needs it, the hosted copy does not', async () => {
    const sm = (await gz('CreateKey', { Alias: 'dk-sm' })).KeyId as string;
    const ctx = JSON.stringify({ order: '42' });
    const r = await gz('GenerateDataKey', { KeyId: sm, NumberOfBytes: 16, EncryptionContext: ctx, IsHostedByKms: 1, DataKeyName: 'sm-dk' });
    expect(await code(gz('Decrypt', { CiphertextBlob: r.CiphertextBlob }))).toBe('InvalidParameterValue.InvalidCiphertext');
    expect((await gz('Decrypt', { CiphertextBlob: r.CiphertextBlob, EncryptionContext: ctx })).Plaintext).toBe(r.Plaintext);
    const hostedBlob = unb64((await gz('GetDataKeyCiphertextBlob', { DataKeyId: r.DataKeyId })).CiphertextBlob);
    expect(hostedBlob.subarray(0, 4)).toEqual(Buffer.from([0x48, 0x4b, 1, 2]));
    expect((await gz('GetDataKeyPlaintext', { DataKeyId: r.DataKeyId })).Plaintext).toBe(r.Plaintext);
    // Data keys of one region are invisible from another.
    expect(await code(hk('DescribeDataKey', { DataKeyId: r.DataKeyId }))).toBe('ResourceUnavailable.DataKeyNotFound');
  });
});

describe('what the CMK’s state does to its hosted data keys (docs/data-keys.md)', () => {
  it('Disabled: no plaintext (CmkDisabled), no re-enabling (CmkStateNotSupport), no new hosting', async () => {
    const k = (await hk('CreateKey', { Alias: 'dk-cmk-disabled' })).KeyId as string;
    const a = (await hosted('cmk-disabled-a', {}, hk, k)).DataKeyId as string;
    const b = (await hosted('cmk-disabled-b', {}, hk, k)).DataKeyId as string;
    await hk('DisableDataKey', { DataKeyId: b });
    await hk('DisableKey', { KeyId: k });
    expect(await code(hk('GetDataKeyPlaintext', { DataKeyId: a }))).toBe('ResourceUnavailable.CmkDisabled');
    expect(await code(hk('EnableDataKey', { DataKeyId: b }))).toBe('ResourceUnavailable.CmkStateNotSupport');
    expect(await code(hosted('cmk-disabled-c', {}, hk, k))).toBe('ResourceUnavailable.CmkDisabled');
    expect(await code(hk('ImportDataKey', { DataKeyName: 'cmk-disabled-d', ImportKeyMaterial: b64('k'), ImportType: 2, KeyId: k }))).toBe('ResourceUnavailable.CmkDisabled');
    // Metadata stays readable and manageable.
    expect((await meta(a)).KeyState).toBe('Enabled');
    await hk('DisableDataKey', { DataKeyId: a });
    await hk('EnableKey', { KeyId: k });
    await hk('EnableDataKey', { DataKeyId: a });
    expect((await hk('GetDataKeyPlaintext', { DataKeyId: a })).Plaintext).toBeTruthy();
  });

  it('Archived: decrypt-only, like Decrypt — plaintext yes, new hosting no', async () => {
    const k = (await hk('CreateKey', { Alias: 'dk-cmk-archived' })).KeyId as string;
    const a = (await hosted('cmk-archived-a', {}, hk, k)).DataKeyId as string;
    await hk('ArchiveKey', { KeyId: k });
    expect((await hk('GetDataKeyPlaintext', { DataKeyId: a })).Plaintext).toBeTruthy();
    // GenerateDataKey's list has no CmkArchived: the nearest code it has (docs/contract/actions.md#common-answers).
    expect(await code(hosted('cmk-archived-b', {}, hk, k))).toBe('ResourceUnavailable.CmkDisabled');
  });

  it('PendingDelete: no plaintext (CmkStateNotSupport); deleted with the CMK by the deletion job', async () => {
    const k = (await hk('CreateKey', { Alias: 'dk-cmk-deleted' })).KeyId as string;
    const a = (await hosted('cmk-deleted-a', {}, hk, k)).DataKeyId as string;
    await hk('DisableKey', { KeyId: k });
    const s = await hk('ScheduleKeyDeletion', { KeyId: k, PendingWindowInDays: 7 });
    expect(await code(hk('GetDataKeyPlaintext', { DataKeyId: a }))).toBe('ResourceUnavailable.CmkStateNotSupport');
    expect(await code(hosted('cmk-deleted-b', {}, hk, k))).toBe('ResourceUnavailable.KeyPendingDelete');
    const r = await server.services.jobs.run(((s.DeletionDate as number) + 1) * 1000);
    expect(r.deleted).toEqual([k]);
    expect(r.dataKeysDeleted).toEqual([a]);
    expect(await code(hk('DescribeDataKey', { DataKeyId: a }))).toBe('ResourceUnavailable.DataKeyNotFound');
  });
});

describe('data-key deletion drill: `hsmkms jobs run --at`', () => {
  const jobsRunAt = (iso: string) => jobsRunAtBeside(server, iso);

  it('destroys a data key at its DeletionDate, not before; the CMK stays', async () => {
    const id = (await hosted('drill')).DataKeyId as string;
    await hk('DisableDataKey', { DataKeyId: id });
    const s = await hk('ScheduleDataKeyDeletion', { DataKeyId: id, PendingWindowInDays: 7 });
    const at = (offset: number) => new Date(((s.DeletionDate as number) + offset) * 1000).toISOString();
    expect((await jobsRunAt(at(-60))).dataKeysDeleted).toEqual([]);
    expect((await meta(id)).KeyState).toBe('PendingDelete');
    const due = await jobsRunAt(at(1));
    expect(due.dataKeysDeleted).toEqual([id]);
    expect(due.deleted).toEqual([]);
    expect(await code(hk('DescribeDataKey', { DataKeyId: id }))).toBe('ResourceUnavailable.DataKeyNotFound');
    expect(await row(id)).toBeUndefined();
    expect((await hk('DescribeKey', { KeyId: cmk })).KeyMetadata).toMatchObject({ KeyState: 'Enabled' });
    expect((await jobsRunAt(at(2))).dataKeysDeleted).toEqual([]);
  });
});

describe('quota and GetServiceStatus', () => {
  it('reports counts and limits; beyond the limit → DataKeyLimitExceeded; PendingDelete keys do not count, cancelling needs room', async () => {
    const bj = cnKmsClient({ endpoint: server.endpoint, secretId: ROOT.secretId, secretKey: ROOT.secretKey, region: 'ap-beijing' });
    const k = (await bj('CreateKey', { Alias: 'dk-quota' })).KeyId as string;
    const ids: string[] = [];
    for (let i = 0; i < LIMIT; i++) ids.push((await hosted(`q${i}`, { NumberOfBytes: 1 }, bj, k)).DataKeyId as string);
    const st = await bj('GetServiceStatus');
    expect(checkAgainstSdkResponse('GetServiceStatus', st)).toEqual([]);
    expect(st).toMatchObject({ IsAllowedDataKeyHosted: true, DataKeyLimit: LIMIT, DataKeyUsedCount: LIMIT });
    expect(await code(hosted('q-over', { NumberOfBytes: 1 }, bj, k))).toBe('LimitExceeded.DataKeyLimitExceeded');
    expect(await code(bj('ImportDataKey', { DataKeyName: 'q-over', ImportKeyMaterial: b64('k'), ImportType: 2, KeyId: k }))).toBe('LimitExceeded.DataKeyLimitExceeded');
    await bj('DisableDataKey', { DataKeyId: ids[0] });
    await bj('ScheduleDataKeyDeletion', { DataKeyId: ids[0], PendingWindowInDays: 7 });
    expect((await bj('GetServiceStatus')).DataKeyUsedCount).toBe(LIMIT - 1);
    const extra = (await hosted('q-room', { NumberOfBytes: 1 }, bj, k)).DataKeyId;
    expect(extra).toBeTruthy();
    expect(await code(bj('CancelDataKeyDeletion', { DataKeyId: ids[0] }))).toBe('LimitExceeded.DataKeyLimitExceeded');
  });
});

describe('CAM: data keys are resource-level on the region-less `qcs::kms::uin/…:key/creatorUin/…/$dataKeyId`', () => {
  it('a sub-account allowed on one data key reads it and nothing else; the regional form grants nothing', async () => {
    const a = (await hosted('cam-a')).DataKeyId as string;
    const b = (await hosted('cam-b')).DataKeyId as string;
    const dkResource = (id: string) => `qcs::kms::uin/${ROOT.uin}:key/creatorUin/${ROOT.uin}/${id}`;
    const s = server.services;
    const sub = async (name: string, resource: string[]) => {
      await s.identities.createUser(ROOT.uin, name);
      await s.access.createPolicy(
        ROOT.uin,
        `${name}-p`,
        JSON.stringify({
          version: '2.0',
          statement: [
            { effect: 'allow', action: ['name/kms:GetDataKeyPlaintext', 'name/kms:DescribeDataKey', 'name/kms:DescribeDataKeys', 'name/kms:DisableDataKeys'], resource },
            // GetDataKeyPlaintext decrypts under the CMK: that needs Decrypt on it (docs/data-keys.md#cam).
            { effect: 'allow', action: ['name/kms:Decrypt'], resource: [`qcs::kms:ap-hongkong:uin/${ROOT.uin}:key/creatorUin/${ROOT.uin}/${cmk}`] },
          ],
        }),
      );
      await s.access.attach(ROOT.uin, `${name}-p`, name);
      const cred = await s.identities.createCredential(ROOT.uin, name);
      return cnKmsClient({ endpoint: server.endpoint, secretId: cred.secretId, secretKey: cred.secretKey, region: 'ap-hongkong' });
    };
    const alice = await sub('dk-alice', [dkResource(a)]);
    expect((await alice('GetDataKeyPlaintext', { DataKeyId: a })).Plaintext).toBeTruthy();
    expect((await alice('DescribeDataKey', { DataKeyId: a })).DataKeyMetadata).toMatchObject({ DataKeyId: a });
    let message = '';
    try {
      await alice('GetDataKeyPlaintext', { DataKeyId: b });
    } catch (e) {
      message = `${(e as { code: string; message: string }).code} ${(e as { message: string }).message}`;
    }
    expect(message).toContain('AuthFailure.UnauthorizedOperation');
    expect(message).toContain(dkResource(b));
    // A batch needs every data key.
    expect(await code(alice('DescribeDataKeys', { DataKeyIds: [a, b] }))).toBe('AuthFailure.UnauthorizedOperation');
    expect(await code(alice('DisableDataKeys', { DataKeyIds: [a, b] }))).toBe('AuthFailure.UnauthorizedOperation');
    expect((await meta(b)).KeyState).toBe('Enabled');
    // The denial is audited with the data key as resource.
    const denied = (await s.auditRepo.query({ limit: 50, userName: 'dk-alice' })).filter((e) => e.result === 'Fail');
    expect(denied.map((e) => e.resourceName)).toContain(b);

    // The seed's resource has no region: a regional pattern does not match it.
    const bob = await sub('dk-bob', [`qcs::kms:ap-hongkong:uin/${ROOT.uin}:key/creatorUin/${ROOT.uin}/${a}`]);
    expect(await code(bob('GetDataKeyPlaintext', { DataKeyId: a }))).toBe('AuthFailure.UnauthorizedOperation');
    // A wildcard on the creator works for every data key the root created.
    const carol = await sub('dk-carol', [`qcs::kms::uin/${ROOT.uin}:key/creatorUin/${ROOT.uin}/*`]);
    expect((await carol('DescribeDataKeys', { DataKeyIds: [a, b] })).DataKeyMetadatas).toHaveLength(2);
  });

  it('ImportDataKey is evaluated on the wrapping CMK in the same region-less form (for a blob: the CMK inside it)', async () => {
    const s = server.services;
    await s.identities.createUser(ROOT.uin, 'dk-importer');
    const cmkResource = (region: string) => `qcs::kms:${region}:uin/${ROOT.uin}:key/creatorUin/${ROOT.uin}/${cmk}`;
    // The import is also the Decrypt (type 1) or Encrypt (type 2) it performs, on the regional resource.
    await s.access.createPolicy(
      ROOT.uin,
      'dk-importer-p',
      JSON.stringify({
        version: '2.0',
        statement: [
          { effect: 'allow', action: ['name/kms:ImportDataKey'], resource: [cmkResource('')] },
          { effect: 'allow', action: ['name/kms:Decrypt', 'name/kms:Encrypt'], resource: [`qcs::kms:*:uin/${ROOT.uin}:key/creatorUin/*`] },
        ],
      }),
    );
    await s.access.attach(ROOT.uin, 'dk-importer-p', 'dk-importer');
    const cred = await s.identities.createCredential(ROOT.uin, 'dk-importer');
    const importer = cnKmsClient({ endpoint: server.endpoint, secretId: cred.secretId, secretKey: cred.secretKey, region: 'ap-hongkong' });
    expect((await importer('ImportDataKey', { DataKeyName: 'cam-import-2', ImportKeyMaterial: b64('k'), ImportType: 2, KeyId: cmk })).KeyId).toBe(cmk);
    const g = await hk('GenerateDataKey', { KeyId: cmk, NumberOfBytes: 8 });
    expect((await importer('ImportDataKey', { DataKeyName: 'cam-import-1', ImportKeyMaterial: g.CiphertextBlob, ImportType: 1 })).KeyId).toBe(cmk);
    const other = (await hk('CreateKey', { Alias: 'dk-cam-other' })).KeyId as string;
    expect(await code(importer('ImportDataKey', { DataKeyName: 'cam-import-3', ImportKeyMaterial: b64('k'), ImportType: 2, KeyId: other }))).toBe(
      'AuthFailure.UnauthorizedOperation',
    );
    const gOther = await hk('GenerateDataKey', { KeyId: other, NumberOfBytes: 8 });
    expect(await code(importer('ImportDataKey', { DataKeyName: 'cam-import-4', ImportKeyMaterial: gOther.CiphertextBlob, ImportType: 1 }))).toBe(
      'AuthFailure.UnauthorizedOperation',
    );
  });

  describe('a refused Decrypt or Encrypt on the CMK is not bypassed through hosted data keys', () => {
    // A sub-account denied Decrypt, Encrypt, ReEncrypt and GenerateDataKey but allowed ImportDataKey
    // on the CMK and GetDataKeyPlaintext / GetDataKeyCiphertextBlob on its own data keys decrypted
    // any context-less ciphertext of the CMK (import type 1, then read the plaintext) and forged
    // ciphertexts under it (import type 2, then read the blob).
    const regional = (keyId: string) => `qcs::kms:ap-hongkong:uin/${ROOT.uin}:key/creatorUin/${ROOT.uin}/${keyId}`;
    const ownDataKeys = `qcs::kms::uin/${ROOT.uin}:key/creatorUin/*`;
    const dataKeyUser = async (name: string, statements: object[]) => {
      const s = server.services;
      await s.identities.createUser(ROOT.uin, name);
      await s.access.createPolicy(ROOT.uin, `${name}-p`, JSON.stringify({ version: '2.0', statement: statements }));
      await s.access.attach(ROOT.uin, `${name}-p`, name);
      const cred = await s.identities.createCredential(ROOT.uin, name);
      return cnKmsClient({ endpoint: server.endpoint, secretId: cred.secretId, secretKey: cred.secretKey, region: 'ap-hongkong' });
    };
    const dataKeyActions = {
      effect: 'allow',
      action: ['name/kms:ImportDataKey', 'name/kms:GetDataKeyPlaintext', 'name/kms:GetDataKeyCiphertextBlob'],
      resource: [`qcs::kms::uin/${ROOT.uin}:key/creatorUin/${ROOT.uin}/${'*'}`, ownDataKeys],
    };
    const denial = async (p: Promise<unknown>) => {
      try {
        await p;
        return 'allowed';
      } catch (e) {
        return `${(e as { code: string }).code} ${(e as { message: string }).message}`;
      }
    };

    it('direction one: a ciphertext of the CMK cannot be imported (type 1) and read back as a data key', async () => {
      const mallory = await dataKeyUser('dk-mallory-1', [
        dataKeyActions,
        { effect: 'deny', action: ['name/kms:Decrypt', 'name/kms:Encrypt', 'name/kms:ReEncrypt', 'name/kms:GenerateDataKey'], resource: '*' },
      ]);
      const secret = b64('root’s secret, 26 bytes ..');
      const blob = (await hk('Encrypt', { KeyId: cmk, Plaintext: secret })).CiphertextBlob as string;
      const refused = await denial(mallory('ImportDataKey', { DataKeyName: 'steal-1', ImportKeyMaterial: blob, ImportType: 1 }));
      expect(refused).toContain('AuthFailure.UnauthorizedOperation');
      expect(refused).toContain('kms:Decrypt');
      expect(refused).toContain(regional(cmk));
      expect(await code(mallory('ImportDataKey', { DataKeyName: 'steal-1b', ImportKeyMaterial: blob, ImportType: 1, KeyId: cmk }))).toBe('AuthFailure.UnauthorizedOperation');
      // Nor through a data key someone allowed made of it: reading its plaintext is a Decrypt too.
      const imported = (await hk('ImportDataKey', { DataKeyName: 'root-import-1', ImportKeyMaterial: blob, ImportType: 1 })).DataKeyId as string;
      const read = await denial(mallory('GetDataKeyPlaintext', { DataKeyId: imported }));
      expect(read).toContain('AuthFailure.UnauthorizedOperation');
      expect(read).toContain('kms:Decrypt');
      expect(read).not.toContain(secret);
      expect((await hk('ListDataKeyDetail', { SearchKeyAlias: 'steal-1' })).TotalCount).toBe(0);
    });

    it('direction two: a chosen plaintext cannot be imported (type 2) and handed back as a ciphertext of the CMK', async () => {
      const mallory = await dataKeyUser('dk-mallory-2', [
        dataKeyActions,
        { effect: 'deny', action: ['name/kms:Decrypt', 'name/kms:Encrypt', 'name/kms:ReEncrypt', 'name/kms:GenerateDataKey'], resource: [regional(cmk)] },
      ]);
      const refused = await denial(mallory('ImportDataKey', { DataKeyName: 'forge-2', ImportKeyMaterial: b64('{"role":"admin"}'), ImportType: 2, KeyId: cmk }));
      expect(refused).toContain('AuthFailure.UnauthorizedOperation');
      expect(refused).toContain('kms:Encrypt');
      expect(refused).toContain(regional(cmk));
      expect((await hk('ListDataKeyDetail', { SearchKeyAlias: 'forge-2' })).TotalCount).toBe(0);
    });

    it('default deny: ImportDataKey and GetDataKeyPlaintext alone grant neither operation; allowed Decrypt and Encrypt make both directions work', async () => {
      const only = await dataKeyUser('dk-only', [dataKeyActions]);
      expect(await code(only('ImportDataKey', { DataKeyName: 'only-2', ImportKeyMaterial: b64('k'), ImportType: 2, KeyId: cmk }))).toBe('AuthFailure.UnauthorizedOperation');
      const dora = await dataKeyUser('dk-dora', [dataKeyActions, { effect: 'allow', action: ['name/kms:Decrypt', 'name/kms:Encrypt'], resource: [regional(cmk)] }]);
      const blob = (await hk('Encrypt', { KeyId: cmk, Plaintext: b64('shared data key') })).CiphertextBlob as string;
      const one = (await dora('ImportDataKey', { DataKeyName: 'dora-1', ImportKeyMaterial: blob, ImportType: 1 })).DataKeyId as string;
      expect(unb64((await dora('GetDataKeyPlaintext', { DataKeyId: one })).Plaintext).toString()).toBe('shared data key');
      const two = (await dora('ImportDataKey', { DataKeyName: 'dora-2', ImportKeyMaterial: b64('chosen'), ImportType: 2, KeyId: cmk })).DataKeyId as string;
      const forged = (await dora('GetDataKeyCiphertextBlob', { DataKeyId: two })).CiphertextBlob as string;
      expect(unb64((await hk('Decrypt', { CiphertextBlob: forged })).Plaintext).toString()).toBe('chosen');
      // Allowed on this CMK only: another CMK's ciphertext is still refused.
      const other = (await hk('CreateKey', { Alias: 'dk-dora-other' })).KeyId as string;
      const otherBlob = (await hk('Encrypt', { KeyId: other, Plaintext: b64('x') })).CiphertextBlob as string;
      expect(await code(dora('ImportDataKey', { DataKeyName: 'dora-3', ImportKeyMaterial: otherBlob, ImportType: 1 }))).toBe('AuthFailure.UnauthorizedOperation');
    });
  });
});
