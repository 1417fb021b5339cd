import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, rootCallers, startTestServer, type TestServer } from '../helpers/api-server.js';
import { b64, clearProxy, cnKmsClient, errorCode, intlKmsClient, sdkError, unb64, type KmsCaller, type SdkError } from '../helpers/sdk-clients.js';

// CAM end to end through the official SDKs: sub-accounts holding different policies
// (docs/contract/cam.md, seed 004). The root has full access to its own keys.

let server: TestServer;
let hk: KmsCaller;
let keyA: string; // tagged env=prod
let keyB: string; // untagged
const UNAUTHORIZED = 'AuthFailure.UnauthorizedOperation';

async function subAccount(name: string, policy?: object | string, presets: string[] = []): Promise<KmsCaller> {
  const s = server.services;
  await s.identities.createUser(ROOT.uin, name);
  if (policy) {
    await s.access.createPolicy(ROOT.uin, `${name}-policy`, typeof policy === 'string' ? policy : JSON.stringify(policy));
    await s.access.attach(ROOT.uin, `${name}-policy`, name);
  }
  for (const p of presets) await s.access.attach(ROOT.uin, p, name);
  const cred = await s.identities.createCredential(ROOT.uin, name);
  return cnKmsClient({ endpoint: server.endpoint, secretId: cred.secretId, secretKey: cred.secretKey, region: 'ap-hongkong' });
}

const resourceOf = (keyId: string) => `qcs::kms:ap-hongkong:uin/${ROOT.uin}:key/creatorUin/${ROOT.uin}/${keyId}`;

beforeAll(async () => {
  clearProxy();
  server = await startTestServer({ KMS_JOBS_INTERVAL_SECONDS: '0' });
  ({ hk } = rootCallers(server));
  keyA = (await hk('CreateKey', { Alias: 'prod-key', Tags: [{ TagKey: 'env', TagValue: 'prod' }] })).KeyId as string;
  keyB = (await hk('CreateKey', { Alias: 'other-key' })).KeyId as string;
});

afterAll(async () => {
  await server?.stop();
});

describe('resource-level policies', () => {
  let alice: KmsCaller;
  beforeAll(async () => {
    alice = await subAccount('alice', { version: '2.0', statement: [{ effect: 'allow', action: ['name/kms:Encrypt', 'name/kms:Decrypt'], resource: [resourceOf(keyA)] }] });
  });

  it('allows the named key and refuses another, naming the action and the resource', async () => {
    expect((await alice('Encrypt', { KeyId: keyA, Plaintext: b64('x') })).KeyId).toBe(keyA);
    let err: SdkError | undefined;
    try {
      await alice('Encrypt', { KeyId: keyB, Plaintext: b64('x') });
    } catch (e) {
      err = e as SdkError;
    }
    expect(err?.code).toBe(UNAUTHORIZED);
    expect(err?.message).toContain('kms:Encrypt');
    expect(err?.message).toContain(resourceOf(keyB));
  });

  it('checks Decrypt against the key inside the ciphertext (extension)', async () => {
    const a = (await hk('Encrypt', { KeyId: keyA, Plaintext: b64('a') })).CiphertextBlob;
    const b = (await hk('Encrypt', { KeyId: keyB, Plaintext: b64('b') })).CiphertextBlob;
    expect(Buffer.from((await alice('Decrypt', { CiphertextBlob: a })).Plaintext as string, 'base64').toString()).toBe('a');
    expect(await errorCode(alice('Decrypt', { CiphertextBlob: b }))).toBe(UNAUTHORIZED);
  });

  it('Decrypt is one rule, resource level on the key inside the ciphertext: a policy written to Tencent’s semantics (`*`) grants every key, a key-scoped deny refuses that key', async () => {
    const a = (await hk('Encrypt', { KeyId: keyA, Plaintext: b64('a') })).CiphertextBlob;
    const b = (await hk('Encrypt', { KeyId: keyB, Plaintext: b64('b') })).CiphertextBlob;
    const tencent = await subAccount('decrypt-star', { version: '2.0', statement: [{ effect: 'allow', action: 'name/kms:Decrypt', resource: '*' }] });
    expect(unb64((await tencent('Decrypt', { CiphertextBlob: a })).Plaintext).toString()).toBe('a');
    expect(unb64((await tencent('Decrypt', { CiphertextBlob: b })).Plaintext).toString()).toBe('b');
    const denyA = await subAccount('decrypt-deny-a', {
      version: '2.0',
      statement: [
        { effect: 'allow', action: 'name/kms:Decrypt', resource: '*' },
        { effect: 'deny', action: 'name/kms:Decrypt', resource: [resourceOf(keyA)] },
      ],
    });
    const refused = await sdkError(denyA('Decrypt', { CiphertextBlob: a }));
    expect(refused.code).toBe(UNAUTHORIZED);
    expect(refused.message).toContain(resourceOf(keyA));
    expect(unb64((await denyA('Decrypt', { CiphertextBlob: b })).Plaintext).toString()).toBe('b');
  });

  it('an action the policy does not name is refused', async () => {
    expect(await errorCode(alice('DescribeKey', { KeyId: keyA }))).toBe(UNAUTHORIZED);
    expect(await errorCode(alice('GenerateRandom', { NumberOfBytes: 8 }))).toBe(UNAUTHORIZED);
  });

  it('a missing key and another account’s key answer alike: nothing leaks their existence', async () => {
    const other = await server.services.identities.createAccount();
    const otherCall = cnKmsClient({ endpoint: server.endpoint, secretId: other.secretId, secretKey: other.secretKey, region: 'ap-hongkong' });
    const foreign = (await otherCall('CreateKey', { Alias: 'foreign' })).KeyId as string;
    const missing = '00000000-0000-4000-8000-000000000000';
    expect(await errorCode(alice('Encrypt', { KeyId: foreign, Plaintext: b64('x') }))).toBe(await errorCode(alice('Encrypt', { KeyId: missing, Plaintext: b64('x') })));
    // and the other account's root sees the caller's keys as not found
    expect(await errorCode(otherCall('DescribeKey', { KeyId: keyA }))).toBe('ResourceUnavailable.CmkNotFound');
  });
});

