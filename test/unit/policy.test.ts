import { describe, expect, it } from 'vitest';
import { KMS_ACTIONS, KMS_CAM, READ_ONLY_KMS_ACTIONS } from '../../src/api/actions/index.js';
import { evaluate, keyResource, parsePolicy, PolicyError, POLICY_MAX_CHARS, presetPolicies, type AuthzContext, type AuthzRequest, type Policy } from '../../src/auth/policy.js';

// The engine is given its action lists; these are the registry's (src/api/actions).
const KMS_ACTION_NAMES: ReadonlySet<string> = new Set(KMS_ACTIONS);
const PRESET_POLICIES = presetPolicies(READ_ONLY_KMS_ACTIONS);

// Action names from docs/contract/actions.md#action-index (Action index) / docs/contract/actions.md headings, listed independently of the table.
const SPEC_ACTIONS = [
  'CreateKey',
  'DescribeKey',
  'DescribeKeys',
  'ListKeys',
  'ListKeyDetail',
  'UpdateAlias',
  'UpdateKeyDescription',
  'EnableKey',
  'EnableKeys',
  'DisableKey',
  'DisableKeys',
  'ScheduleKeyDeletion',
  'CancelKeyDeletion',
  'ArchiveKey',
  'CancelKeyArchive',
  'Encrypt',
  'Decrypt',
  'ReEncrypt',
  'GenerateDataKey',
  'GenerateRandom',
  'GetPublicKey',
  'AsymmetricRsaDecrypt',
  'AsymmetricSm2Decrypt',
  'SignByAsymmetricKey',
  'VerifyByAsymmetricKey',
  'GetParametersForImport',
  'ImportKeyMaterial',
  'DeleteImportedKeyMaterial',
  'EnableKeyRotation',
  'DisableKeyRotation',
  'GetKeyRotationStatus',
  'RotateKey',
  'ImportDataKey',
  'DescribeDataKey',
  'DescribeDataKeys',
  'ListDataKeys',
  'ListDataKeyDetail',
  'GetDataKeyPlaintext',
  'GetDataKeyCiphertextBlob',
  'EnableDataKey',
  'EnableDataKeys',
  'DisableDataKey',
  'DisableDataKeys',
  'ScheduleDataKeyDeletion',
  'CancelDataKeyDeletion',
  'UpdateDataKeyName',
  'UpdateDataKeyDescription',
  'CreateWhiteBoxKey',
  'DeleteWhiteBoxKey',
  'DescribeWhiteBoxKey',
  'DescribeWhiteBoxKeyDetails',
  'DescribeWhiteBoxDecryptKey',
  'DescribeWhiteBoxServiceStatus',
  'EnableWhiteBoxKey',
  'EnableWhiteBoxKeys',
  'DisableWhiteBoxKey',
  'DisableWhiteBoxKeys',
  'EncryptByWhiteBox',
  'DescribeWhiteBoxDeviceFingerprints',
  'OverwriteWhiteBoxDeviceFingerprints',
  'PostQuantumCryptoEncrypt',
  'PostQuantumCryptoDecrypt',
  'PostQuantumCryptoSign',
  'PostQuantumCryptoVerify',
  'BindCloudResource',
  'UnbindCloudResource',
  'GetServiceStatus',
  'GetRegions',
  'ListAlgorithms',
];
const KNOWN = new Set(SPEC_ACTIONS);

const OWNER = '100000000001';
const SUB = '100000000002';
const KEY_A = '23e80852-1e38-11e9-b129-5cb9019b4b01';
const KEY_B = '9a1c3d5e-0000-11e9-aaaa-5cb9019b4b02';
const GZ_A = keyResource('ap-guangzhou', OWNER, OWNER, KEY_A);
const GZ_B = keyResource('ap-guangzhou', OWNER, SUB, KEY_B);
const BJ_A = keyResource('ap-beijing', OWNER, OWNER, KEY_A);
const OTHER_ACCT = keyResource('ap-guangzhou', '200000000009', '200000000009', KEY_A);

function policy(statement: unknown): Policy {
  return parsePolicy({ version: '2.0', statement }, { knownActions: KNOWN });
}

function allowPolicy(action: string | string[], resource: string | string[] = '*', condition?: unknown): Policy {
  return policy({ effect: 'allow', action, resource, ...(condition ? { condition } : {}) });
}

// As domain/access.ts asks: with the action's IP-condition support from the CAM table.
function req(action: string, resources: string[] = ['*'], context: AuthzContext = {}, isRoot = false): AuthzRequest {
  return { action, service: 'kms', resources, context, isRoot, ipCondition: (KMS_CAM as Record<string, { ipCondition: boolean }>)[action]?.ipCondition ?? true };
}

function expectPolicyError(input: unknown, message: string | RegExp, knownActions: ReadonlySet<string> | undefined = KNOWN): void {
  let err: unknown;
  try {
    parsePolicy(input, { knownActions });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PolicyError);
  expect((err as PolicyError).code).toBe('MalformedPolicy');
  if (typeof message === 'string') expect((err as PolicyError).message).toBe(message);
  else expect((err as PolicyError).message).toMatch(message);
}

describe('keyResource', () => {
  it('builds the six-segment CMK description of docs/contract/cam.md#resources', () => {
    expect(keyResource('ap-guangzhou', '1', '2', 'k')).toBe('qcs::kms:ap-guangzhou:uin/1:key/creatorUin/2/k');
    expect(GZ_A.split(':')).toHaveLength(6);
  });
});

describe('action matching', () => {
  const cases: [string, string | string[], string, boolean][] = [
    ['exact with name/', 'name/kms:Encrypt', 'Encrypt', true],
    ['exact without name/', 'kms:Encrypt', 'Encrypt', true],
    ['exact does not match another action', 'name/kms:Encrypt', 'Decrypt', false],
    ['exact is not a prefix match', 'name/kms:Encrypt', 'EncryptByWhiteBox', false],
    ['exact is case-sensitive', 'name/kms:Encrypt', 'encrypt', false],
    ['kms:* matches Encrypt', 'name/kms:*', 'Encrypt', true],
    ['kms:* matches CreateKey', 'kms:*', 'CreateKey', true],
    ['kms:* matches ScheduleKeyDeletion', 'name/kms:*', 'ScheduleKeyDeletion', true],
    ['Describe* matches DescribeKey', 'name/kms:Describe*', 'DescribeKey', true],
    ['Describe* matches DescribeKeys', 'name/kms:Describe*', 'DescribeKeys', true],
    ['Describe* matches DescribeWhiteBoxDecryptKey', 'name/kms:Describe*', 'DescribeWhiteBoxDecryptKey', true],
    ['Describe* does not match ListKeys', 'name/kms:Describe*', 'ListKeys', false],
    ['Describe* does not match Encrypt', 'name/kms:Describe*', 'Encrypt', false],
    ['List* matches ListKeyDetail', 'name/kms:List*', 'ListKeyDetail', true],
    ['Get* matches GetDataKeyPlaintext', 'name/kms:Get*', 'GetDataKeyPlaintext', true],
    ['Get* matches GetParametersForImport', 'name/kms:Get*', 'GetParametersForImport', true],
    ['suffix wildcard *Keys', 'name/kms:*Keys', 'EnableKeys', true],
    ['suffix wildcard *Keys not EnableKey', 'name/kms:*Keys', 'EnableKey', false],
    ['infix wildcard Enable*Key', 'name/kms:Enable*Key', 'EnableWhiteBoxKey', true],
    ['infix wildcard Enable*Key not EnableKeys', 'name/kms:Enable*Key', 'EnableKeys', false],
    ['bare * matches Encrypt', '*', 'Encrypt', true],
    ['bare * matches CreateKey', '*', 'CreateKey', true],
    ['other service exact', 'name/cvm:RunInstances', 'Encrypt', false],
    ['other service wildcard', 'name/cvm:*', 'Encrypt', false],
    ['other service same action name', 'name/cam:Encrypt', 'Encrypt', false],
    ['array, second entry matches', ['name/kms:Decrypt', 'name/kms:Encrypt'], 'Encrypt', true],
    ['array, none match', ['name/kms:Decrypt', 'name/kms:GenerateDataKey'], 'Encrypt', false],
    ['array mixes services', ['name/cvm:*', 'kms:Encrypt'], 'Encrypt', true],
    ['permid entries are ignored', 'permid/12345', 'Encrypt', false],
  ];
  it.each(cases)('%s', (_name, action, requested, allowed) => {
    expect(evaluate(req(requested), [allowPolicy(action)]).allowed).toBe(allowed);
  });

  it('service of the request must match the pattern service', () => {
    const p = allowPolicy('name/kms:*');
    expect(evaluate({ ...req('Encrypt'), service: 'cvm' }, [p]).allowed).toBe(false);
    expect(evaluate({ ...req('Encrypt'), service: 'cvm' }, [allowPolicy('*')]).allowed).toBe(true);
  });

  it.each(SPEC_ACTIONS)('name/kms:* allows %s', (a) => {
    expect(evaluate(req(a), [allowPolicy('name/kms:*')])).toEqual({
      allowed: true,
      reason: 'allow',
      matched: { policyIndex: 0, statementIndex: 0 },
    });
  });
});

