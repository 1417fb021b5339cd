import type { z } from 'zod';
import type { CamRule } from '../../domain/access.js';
import { validateParams } from '../validation.js';
import { asymmetric } from './asymmetric.js';
import { binding } from './binding.js';
import { byok } from './byok.js';
import { cloudAudit } from './cloudaudit.js';
import { dataKeys } from './data-keys.js';
import { lifecycle } from './lifecycle.js';
import { pqc } from './pqc.js';
import { rotation } from './rotation.js';
import type { ActionDeps, ActionSpec, EventCatalogue, ServiceDef } from './spec.js';
import { serviceInfo } from './service-info.js';
import { symmetric } from './symmetric.js';
import { whitebox } from './whitebox.js';

// The action registry: every action this server answers, each described once in its group's
// file. The CAM table, the rate-limit preset, the read-only preset, the region-less actions and
// the request schemas are all read from here.

// The KMS actions (docs/contract/actions.md#action-index, in its order). The registry must describe each of them and
// nothing else, or it does not compile.
export const KMS_ACTIONS = [
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
] as const;
export type KmsAction = (typeof KMS_ACTIONS)[number];

// The registry holds specs of many schemas; each entry is typed by its own (action() infers it).
// biome-ignore lint/suspicious/noExplicitAny: the one place the schema parameter is erased
type AnySpec = ActionSpec<any>;

export const kmsActions = {
  ...lifecycle,
  ...symmetric,
  ...asymmetric,
  ...byok,
  ...rotation,
  ...dataKeys,
  ...whitebox,
  ...pqc,
  ...binding,
  ...serviceInfo,
} satisfies { readonly [A in KmsAction]: AnySpec };
// …and nothing outside the list either:
type NoneOf<T extends never> = T;
type _Unlisted = NoneOf<Exclude<keyof typeof kmsActions, KmsAction>>;

export const CLOUDAUDIT_ACTIONS = ['LookUpEvents', 'DescribeEvents'] as const;
export type CloudAuditAction = (typeof CLOUDAUDIT_ACTIONS)[number];
export const cloudAuditActions = { ...cloudAudit } satisfies { readonly [A in CloudAuditAction]: AnySpec };

export type KmsRequest<A extends KmsAction> = z.output<(typeof kmsActions)[A]['schema']>;

export function isKmsAction(name: string): name is KmsAction {
  return Object.hasOwn(kmsActions, name);
}

/** Validates a KMS request (validation.ts): throws ParameterError. */
export function validateKmsParams<A extends KmsAction>(action: A, params: Record<string, unknown>, form: 'json' | 'flat'): KmsRequest<A> {
  return validateParams(kmsActions[action].schema, params, form) as KmsRequest<A>;
}

function derive<T>(pick: (spec: AnySpec) => T): { readonly [A in KmsAction]: T } {
  return Object.fromEntries(KMS_ACTIONS.map((a) => [a, pick(kmsActions[a])])) as { [A in KmsAction]: T };
}

export const kmsRequestSchemas: { readonly [A in KmsAction]: (typeof kmsActions)[A]['schema'] } = derive((s) => s.schema);

/** Each KMS action's CAM level and IP-condition support (docs/contract/actions.md#action-index, seed 004). */
export const KMS_CAM: { readonly [A in KmsAction]: Pick<CamRule, 'level' | 'ipCondition'> } = derive(({ cam }) => ({ level: cam.level, ipCondition: cam.ipCondition }));

/** Tencent's documented per-action QPS of the KMS actions (docs/contract/actions.md headings): the `tencent` rate-limit preset. */
export const TENCENT_QPS: { readonly [A in KmsAction]: number } = derive((s) => s.qps);

// The read-only preset (QcloudKMSReadOnlyAccess) names these actions rather than
// `Describe*`/`List*`/`Get*`: docs/contract/cam.md#examples notes `Get*` also grants GetDataKeyPlaintext and
// GetParametersForImport, and `Describe*` would grant DescribeWhiteBoxDecryptKey (returns
// white-box decryption key material). These only read metadata or public material.
export const READ_ONLY_KMS_ACTIONS: readonly KmsAction[] = KMS_ACTIONS.filter((a) => kmsActions[a].access === 'read');

// CloudAudit's view of every event name this service records: Chinese name, read or write,
// sensitive (docs/contract/audit.md#event-fields).
const everyAction: ReadonlyMap<string, AnySpec> = new Map([...Object.entries(kmsActions), ...Object.entries(cloudAuditActions)]);
export const EVENT_CATALOGUE: EventCatalogue = {
  describe: (name) => {
    const spec = everyAction.get(name);
    return spec && { ...spec.audit, access: spec.access };
  },
  readNames: [...everyAction].filter(([, s]) => s.access === 'read').map(([name]) => name),
  sensitiveNames: [...everyAction].filter(([, s]) => s.audit.sensitive).map(([name]) => name),
};

/** The API's services by name (the CAM service prefix), each with its Version. */
export function kmsService(deps: ActionDeps): ServiceDef {
  return {
    name: 'kms',
    version: '2019-01-18',
    actions: new Map(Object.entries(kmsActions)),
    deps,
  };
}

export function cloudAuditService(deps: ActionDeps): ServiceDef {
  return {
    name: 'cloudaudit',
    version: '2019-03-19',
    actions: new Map(Object.entries(cloudAuditActions)),
    deps,
  };
}