describe('presets, explicit deny and operation-level APIs', () => {
  it('read-only preset: describe and list, but no encryption and no state change', async () => {
    const bob = await subAccount('bob', undefined, ['QcloudKMSReadOnlyAccess']);
    expect((await bob('DescribeKey', { KeyId: keyA })).KeyMetadata).toBeDefined();
    expect((await bob('ListKeys', {})).TotalCount).toBeGreaterThanOrEqual(2);
    expect(await errorCode(bob('Encrypt', { KeyId: keyA, Plaintext: b64('x') }))).toBe(UNAUTHORIZED);
    expect(await errorCode(bob('DisableKey', { KeyId: keyA }))).toBe(UNAUTHORIZED);
    expect(((await hk('DescribeKey', { KeyId: keyA })).KeyMetadata as { KeyState: string }).KeyState).toBe('Enabled');
  });

  it('explicit deny wins over full access', async () => {
    const carol = await subAccount('carol', { version: '2.0', statement: [{ effect: 'deny', action: 'name/kms:ScheduleKeyDeletion', resource: '*' }] }, ['QcloudKMSFullAccess']);
    const { KeyId } = await carol('CreateKey', { Alias: 'carols' });
    const meta = (await hk('DescribeKey', { KeyId })).KeyMetadata as { CreatorUin: number };
    expect(String(meta.CreatorUin)).not.toBe(ROOT.uin); // created by the sub-account
    await carol('DisableKey', { KeyId });
    expect(await errorCode(carol('ScheduleKeyDeletion', { KeyId, PendingWindowInDays: 7 }))).toBe(UNAUTHORIZED);
    expect(((await hk('DescribeKey', { KeyId })).KeyMetadata as { KeyState: string }).KeyState).toBe('Disabled');
  });

  it('no policy means no access, even to operation-level APIs', async () => {
    const nobody = await subAccount('nobody');
    expect(await errorCode(nobody('ListKeys', {}))).toBe(UNAUTHORIZED);
    expect(await errorCode(nobody('CreateKey', { Alias: 'nope' }))).toBe(UNAUTHORIZED);
  });

  it('operation-level APIs need resource "*": a key-scoped grant does not cover CreateKey', async () => {
    const scoped = await subAccount('scoped', { version: '2.0', statement: [{ effect: 'allow', action: 'name/kms:*', resource: `qcs::kms:ap-hongkong:uin/${ROOT.uin}:key/*` }] });
    expect((await scoped('DescribeKey', { KeyId: keyB })).KeyMetadata).toBeDefined();
    expect(await errorCode(scoped('CreateKey', { Alias: 'scoped-new' }))).toBe(UNAUTHORIZED);
  });
});