describe('resource matching', () => {
  const cases: [string, string | string[], string, boolean][] = [
    ['exact key', GZ_A, GZ_A, true],
    ['exact key, other key id', GZ_A, keyResource('ap-guangzhou', OWNER, OWNER, KEY_B), false],
    ['exact key, other region', GZ_A, BJ_A, false],
    ['exact key, other account', GZ_A, OTHER_ACCT, false],
    ['exact key, other creator', GZ_A, keyResource('ap-guangzhou', OWNER, SUB, KEY_A), false],
    ['key/* in region', `qcs::kms:ap-guangzhou:uin/${OWNER}:key/*`, GZ_A, true],
    ['key/* crosses / (sub-user creator)', `qcs::kms:ap-guangzhou:uin/${OWNER}:key/*`, GZ_B, true],
    ['key/* in region, other region', `qcs::kms:ap-guangzhou:uin/${OWNER}:key/*`, BJ_A, false],
    ['key/* other account', `qcs::kms:ap-guangzhou:uin/${OWNER}:key/*`, OTHER_ACCT, false],
    ['empty region = all regions (gz)', `qcs::kms::uin/${OWNER}:key/*`, GZ_A, true],
    ['empty region = all regions (bj)', `qcs::kms::uin/${OWNER}:key/*`, BJ_A, true],
    ['empty region matches data-key resource', `qcs::kms::uin/${OWNER}:key/*`, `qcs::kms::uin/${OWNER}:key/creatorUin/${OWNER}/dk1`, true],
    ['region wildcard *', `qcs::kms:*:uin/${OWNER}:key/*`, BJ_A, true],
    ['region prefix wildcard ap-*', `qcs::kms:ap-*:uin/${OWNER}:key/*`, BJ_A, true],
    ['region prefix wildcard eu-*', `qcs::kms:eu-*:uin/${OWNER}:key/*`, BJ_A, false],
    ['creator wildcard', `qcs::kms:ap-guangzhou:uin/${OWNER}:key/creatorUin/*/${KEY_A}`, GZ_A, true],
    ['creator wildcard matches sub-user creator', `qcs::kms:ap-guangzhou:uin/${OWNER}:key/creatorUin/*/${KEY_B}`, GZ_B, true],
    ['creator wildcard, wrong key', `qcs::kms:ap-guangzhou:uin/${OWNER}:key/creatorUin/*/${KEY_B}`, GZ_A, false],
    ['keys of one creator', `qcs::kms:ap-guangzhou:uin/${OWNER}:key/creatorUin/${SUB}/*`, GZ_B, true],
    ['keys of one creator, other creator', `qcs::kms:ap-guangzhou:uin/${OWNER}:key/creatorUin/${SUB}/*`, GZ_A, false],
    ['account wildcard', `qcs::kms:ap-guangzhou:*:key/*`, OTHER_ACCT, true],
    ['* matches a key', '*', GZ_A, true],
    ['* matches operation-level *', '*', '*', true],
    ['specific pattern does not match operation-level *', `qcs::kms:ap-guangzhou:uin/${OWNER}:key/*`, '*', false],
    ['all-wildcard segments do not match operation-level *', 'qcs:*:*:*:*:*', '*', false],
    ['other service segment', `qcs::cvm:ap-guangzhou:uin/${OWNER}:key/*`, GZ_A, false],
    ['resource type prefix differs', `qcs::kms:ap-guangzhou:uin/${OWNER}:datakey/*`, GZ_A, false],
    ['case-sensitive key id', GZ_A.toUpperCase().replace('QCS::KMS:AP-GUANGZHOU:UIN', 'qcs::kms:ap-guangzhou:uin'), GZ_A, false],
    ['* in the resource segment covers the whole tail', `qcs::kms:ap-guangzhou:uin/${OWNER}:*`, GZ_A, true],
    ['array, second entry matches', [BJ_A, GZ_A], GZ_A, true],
    ['array, none match', [BJ_A, OTHER_ACCT], GZ_A, false],
  ];
  it.each(cases)('%s', (_name, resource, requested, allowed) => {
    expect(evaluate(req('Encrypt', [requested]), [allowPolicy('name/kms:Encrypt', resource)]).allowed).toBe(allowed);
  });

  it('a malformed requested resource is matched only by *', () => {
    expect(evaluate(req('Encrypt', ['not-a-resource']), [allowPolicy('kms:Encrypt', 'qcs:*:*:*:*:*')]).allowed).toBe(false);
    expect(evaluate(req('Encrypt', ['not-a-resource']), [allowPolicy('kms:Encrypt', '*')]).allowed).toBe(true);
  });
});

describe('evaluation order (docs/contract/cam.md#evaluation)', () => {
  const allowAll = allowPolicy('name/kms:*');
  const denyEncrypt = policy({ effect: 'deny', action: 'name/kms:Encrypt', resource: '*' });
  const denyDelete = policy({ effect: 'deny', action: 'name/kms:ScheduleKeyDeletion', resource: '*' });

  const cases: [string, AuthzRequest, Policy[], { allowed: boolean; reason: string; matched?: unknown }][] = [
    ['no policies → implicit deny', req('Encrypt', [GZ_A]), [], { allowed: false, reason: 'implicit-deny' }],
    ['unrelated allow → implicit deny', req('Encrypt', [GZ_A]), [allowPolicy('kms:Decrypt')], { allowed: false, reason: 'implicit-deny' }],
    ['allow → allow', req('Encrypt', [GZ_A]), [allowAll], { allowed: true, reason: 'allow', matched: { policyIndex: 0, statementIndex: 0 } }],
    ['deny in a later policy wins', req('Encrypt', [GZ_A]), [allowAll, denyEncrypt], { allowed: false, reason: 'explicit-deny', matched: { policyIndex: 1, statementIndex: 0 } }],
    [
      'deny in an earlier policy wins',
      req('Encrypt', [GZ_A]),
      [denyEncrypt, allowAll],
      { allowed: false, reason: 'explicit-deny', matched: { policyIndex: 0, statementIndex: 0 } },
    ],
    ['deny of another action does not apply', req('Encrypt', [GZ_A]), [allowAll, denyDelete], { allowed: true, reason: 'allow', matched: { policyIndex: 0, statementIndex: 0 } }],
    ['deny alone → explicit deny', req('ScheduleKeyDeletion', [GZ_A]), [denyDelete], { allowed: false, reason: 'explicit-deny', matched: { policyIndex: 0, statementIndex: 0 } }],
    [
      'deny and allow in the same policy, deny second',
      req('ScheduleKeyDeletion', [GZ_A]),
      [
        policy([
          { effect: 'allow', action: '*', resource: '*' },
          { effect: 'deny', action: 'name/kms:ScheduleKeyDeletion', resource: '*' },
        ]),
      ],
      { allowed: false, reason: 'explicit-deny', matched: { policyIndex: 0, statementIndex: 1 } },
    ],
    [
      'deny on another key does not apply',
      req('Encrypt', [GZ_A]),
      [allowAll, policy({ effect: 'deny', action: 'kms:Encrypt', resource: BJ_A })],
      { allowed: true, reason: 'allow', matched: { policyIndex: 0, statementIndex: 0 } },
    ],
    [
      'deny whose condition is false does not apply',
      req('Encrypt', [GZ_A], { 'qcs:ip': '10.1.2.3' }),
      [allowAll, policy({ effect: 'deny', action: 'kms:*', resource: '*', condition: { ip_not_equal: { 'qcs:ip': '10.0.0.0/8' } } })],
      { allowed: true, reason: 'allow', matched: { policyIndex: 0, statementIndex: 0 } },
    ],
    [
      'deny whose condition is true applies',
      req('Encrypt', [GZ_A], { 'qcs:ip': '8.8.8.8' }),
      [allowAll, policy({ effect: 'deny', action: 'kms:*', resource: '*', condition: { ip_not_equal: { 'qcs:ip': '10.0.0.0/8' } } })],
      { allowed: false, reason: 'explicit-deny', matched: { policyIndex: 1, statementIndex: 0 } },
    ],
    ['root bypasses an explicit deny', req('Encrypt', [GZ_A], {}, true), [denyEncrypt], { allowed: true, reason: 'root' }],
    ['root without policies', req('CreateKey', ['*'], {}, true), [], { allowed: true, reason: 'root' }],
    ['empty resource list → implicit deny', req('Encrypt', []), [allowAll], { allowed: false, reason: 'implicit-deny' }],
    [
      'first matching allow is reported',
      req('Encrypt', [GZ_A]),
      [
        allowPolicy('kms:Decrypt'),
        policy([
          { effect: 'allow', action: 'kms:Decrypt', resource: '*' },
          { effect: 'allow', action: 'kms:Encrypt', resource: GZ_A },
        ]),
      ],
      { allowed: true, reason: 'allow', matched: { policyIndex: 1, statementIndex: 1 } },
    ],
  ];
  it.each(cases)('%s', (_name, request, policies, expected) => {
    expect(evaluate(request, policies)).toEqual(expected);
  });
});

describe('batch resources: allow needs every resource, deny needs any', () => {
  const both = [GZ_A, GZ_B];
  const cases: [string, Policy[], boolean, string][] = [
    ['allow on * covers all', [allowPolicy('kms:EnableKeys', '*')], true, 'allow'],
    ['allow on one key only', [allowPolicy('kms:EnableKeys', GZ_A)], false, 'implicit-deny'],
    ['allow on both keys in one statement', [allowPolicy('kms:EnableKeys', both)], true, 'allow'],
    [
      'allow split over two statements',
      [
        policy([
          { effect: 'allow', action: 'kms:EnableKeys', resource: GZ_A },
          { effect: 'allow', action: 'kms:EnableKeys', resource: GZ_B },
        ]),
      ],
      true,
      'allow',
    ],
    ['allow split over two policies', [allowPolicy('kms:EnableKeys', GZ_A), allowPolicy('kms:EnableKeys', GZ_B)], true, 'allow'],
    ['allow by creator covers only one', [allowPolicy('kms:EnableKeys', `qcs::kms:ap-guangzhou:uin/${OWNER}:key/creatorUin/${SUB}/*`)], false, 'implicit-deny'],
    ['deny on one key denies the batch', [allowPolicy('kms:EnableKeys', '*'), policy({ effect: 'deny', action: 'kms:EnableKeys', resource: GZ_B })], false, 'explicit-deny'],
    ['deny on an unrelated key does not', [allowPolicy('kms:EnableKeys', '*'), policy({ effect: 'deny', action: 'kms:EnableKeys', resource: BJ_A })], true, 'allow'],
  ];
  it.each(cases)('%s', (_name, policies, allowed, reason) => {
    const d = evaluate(req('EnableKeys', both), policies);
    expect(d.allowed).toBe(allowed);
    expect(d.reason).toBe(reason);
  });
});

type CondCase = [string, Record<string, unknown>, AuthzContext, boolean];

function checkConditions(cases: CondCase[]): void {
  it.each(cases)('%s', (_name, condition, context, allowed) => {
    const p = allowPolicy('kms:Encrypt', '*', condition);
    expect(evaluate(req('Encrypt', [GZ_A], context), [p]).allowed).toBe(allowed);
  });
}

describe('conditions: string', () => {
  const ctx = (v: string): AuthzContext => ({ 'kms:alias': v });
  checkConditions([
    ['string_equal true', { string_equal: { 'kms:alias': 'prod' } }, ctx('prod'), true],
    ['string_equal false', { string_equal: { 'kms:alias': 'prod' } }, ctx('dev'), false],
    ['string_equal is case-sensitive', { string_equal: { 'kms:alias': 'prod' } }, ctx('PROD'), false],
    ['string_equal values ORed', { string_equal: { 'kms:alias': ['dev', 'prod'] } }, ctx('prod'), true],
    ['string_equal missing key', { string_equal: { 'kms:alias': 'prod' } }, {}, false],
    ['string_not_equal true', { string_not_equal: { 'kms:alias': 'prod' } }, ctx('dev'), true],
    ['string_not_equal false', { string_not_equal: { 'kms:alias': 'prod' } }, ctx('prod'), false],
    ['string_not_equal matches none of the values', { string_not_equal: { 'kms:alias': ['a', 'b'] } }, ctx('b'), false],
    ['string_not_equal missing key', { string_not_equal: { 'kms:alias': 'prod' } }, {}, false],
    ['string_equal_ignore_case true', { string_equal_ignore_case: { 'kms:alias': 'prod' } }, ctx('PrOd'), true],
    ['string_equal_ignore_case false', { string_equal_ignore_case: { 'kms:alias': 'prod' } }, ctx('dev'), false],
    ['string_not_equal_ignore_case true', { string_not_equal_ignore_case: { 'kms:alias': 'prod' } }, ctx('dev'), true],
    ['string_not_equal_ignore_case false', { string_not_equal_ignore_case: { 'kms:alias': 'prod' } }, ctx('PROD'), false],
    ['string_like * true', { string_like: { 'kms:alias': 'app-*' } }, ctx('app-payments'), true],
    ['string_like * false', { string_like: { 'kms:alias': 'app-*' } }, ctx('web-payments'), false],
    ['string_like ? true', { string_like: { 'kms:alias': 'k?y' } }, ctx('key'), true],
    ['string_like ? exactly one', { string_like: { 'kms:alias': 'k?y' } }, ctx('keey'), false],
    ['string_like other regex chars literal', { string_like: { 'kms:alias': 'a.b' } }, ctx('axb'), false],
    ['string_not_like true', { string_not_like: { 'kms:alias': 'app-*' } }, ctx('web'), true],
    ['string_not_like false', { string_not_like: { 'kms:alias': 'app-*' } }, ctx('app-x'), false],
    ['string_like missing key', { string_like: { 'kms:alias': '*' } }, {}, false],
    ['string_equal_if_exist missing key', { string_equal_if_exist: { 'kms:alias': 'prod' } }, {}, true],
    ['string_equal_if_exist present, true', { string_equal_if_exist: { 'kms:alias': 'prod' } }, ctx('prod'), true],
    ['string_equal_if_exist present, false', { string_equal_if_exist: { 'kms:alias': 'prod' } }, ctx('dev'), false],
    ['string_not_equal_if_exist missing key', { string_not_equal_if_exist: { 'kms:alias': 'prod' } }, {}, true],
    ['keys under one operator ANDed, both true', { string_equal: { 'kms:alias': 'prod', 'kms:team': 'pay' } }, { 'kms:alias': 'prod', 'kms:team': 'pay' }, true],
    ['keys under one operator ANDed, one false', { string_equal: { 'kms:alias': 'prod', 'kms:team': 'pay' } }, { 'kms:alias': 'prod', 'kms:team': 'web' }, false],
    ['keys under one operator ANDed, one missing', { string_equal: { 'kms:alias': 'prod', 'kms:team': 'pay' } }, { 'kms:alias': 'prod' }, false],
    ['operators ANDed, both true', { string_equal: { 'kms:alias': 'prod' }, ip_equal: { 'qcs:ip': '10.0.0.0/8' } }, { 'kms:alias': 'prod', 'qcs:ip': '10.9.9.9' }, true],
    ['operators ANDed, one false', { string_equal: { 'kms:alias': 'prod' }, ip_equal: { 'qcs:ip': '10.0.0.0/8' } }, { 'kms:alias': 'prod', 'qcs:ip': '11.0.0.1' }, false],
    ['string op on a Date context value uses ISO form', { string_like: { 'qcs:current_time': '2030-*' } }, { 'qcs:current_time': new Date('2030-05-01T00:00:00Z') }, true],
  ]);
});