describe('conditions', () => {
  it('ip_equal: allowed from 127.0.0.1, refused for a CIDR that excludes it', async () => {
    const local = await subAccount('local', {
      version: '2.0',
      statement: [{ effect: 'allow', action: 'kms:Encrypt', resource: '*', condition: { ip_equal: { 'qcs:ip': ['127.0.0.0/8'] } } }],
    });
    const remote = await subAccount('remote', {
      version: '2.0',
      statement: [{ effect: 'allow', action: 'kms:Encrypt', resource: '*', condition: { ip_equal: { 'qcs:ip': ['10.0.0.0/8'] } } }],
    });
    expect((await local('Encrypt', { KeyId: keyB, Plaintext: b64('x') })).KeyId).toBe(keyB);
    expect(await errorCode(remote('Encrypt', { KeyId: keyB, Plaintext: b64('x') }))).toBe(UNAUTHORIZED);
  });

  it('BindCloudResource is evaluated without qcs:ip (seed: IP restriction not supported), UnbindCloudResource with it', async () => {
    const binder = await subAccount('binder', {
      version: '2.0',
      statement: [{ effect: 'allow', action: ['kms:BindCloudResource', 'kms:UnbindCloudResource'], resource: '*', condition: { ip_equal: { 'qcs:ip': ['127.0.0.0/8'] } } }],
    });
    const binding = { KeyId: keyB, ProductId: 'cos', ResourceId: 'bucket-ip-test' };
    expect(await errorCode(binder('BindCloudResource', binding))).toBe(UNAUTHORIZED);
    // Past CAM: the use case answers that there is no such binding.
    expect(await errorCode(binder('UnbindCloudResource', binding))).toBe('ResourceUnavailable.CloudResourceBindingNotFound');
  });

  it('tag-based authorization on qcs:resource_tag', async () => {
    const tagged = await subAccount('tagged', {
      version: '2.0',
      statement: [
        {
          effect: 'allow',
          action: ['name/kms:Encrypt'],
          resource: `qcs::kms:ap-hongkong:uin/${ROOT.uin}:key/*`,
          condition: { 'for_any_value:string_equal': { 'qcs:resource_tag': ['env&prod'] } },
        },
      ],
    });
    expect((await tagged('Encrypt', { KeyId: keyA, Plaintext: b64('x') })).KeyId).toBe(keyA);
    expect(await errorCode(tagged('Encrypt', { KeyId: keyB, Plaintext: b64('x') }))).toBe(UNAUTHORIZED);
  });

  it('date conditions on qcs:current_time', async () => {
    const expired = await subAccount('expired', {
      version: '2.0',
      statement: [{ effect: 'allow', action: 'kms:Encrypt', resource: '*', condition: { date_less_than: { 'qcs:current_time': '2020-01-01T00:00:00Z' } } }],
    });
    expect(await errorCode(expired('Encrypt', { KeyId: keyB, Plaintext: b64('x') }))).toBe(UNAUTHORIZED);
  });
});

describe('administration', () => {
  it('refuses a malformed policy with a message that says what is wrong, and stores nothing', async () => {
    await expect(
      server.services.access.createPolicy(ROOT.uin, 'bad', JSON.stringify({ version: '2.0', statement: [{ effect: 'maybe', action: 'kms:Encrypt', resource: '*' }] })),
    ).rejects.toThrow(/effect/);
    await expect(server.services.access.createPolicy(ROOT.uin, 'bad', '{"version":"1.0","statement":[]}')).rejects.toThrow(/version/);
    await expect(
      server.services.access.createPolicy(ROOT.uin, 'bad', JSON.stringify({ version: '2.0', statement: [{ effect: 'allow', action: 'kms:StealKeys', resource: '*' }] })),
    ).rejects.toThrow(/StealKeys/);
    expect((await server.services.access.listPolicies(ROOT.uin)).map((p) => p.name)).not.toContain('bad');
  });

  it('a disabled sub-account cannot call anything; enabling restores it', async () => {
    const gina = await subAccount('gina', undefined, ['QcloudKMSReadOnlyAccess']);
    expect((await gina('ListKeys', {})).Keys).toBeDefined();
    await server.services.identities.setUserStatus(ROOT.uin, 'gina', 'Disabled');
    expect(await errorCode(gina('ListKeys', {}))).toBe('AuthFailure.SecretIdNotFound');
    await server.services.identities.setUserStatus(ROOT.uin, 'gina', 'Enabled');
    expect((await gina('ListKeys', {})).Keys).toBeDefined();
  });

  it('policies work the same through the intl SDK (v1 signatures)', async () => {
    await server.services.identities.createUser(ROOT.uin, 'hana');
    await server.services.access.attach(ROOT.uin, 'QcloudKMSReadOnlyAccess', 'hana');
    const cred = await server.services.identities.createCredential(ROOT.uin, 'hana');
    const hana = intlKmsClient({ endpoint: server.endpoint, secretId: cred.secretId, secretKey: cred.secretKey, region: 'ap-hongkong' });
    expect((await hana('DescribeKey', { KeyId: keyA })).KeyMetadata).toBeDefined();
    expect(await errorCode(hana('GenerateDataKey', { KeyId: keyA, KeySpec: 'AES_256' }))).toBe(UNAUTHORIZED);
  });
});