describe('conditions: numeric', () => {
  const ctx = (v: number | string): AuthzContext => ({ 'kms:n': v });
  checkConditions([
    ['numeric_equal true', { numeric_equal: { 'kms:n': 5 } }, ctx(5), true],
    ['numeric_equal string value', { numeric_equal: { 'kms:n': '5' } }, ctx(5), true],
    ['numeric_equal string context', { numeric_equal: { 'kms:n': 5 } }, ctx('5'), true],
    ['numeric_equal false', { numeric_equal: { 'kms:n': 5 } }, ctx(6), false],
    ['numeric_equal values ORed', { numeric_equal: { 'kms:n': [1, 6] } }, ctx(6), true],
    ['numeric_not_equal true', { numeric_not_equal: { 'kms:n': 5 } }, ctx(6), true],
    ['numeric_not_equal false', { numeric_not_equal: { 'kms:n': 5 } }, ctx(5), false],
    ['numeric_less_than true', { numeric_less_than: { 'kms:n': 5 } }, ctx(4), true],
    ['numeric_less_than boundary', { numeric_less_than: { 'kms:n': 5 } }, ctx(5), false],
    ['numeric_less_than_equal boundary', { numeric_less_than_equal: { 'kms:n': 5 } }, ctx(5), true],
    ['numeric_less_than_equal false', { numeric_less_than_equal: { 'kms:n': 5 } }, ctx(6), false],
    ['numeric_greater_than true', { numeric_greater_than: { 'kms:n': 5 } }, ctx(6), true],
    ['numeric_greater_than boundary', { numeric_greater_than: { 'kms:n': 5 } }, ctx(5), false],
    ['numeric_greater_than_equal boundary', { numeric_greater_than_equal: { 'kms:n': 5 } }, ctx(5), true],
    ['numeric_greater_than_equal false', { numeric_greater_than_equal: { 'kms:n': 5 } }, ctx(4), false],
    ['numeric decimals', { numeric_less_than: { 'kms:n': '2.5' } }, ctx(2.25), true],
    ['numeric negative', { numeric_greater_than: { 'kms:n': -1 } }, ctx(0), true],
    ['numeric missing key', { numeric_equal: { 'kms:n': 5 } }, {}, false],
    ['numeric non-numeric context never satisfies', { numeric_equal: { 'kms:n': 5 } }, ctx('abc'), false],
    ['numeric_not_equal non-numeric context never satisfies', { numeric_not_equal: { 'kms:n': 5 } }, ctx('abc'), false],
    ['numeric_less_than_if_exist missing', { numeric_less_than_if_exist: { 'kms:n': 5 } }, {}, true],
  ]);
});

describe('conditions: date', () => {
  const at = (iso: string): AuthzContext => ({ 'qcs:current_time': new Date(iso) });
  const LIMIT = '2030-01-01T00:00:00Z';
  const LIMIT_UNIX = String(Date.parse(LIMIT) / 1000);
  checkConditions([
    ['date_less_than before', { date_less_than: { 'qcs:current_time': LIMIT } }, at('2029-12-31T23:59:59Z'), true],
    ['date_less_than after', { date_less_than: { 'qcs:current_time': LIMIT } }, at('2030-01-01T00:00:01Z'), false],
    ['date_less_than equal', { date_less_than: { 'qcs:current_time': LIMIT } }, at(LIMIT), false],
    ['date_less_than_equal equal', { date_less_than_equal: { 'qcs:current_time': LIMIT } }, at(LIMIT), true],
    ['date_greater_than after', { date_greater_than: { 'qcs:current_time': LIMIT } }, at('2030-06-01T00:00:00Z'), true],
    ['date_greater_than before', { date_greater_than: { 'qcs:current_time': LIMIT } }, at('2029-06-01T00:00:00Z'), false],
    ['date_greater_than_equal equal', { date_greater_than_equal: { 'qcs:current_time': LIMIT } }, at(LIMIT), true],
    ['date_equal true', { date_equal: { 'qcs:current_time': LIMIT } }, at(LIMIT), true],
    ['date_equal false', { date_equal: { 'qcs:current_time': LIMIT } }, at('2030-01-01T00:00:01Z'), false],
    ['date_not_equal true', { date_not_equal: { 'qcs:current_time': LIMIT } }, at('2030-01-01T00:00:01Z'), true],
    ['date_not_equal false', { date_not_equal: { 'qcs:current_time': LIMIT } }, at(LIMIT), false],
    ['unix seconds value, before', { date_less_than: { 'qcs:current_time': LIMIT_UNIX } }, at('2029-12-31T00:00:00Z'), true],
    ['unix seconds value, after', { date_less_than: { 'qcs:current_time': LIMIT_UNIX } }, at('2030-01-02T00:00:00Z'), false],
    ['unix seconds numeric value', { date_greater_than: { 'qcs:current_time': Number(LIMIT_UNIX) } }, at('2030-01-02T00:00:00Z'), true],
    ['offset timezone', { date_less_than: { 'qcs:current_time': '2030-01-01T08:00:00+08:00' } }, at('2029-12-31T23:00:00Z'), true],
    ['offset timezone, after', { date_less_than: { 'qcs:current_time': '2030-01-01T08:00:00+08:00' } }, at('2030-01-01T00:30:00Z'), false],
    ['date-only value is UTC midnight', { date_less_than: { 'qcs:current_time': '2030-01-01' } }, at('2029-12-31T23:59:59Z'), true],
    [
      'time window: both bounds true',
      { date_greater_than: { 'qcs:current_time': '2029-01-01T00:00:00Z' }, date_less_than: { 'qcs:current_time': LIMIT } },
      at('2029-06-01T00:00:00Z'),
      true,
    ],
    [
      'time window: outside',
      { date_greater_than: { 'qcs:current_time': '2029-01-01T00:00:00Z' }, date_less_than: { 'qcs:current_time': LIMIT } },
      at('2028-06-01T00:00:00Z'),
      false,
    ],
    ['date missing key', { date_less_than: { 'qcs:current_time': LIMIT } }, {}, false],
    ['date_less_than_if_exist missing key', { date_less_than_if_exist: { 'qcs:current_time': LIMIT } }, {}, true],
  ]);
});

describe('conditions: bool, binary, null', () => {
  checkConditions([
    ['bool_equal true/true', { bool_equal: { 'qcs:secure_transport': 'true' } }, { 'qcs:secure_transport': true }, true],
    ['bool_equal JSON boolean value', { bool_equal: { 'qcs:secure_transport': true } }, { 'qcs:secure_transport': true }, true],
    ['bool_equal true/false', { bool_equal: { 'qcs:secure_transport': 'true' } }, { 'qcs:secure_transport': false }, false],
    ['bool_equal string context', { bool_equal: { 'qcs:secure_transport': 'false' } }, { 'qcs:secure_transport': 'false' }, true],
    ['bool_equal non-boolean context', { bool_equal: { 'qcs:secure_transport': 'true' } }, { 'qcs:secure_transport': 'yes' }, false],
    ['bool_equal missing', { bool_equal: { 'qcs:secure_transport': 'true' } }, {}, false],
    ['bool_equal_if_exist missing', { bool_equal_if_exist: { 'qcs:secure_transport': 'true' } }, {}, true],
    ['binary_equal true', { binary_equal: { 'kms:blob': 'AAEC' } }, { 'kms:blob': 'AAEC' }, true],
    ['binary_equal false', { binary_equal: { 'kms:blob': 'AAEC' } }, { 'kms:blob': 'AAED' }, false],
    ['null_equal true, key absent', { null_equal: { 'qcs:request_tag': 'true' } }, {}, true],
    ['null_equal true, key present', { null_equal: { 'qcs:request_tag': 'true' } }, { 'qcs:request_tag': ['a&b'] }, false],
    ['null_equal false, key present', { null_equal: { 'qcs:request_tag': 'false' } }, { 'qcs:request_tag': ['a&b'] }, true],
    ['null_equal false, key absent', { null_equal: { 'qcs:request_tag': false } }, {}, false],
  ]);
});

describe('conditions: IP', () => {
  const ip = (v: string): AuthzContext => ({ 'qcs:ip': v });
  checkConditions([
    ['ip_equal exact', { ip_equal: { 'qcs:ip': '192.168.1.10' } }, ip('192.168.1.10'), true],
    ['ip_equal exact other', { ip_equal: { 'qcs:ip': '192.168.1.10' } }, ip('192.168.1.11'), false],
    ['ip_equal /8 inside', { ip_equal: { 'qcs:ip': '10.0.0.0/8' } }, ip('10.255.255.255'), true],
    ['ip_equal /8 outside', { ip_equal: { 'qcs:ip': '10.0.0.0/8' } }, ip('11.0.0.0'), false],
    ['ip_equal /24 inside', { ip_equal: { 'qcs:ip': '192.168.1.0/24' } }, ip('192.168.1.200'), true],
    ['ip_equal /24 outside', { ip_equal: { 'qcs:ip': '192.168.1.0/24' } }, ip('192.168.2.1'), false],
    ['ip_equal /32', { ip_equal: { 'qcs:ip': '1.2.3.4/32' } }, ip('1.2.3.4'), true],
    ['ip_equal /32 other', { ip_equal: { 'qcs:ip': '1.2.3.4/32' } }, ip('1.2.3.5'), false],
    ['ip_equal /0 matches all IPv4', { ip_equal: { 'qcs:ip': '0.0.0.0/0' } }, ip('203.0.113.7'), true],
    ['ip_equal /12 boundary inside', { ip_equal: { 'qcs:ip': '172.16.0.0/12' } }, ip('172.31.255.255'), true],
    ['ip_equal /12 boundary outside', { ip_equal: { 'qcs:ip': '172.16.0.0/12' } }, ip('172.32.0.0'), false],
    ['ip_equal non-aligned CIDR base', { ip_equal: { 'qcs:ip': '10.1.2.3/16' } }, ip('10.1.200.1'), true],
    ['ip_equal values ORed', { ip_equal: { 'qcs:ip': ['10.0.0.0/8', '192.168.1.10'] } }, ip('192.168.1.10'), true],
    ['ip_equal IPv4-mapped IPv6 request', { ip_equal: { 'qcs:ip': '10.0.0.0/8' } }, ip('::ffff:10.1.2.3'), true],
    ['ip_equal IPv6 literal', { ip_equal: { 'qcs:ip': '2001:db8::1' } }, ip('2001:DB8::1'), true],
    ['ip_equal IPv6 vs IPv4 pattern', { ip_equal: { 'qcs:ip': '10.0.0.0/8' } }, ip('2001:db8::1'), false],
    ['ip_equal garbage request IP', { ip_equal: { 'qcs:ip': '10.0.0.0/8' } }, ip('not-an-ip'), false],
    ['ip_equal missing key', { ip_equal: { 'qcs:ip': '10.0.0.0/8' } }, {}, false],
    ['ip_not_equal outside', { ip_not_equal: { 'qcs:ip': '10.0.0.0/8' } }, ip('8.8.8.8'), true],
    ['ip_not_equal inside', { ip_not_equal: { 'qcs:ip': '10.0.0.0/8' } }, ip('10.0.0.1'), false],
    ['ip_not_equal inside second value', { ip_not_equal: { 'qcs:ip': ['10.0.0.0/8', '8.8.8.8'] } }, ip('8.8.8.8'), false],
    ['ip_not_equal missing key', { ip_not_equal: { 'qcs:ip': '10.0.0.0/8' } }, {}, false],
    ['ip_equal_if_exist missing key', { ip_equal_if_exist: { 'qcs:ip': '10.0.0.0/8' } }, {}, true],
    ['ip_equal_if_exist present outside', { ip_equal_if_exist: { 'qcs:ip': '10.0.0.0/8' } }, ip('8.8.8.8'), false],
  ]);

  it('BindCloudResource ignores qcs:ip (seed 004: IP restriction not supported)', () => {
    const p = allowPolicy('kms:*', '*', { ip_equal: { 'qcs:ip': '10.0.0.0/8' } });
    // the key is dropped, so an ip_equal allow does not grant it even from inside the range
    expect(evaluate(req('BindCloudResource', [GZ_A], { 'qcs:ip': '10.1.1.1' }), [p]).allowed).toBe(false);
    expect(evaluate(req('UnbindCloudResource', [GZ_A], { 'qcs:ip': '10.1.1.1' }), [p]).allowed).toBe(true);
    const pIfExist = allowPolicy('kms:*', '*', { ip_equal_if_exist: { 'qcs:ip': '10.0.0.0/8' } });
    expect(evaluate(req('BindCloudResource', [GZ_A], { 'qcs:ip': '8.8.8.8' }), [pIfExist]).allowed).toBe(true);
    const deny = policy({ effect: 'deny', action: 'kms:*', resource: '*', condition: { ip_not_equal: { 'qcs:ip': '10.0.0.0/8' } } });
    expect(evaluate(req('BindCloudResource', [GZ_A], { 'qcs:ip': '8.8.8.8' }), [allowPolicy('kms:*'), deny]).reason).toBe('allow');
    expect(evaluate(req('UnbindCloudResource', [GZ_A], { 'qcs:ip': '8.8.8.8' }), [allowPolicy('kms:*'), deny]).reason).toBe('explicit-deny');
  });
});

describe('conditions: multi-valued tags', () => {
  const tags = (...t: string[]): AuthzContext => ({ 'qcs:resource_tag': t });
  checkConditions([
    ['for_any_value:string_equal one matches', { 'for_any_value:string_equal': { 'qcs:resource_tag': 'env&prod' } }, tags('team&pay', 'env&prod'), true],
    ['for_any_value:string_equal none match', { 'for_any_value:string_equal': { 'qcs:resource_tag': 'env&prod' } }, tags('env&dev'), false],
    ['for_any_value:string_equal values ORed', { 'for_any_value:string_equal': { 'qcs:resource_tag': ['env&prod', 'env&stage'] } }, tags('env&stage'), true],
    ['for_any_value:string_equal empty tags', { 'for_any_value:string_equal': { 'qcs:resource_tag': 'env&prod' } }, tags(), false],
    ['for_any_value:string_equal missing key', { 'for_any_value:string_equal': { 'qcs:resource_tag': 'env&prod' } }, {}, false],
    ['for_any_value:string_like', { 'for_any_value:string_like': { 'qcs:resource_tag': 'env&*' } }, tags('team&x', 'env&anything'), true],
    ['for_any_value:string_not_equal some differ', { 'for_any_value:string_not_equal': { 'qcs:resource_tag': 'env&prod' } }, tags('env&prod', 'team&x'), true],
    ['for_all_value:string_equal all match', { 'for_all_value:string_equal': { 'qcs:resource_tag': ['env&prod', 'team&pay'] } }, tags('env&prod', 'team&pay'), true],
    ['for_all_value:string_equal one outside', { 'for_all_value:string_equal': { 'qcs:resource_tag': ['env&prod', 'team&pay'] } }, tags('env&prod', 'team&web'), false],
    ['for_all_value:string_equal empty list is vacuously true', { 'for_all_value:string_equal': { 'qcs:resource_tag': 'env&prod' } }, tags(), true],
    ['for_all_value:string_equal missing key is false', { 'for_all_value:string_equal': { 'qcs:resource_tag': 'env&prod' } }, {}, false],
    ['for_all_value:string_equal_if_exist missing key', { 'for_all_value:string_equal_if_exist': { 'qcs:resource_tag': 'env&prod' } }, {}, true],
    ['for_all_value:string_like', { 'for_all_value:string_like': { 'qcs:resource_tag': 'env&*' } }, tags('env&a', 'env&b'), true],
    ['for_all_value:string_not_equal none forbidden', { 'for_all_value:string_not_equal': { 'qcs:resource_tag': 'env&prod' } }, tags('env&dev', 'team&x'), true],
    ['for_all_value:string_not_equal one forbidden', { 'for_all_value:string_not_equal': { 'qcs:resource_tag': 'env&prod' } }, tags('env&dev', 'env&prod'), false],
    ['plain operator on a multi-valued key: any value', { string_equal: { 'qcs:resource_tag': 'env&prod' } }, tags('a&b', 'env&prod'), true],
    ['request_tag restriction', { 'for_all_value:string_like': { 'qcs:request_tag': 'env&*' } }, { 'qcs:request_tag': ['env&prod'] }, true],
    ['request_tag restriction, other tag', { 'for_all_value:string_like': { 'qcs:request_tag': 'env&*' } }, { 'qcs:request_tag': ['owner&x'] }, false],
  ]);

  it('docs/contract/cam.md#examples example: tag + corporate network + never delete', () => {
    const p = parsePolicy(
      `{"version":"2.0","statement":[
        {"effect":"allow","action":["name/kms:Encrypt","name/kms:Decrypt","name/kms:GenerateDataKey"],
         "resource":["qcs::kms:ap-guangzhou:uin/100000000001:key/*"],
         "condition":{"for_any_value:string_equal":{"qcs:resource_tag":["env&prod"]},"ip_equal":{"qcs:ip":["10.0.0.0/8"]}}},
        {"effect":"deny","action":["name/kms:ScheduleKeyDeletion"],"resource":["*"]}]}`,
      { knownActions: KNOWN },
    );
    const good = { 'qcs:ip': '10.2.3.4', 'qcs:resource_tag': ['env&prod'] };
    expect(evaluate(req('Encrypt', [GZ_A], good), [p]).allowed).toBe(true);
    expect(evaluate(req('Encrypt', [GZ_A], { ...good, 'qcs:ip': '1.1.1.1' }), [p]).allowed).toBe(false);
    expect(evaluate(req('Encrypt', [GZ_A], { ...good, 'qcs:resource_tag': ['env&dev'] }), [p]).allowed).toBe(false);
    expect(evaluate(req('Encrypt', [BJ_A], good), [p]).allowed).toBe(false);
    expect(evaluate(req('ScheduleKeyDeletion', [GZ_A], good), [p, allowPolicy('*')]).reason).toBe('explicit-deny');
  });
});

describe('parsePolicy: normalisation', () => {
  it('accepts a single statement object and strings, normalising to arrays', () => {
    expect(parsePolicy({ version: '2.0', statement: { effect: 'allow', action: 'name/kms:Encrypt', resource: '*' } })).toEqual({
      version: '2.0',
      statement: [{ effect: 'allow', action: ['kms:Encrypt'], resource: ['*'], condition: [] }],
    });
  });

  it('accepts a JSON string and parses conditions', () => {
    const p = parsePolicy(
      '{"version":"2.0","statement":[{"effect":"deny","action":["*"],"resource":["*"],"condition":{"for_any_value:string_equal_if_exist":{"qcs:resource_tag":"a&b"}}}]}',
    );
    expect(p.statement[0].condition).toEqual([
      { operator: 'for_any_value:string_equal_if_exist', base: 'string_equal', qualifier: 'for_any_value', ifExist: true, key: 'qcs:resource_tag', values: ['a&b'] },
    ]);
  });

  const valid: [string, unknown][] = [
    ['kms:Describe* wildcard not checked against known actions', 'name/kms:Describe*'],
    ['unknown service is syntactically fine', 'name/cvm:RunInstances'],
    ['bare *', '*'],
    ['permid', 'permid/1234'],
    ['kms:* without name/', 'kms:*'],
  ];
  it.each(valid)('accepts action: %s', (_n, action) => {
    expect(() => parsePolicy({ version: '2.0', statement: [{ effect: 'allow', action, resource: '*' }] }, { knownActions: KNOWN })).not.toThrow();
  });

  const validResources = [
    GZ_A,
    `qcs::kms:ap-guangzhou:uin/${OWNER}:key/*`,
    `qcs::kms::uin/${OWNER}:key/*`,
    'qcs:*:*:*:*:*',
    `qcs:0:kms:ap-guangzhou:uin/${OWNER}:key/creatorUin/*/abc`,
    'qcs::kms:ap-guangzhou:*:key/*',
  ];
  it.each(validResources)('accepts resource %s', (resource) => {
    expect(() => parsePolicy({ version: '2.0', statement: [{ effect: 'allow', action: '*', resource }] })).not.toThrow();
  });

  it('without knownActions any kms action name is accepted', () => {
    expect(() => parsePolicy({ version: '2.0', statement: [{ effect: 'allow', action: 'kms:Frobnicate', resource: '*' }] })).not.toThrow();
  });

  it('accepts a policy at exactly the size cap', () => {
    const base = JSON.stringify({ version: '2.0', statement: [{ effect: 'allow', action: 'kms:Encrypt', resource: '*' }] });
    const padded = base.replace('{"version"', `{${' '.repeat(POLICY_MAX_CHARS - base.length)}"version"`);
    expect(padded.length).toBe(POLICY_MAX_CHARS);
    expect(() => parsePolicy(padded)).not.toThrow();
    expect(() => parsePolicy(`${padded} `)).toThrow(PolicyError);
  });
});

describe('parsePolicy: malformed policies', () => {
  const S = { effect: 'allow', action: 'kms:Encrypt', resource: '*' };
  const doc = (statement: unknown): unknown => ({ version: '2.0', statement });
  const cases: [string, unknown, string | RegExp][] = [
    ['not JSON', '{"version":', /^policy is not valid JSON: /],
    ['not an object', '[]', 'policy must be a JSON object'],
    ['null', null, 'policy must be a JSON object'],
    ['unknown top-level element', { version: '2.0', statement: S, Id: 'x' }, 'policy has unknown element "Id"'],
    ['missing version', { statement: S }, 'version is required'],
    ['version 1.0', { version: '1.0', statement: S }, 'version must be "2.0"'],
    ['numeric version', { version: 2.0, statement: S }, 'version must be "2.0"'],
    ['missing statement', { version: '2.0' }, 'statement is required'],
    ['empty statement array', doc([]), 'statement must not be empty'],
    ['statement is a string', doc('allow'), 'statement must be an object or an array of objects'],
    ['statement entry not an object', doc([S, 'x']), 'statement[1] must be an object'],
    ['missing effect', doc([S, { action: '*', resource: '*' }]), 'statement[1].effect is required'],
    ['effect Allow (case)', doc([S, { ...S, effect: 'Allow' }]), 'statement[1].effect must be "allow" or "deny"'],
    ['effect permit', doc({ ...S, effect: 'permit' }), 'statement[0].effect must be "allow" or "deny"'],
    ['capitalised element', doc({ ...S, Effect: 'allow' }), 'statement[0] has unknown element "Effect"'],
    ['principal in identity policy', doc({ ...S, principal: { qcs: ['qcs::cam::uin/1:root'] } }), 'statement[0].principal is not allowed in an identity policy'],
    ['not_action', doc({ effect: 'allow', not_action: 'kms:Encrypt', resource: '*' }), 'statement[0].not_action is not supported'],
    ['not_resource', doc({ ...S, not_resource: '*' }), 'statement[0].not_resource is not supported'],
    ['missing action', doc({ effect: 'allow', resource: '*' }), 'statement[0].action is required'],
    ['empty action array', doc({ ...S, action: [] }), 'statement[0].action must not be empty'],
    ['action number', doc({ ...S, action: 5 }), 'statement[0].action must be a string or an array of strings'],
    ['action array with number', doc({ ...S, action: ['kms:Encrypt', 5] }), 'statement[0].action[1] must be a string'],
    ['action without service', doc({ ...S, action: 'Encrypt' }), 'statement[0].action[0] "Encrypt" must have the form name/<service>:<action>'],
    [
      'action with upper-case service',
      doc({ ...S, action: 'name/KMS:Encrypt' }),
      'statement[0].action[0] "name/KMS:Encrypt" has an invalid service "KMS" (expected lower-case letters)',
    ],
    [
      'action with digit service',
      doc({ ...S, action: 'name/km5:Encrypt' }),
      'statement[0].action[0] "name/km5:Encrypt" has an invalid service "km5" (expected lower-case letters)',
    ],
    ['action with wildcard service', doc({ ...S, action: '*:Encrypt' }), 'statement[0].action[0] "*:Encrypt" has an invalid service "*" (expected lower-case letters)'],
    ['action empty name', doc({ ...S, action: 'name/kms:' }), 'statement[0].action[0] "name/kms:" has an empty action name'],
    ['action invalid chars', doc({ ...S, action: 'name/kms:Enc-rypt' }), 'statement[0].action[0] "name/kms:Enc-rypt" has an invalid action name "Enc-rypt"'],
    ['unknown kms action', doc({ ...S, action: ['kms:Encrypt', 'name/kms:Encrpyt'] }), 'statement[0].action[1] "name/kms:Encrpyt" is not a known kms action'],
    ['kms action with wrong case', doc({ ...S, action: 'kms:encrypt' }), 'statement[0].action[0] "kms:encrypt" is not a known kms action'],
    ['empty permid', doc({ ...S, action: 'permid/' }), 'statement[0].action[0] "permid/" has an empty permission id'],
    ['missing resource', doc({ effect: 'allow', action: '*' }), 'statement[0].resource is required'],
    ['empty resource array', doc({ ...S, resource: [] }), 'statement[0].resource must not be empty'],
    [
      'resource five segments',
      doc({ ...S, resource: `qcs::kms:ap-guangzhou:uin/${OWNER}` }),
      `statement[0].resource[0] "qcs::kms:ap-guangzhou:uin/${OWNER}" must have six segments qcs:<project>:<service>:<region>:<account>:<resource> (found 5)`,
    ],
    [
      'resource seven segments',
      doc({ ...S, resource: ['*', `${GZ_A}:x`] }),
      `statement[0].resource[1] "${GZ_A}:x" must have six segments qcs:<project>:<service>:<region>:<account>:<resource> (found 7)`,
    ],
    ['resource not qcs', doc({ ...S, resource: `arn::kms:r:uin/1:key/*` }), 'statement[0].resource[0] "arn::kms:r:uin/1:key/*" must start with "qcs:"'],
    [
      'resource bad account',
      doc({ ...S, resource: `qcs::kms:r:100000000001:key/*` }),
      'statement[0].resource[0] "qcs::kms:r:100000000001:key/*" account must be uin/<digits> (found "100000000001")',
    ],
    [
      'resource uin not digits',
      doc({ ...S, resource: `qcs::kms:r:uin/abc:key/*` }),
      'statement[0].resource[0] "qcs::kms:r:uin/abc:key/*" account must be uin/<digits> (found "uin/abc")',
    ],
    ['resource empty account', doc({ ...S, resource: `qcs::kms:r::key/*` }), 'statement[0].resource[0] "qcs::kms:r::key/*" account must be uin/<digits> (found "")'],
    ['resource empty service', doc({ ...S, resource: `qcs:::r:uin/1:key/*` }), 'statement[0].resource[0] "qcs:::r:uin/1:key/*" has an empty service segment'],
    ['resource empty resource', doc({ ...S, resource: `qcs::kms:r:uin/1:` }), 'statement[0].resource[0] "qcs::kms:r:uin/1:" has an empty resource segment'],
    ['resource number', doc({ ...S, resource: 1 }), 'statement[0].resource must be a string or an array of strings'],
    ['condition not object', doc({ ...S, condition: [] }), 'statement[0].condition must be an object'],
    ['condition empty', doc({ ...S, condition: {} }), 'statement[0].condition must not be empty'],
    ['unknown operator', doc({ ...S, condition: { string_equals: { 'qcs:ip': 'x' } } }), 'statement[0].condition: unknown condition operator "string_equals"'],
    ['AWS-style operator', doc({ ...S, condition: { IpAddress: { 'qcs:ip': '1.2.3.4' } } }), 'statement[0].condition: unknown condition operator "IpAddress"'],
    [
      'unknown qualifier',
      doc({ ...S, condition: { 'for_each_value:string_equal': { 'qcs:ip': 'x' } } }),
      'statement[0].condition: unknown condition operator "for_each_value:string_equal"',
    ],
    [
      'null_equal with qualifier',
      doc({ ...S, condition: { 'for_any_value:null_equal': { 'qcs:ip': 'true' } } }),
      'statement[0].condition: null_equal cannot take a qualifier or _if_exist ("for_any_value:null_equal")',
    ],
    [
      'null_equal_if_exist',
      doc({ ...S, condition: { null_equal_if_exist: { 'qcs:ip': 'true' } } }),
      'statement[0].condition: null_equal cannot take a qualifier or _if_exist ("null_equal_if_exist")',
    ],
    ['operator block not object', doc({ ...S, condition: { string_equal: 'x' } }), 'statement[0].condition.string_equal must be an object of condition keys'],
    ['operator block empty', doc({ ...S, condition: { string_equal: {} } }), 'statement[0].condition.string_equal must not be empty'],
    ['invalid condition key', doc({ ...S, condition: { string_equal: { ip: 'x' } } }), 'statement[0].condition.string_equal: invalid condition key "ip"'],
    ['empty value array', doc({ ...S, condition: { string_equal: { 'kms:a': [] } } }), 'statement[0].condition.string_equal["kms:a"] must not be empty'],
    ['object value', doc({ ...S, condition: { string_equal: { 'kms:a': { x: 1 } } } }), 'statement[0].condition.string_equal["kms:a"] must be a string, number or boolean'],
    [
      'null in value array',
      doc({ ...S, condition: { string_equal: { 'kms:a': ['x', null] } } }),
      'statement[0].condition.string_equal["kms:a"][1] must be a string, number or boolean',
    ],
    ['numeric value not a number', doc({ ...S, condition: { numeric_less_than: { 'kms:n': 'ten' } } }), 'statement[0].condition.numeric_less_than["kms:n"] "ten" is not a number'],
    [
      'date value garbage',
      doc({ ...S, condition: { date_less_than: { 'qcs:current_time': 'tomorrow' } } }),
      'statement[0].condition.date_less_than["qcs:current_time"] "tomorrow" is not an ISO 8601 date with a zone or Unix seconds',
    ],
    [
      'date value without zone',
      doc({ ...S, condition: { date_less_than: { 'qcs:current_time': '2030-01-01T00:00:00' } } }),
      'statement[0].condition.date_less_than["qcs:current_time"] "2030-01-01T00:00:00" is not an ISO 8601 date with a zone or Unix seconds',
    ],
    [
      'date value impossible',
      doc({ ...S, condition: { date_less_than: { 'qcs:current_time': '2030-13-45T00:00:00Z' } } }),
      'statement[0].condition.date_less_than["qcs:current_time"] "2030-13-45T00:00:00Z" is not an ISO 8601 date with a zone or Unix seconds',
    ],
    ['bool value yes', doc({ ...S, condition: { bool_equal: { 'qcs:mfa': 'yes' } } }), 'statement[0].condition.bool_equal["qcs:mfa"] "yes" must be true or false'],
    ['null_equal value 1', doc({ ...S, condition: { null_equal: { 'qcs:ip': 1 } } }), 'statement[0].condition.null_equal["qcs:ip"] "1" must be true or false'],
    ['binary not base64', doc({ ...S, condition: { binary_equal: { 'kms:b': 'not base64!' } } }), 'statement[0].condition.binary_equal["kms:b"] "not base64!" is not base64'],
    [
      'ip octet > 255',
      doc({ ...S, condition: { ip_equal: { 'qcs:ip': '10.0.0.256' } } }),
      'statement[0].condition.ip_equal["qcs:ip"] "10.0.0.256" is not an IPv4 address, IPv4 CIDR block or IPv6 address',
    ],
    [
      'ip prefix > 32',
      doc({ ...S, condition: { ip_equal: { 'qcs:ip': '10.0.0.0/33' } } }),
      'statement[0].condition.ip_equal["qcs:ip"] "10.0.0.0/33" is not an IPv4 address, IPv4 CIDR block or IPv6 address',
    ],
    [
      'ip three octets',
      doc({ ...S, condition: { ip_not_equal: { 'qcs:ip': ['10.0.0.0/8', '10.0.0/24'] } } }),
      'statement[0].condition.ip_not_equal["qcs:ip"][1] "10.0.0/24" is not an IPv4 address, IPv4 CIDR block or IPv6 address',
    ],
    [
      'ip hostname',
      doc({ ...S, condition: { ip_equal: { 'qcs:ip': 'corp.example.com' } } }),
      'statement[0].condition.ip_equal["qcs:ip"] "corp.example.com" is not an IPv4 address, IPv4 CIDR block or IPv6 address',
    ],
    [
      'ip leading zero',
      doc({ ...S, condition: { ip_equal: { 'qcs:ip': '010.0.0.1' } } }),
      'statement[0].condition.ip_equal["qcs:ip"] "010.0.0.1" is not an IPv4 address, IPv4 CIDR block or IPv6 address',
    ],
    [
      'ip empty prefix',
      doc({ ...S, condition: { ip_equal: { 'qcs:ip': '10.0.0.0/' } } }),
      'statement[0].condition.ip_equal["qcs:ip"] "10.0.0.0/" is not an IPv4 address, IPv4 CIDR block or IPv6 address',
    ],
    ['too large (string)', JSON.stringify(doc({ ...S, resource: Array(400).fill(GZ_A) })), /^policy is \d+ characters; the limit is 6144$/],
    ['too large (object)', doc({ ...S, resource: Array(400).fill(GZ_A) }), /^policy is \d+ characters; the limit is 6144$/],
  ];
  it.each(cases)('%s', (_name, input, message) => {
    expectPolicyError(input, message);
  });
});

describe('preset policies', () => {
  const full = PRESET_POLICIES.QcloudKMSFullAccess;
  const ro = PRESET_POLICIES.QcloudKMSReadOnlyAccess;

  it.each(SPEC_ACTIONS)('QcloudKMSFullAccess allows %s', (a) => {
    expect(evaluate(req(a, [GZ_A]), [full]).allowed).toBe(true);
  });

  it.each(['CreateKey', 'ScheduleKeyDeletion'])('QcloudKMSFullAccess allows %s (operation-level * too)', (a) => {
    expect(evaluate(req(a, ['*']), [full]).reason).toBe('allow');
  });

  const readOnly = new Set<string>(READ_ONLY_KMS_ACTIONS);
  it.each(SPEC_ACTIONS.map((a) => [a, readOnly.has(a)] as const))('QcloudKMSReadOnlyAccess: %s → %s', (a, allowed) => {
    expect(evaluate(req(a, [GZ_A]), [ro]).allowed).toBe(allowed);
  });

  it.each(['DescribeKey', 'ListKeys', 'GetPublicKey', 'GetKeyRotationStatus'])('read-only allows %s', (a) => {
    expect(evaluate(req(a, [GZ_A]), [ro]).allowed).toBe(true);
  });

  it.each(['Encrypt', 'Decrypt', 'GetDataKeyPlaintext', 'GetParametersForImport', 'DescribeWhiteBoxDecryptKey', 'ScheduleKeyDeletion', 'CreateKey'])('read-only denies %s', (a) => {
    expect(evaluate(req(a, [GZ_A]), [ro])).toEqual({ allowed: false, reason: 'implicit-deny' });
  });

  it('read-only actions are all known actions and parse with knownActions', () => {
    for (const a of READ_ONLY_KMS_ACTIONS) expect(KNOWN.has(a)).toBe(true);
  });
});

describe('KMS CAM levels from the action registry (seed 004)', () => {
  const expected: [string, 'resource' | 'operation', boolean][] = [
    ['Encrypt', 'resource', true],
    ['DescribeKey', 'resource', true],
    ['DescribeKeys', 'resource', true],
    ['GenerateDataKey', 'resource', true],
    ['ScheduleKeyDeletion', 'resource', true],
    ['GetDataKeyPlaintext', 'resource', true],
    ['UnbindCloudResource', 'resource', true],
    ['BindCloudResource', 'resource', false],
    ['CreateKey', 'operation', true],
    ['CreateWhiteBoxKey', 'operation', true],
    ['ListKeys', 'operation', true],
    ['ListKeyDetail', 'operation', true],
    ['GenerateRandom', 'operation', true],
    // The seed says operation level; evaluated here on the key inside the ciphertext (README "Access control").
    ['Decrypt', 'resource', true],
    ['GetServiceStatus', 'operation', true],
    ['GetRegions', 'operation', true],
    ['ListAlgorithms', 'operation', true],
    ['ListDataKeys', 'operation', true],
    ['ListDataKeyDetail', 'operation', true],
    ['DescribeWhiteBoxServiceStatus', 'operation', true],
    ['RotateKey', 'resource', true],
  ];
  it.each(expected)('%s is %s-level, ipCondition %s', (a, level, ip) => {
    expect((KMS_CAM as Record<string, unknown>)[a]).toEqual({ level, ipCondition: ip });
  });

  it.each(Object.keys(KMS_CAM))('%s is a known KMS action (docs/contract/actions.md#action-index)', (a) => {
    expect(KNOWN.has(a)).toBe(true);
  });

  it.each(SPEC_ACTIONS)('%s has a KMS_CAM entry', (a) => {
    expect((KMS_CAM as Record<string, unknown>)[a]).toBeDefined();
  });

  it('the registry’s KMS actions equal the docs/contract/actions.md#action-index action list', () => {
    expect([...KMS_ACTION_NAMES].sort()).toEqual([...SPEC_ACTIONS].sort());
  });

  it('BindCloudResource is the only action without IP-condition support', () => {
    expect(
      Object.entries(KMS_CAM)
        .filter(([, v]) => !v.ipCondition)
        .map(([k]) => k),
    ).toEqual(['BindCloudResource']);
  });

  it('operation-level actions are granted only by resource *', () => {
    const specific = allowPolicy('kms:*', `qcs::kms::uin/${OWNER}:key/*`);
    for (const [a, e] of Object.entries(KMS_CAM)) {
      if (e.level !== 'operation') continue;
      expect(evaluate(req(a, ['*']), [specific]).allowed).toBe(false);
      expect(evaluate(req(a, ['*']), [allowPolicy('kms:*')]).allowed).toBe(true);
    }
  });
});
