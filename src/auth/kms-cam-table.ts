// CAM authorization granularity and IP-condition support of every KMS action this
// service serves (kms-api.md §3). Source: Tencent CAM doc "Key Management Service"
// (last updated 2025-12-04), stored as /work/shared/seeds/004_6b06b0238967ff56.txt.
//
// level 'operation': the request is evaluated against resource `*` only, so a policy
// that names a specific resource does not grant the action (seed: "CAM will determine
// that this API is not within the scope of authorization").
// ipCondition false: the seed marks IP restriction "not supported"; evaluate() drops
// `qcs:ip` from the context for such actions, so ip_* conditions see a missing key.
//
// The seed also lists cloud/console-only APIs that this service does not implement
// and that are therefore absent here: ModifySyncTask, SetKeyAttributes,
// GetKeyAttributes, GetEncryptionSDKDownloadLink, GetSDKDownloadLink,
// GetSyncSupportRegion, ListEncryptionSDKVariants, ListSDKVariants,
// DescribeResourceIds, DescribeServiceList, ListKey, ListKmsPremiumInstances.

export type CamLevel = 'resource' | 'operation';

export interface KmsCamEntry {
  readonly level: CamLevel;
  readonly ipCondition: boolean;
}

const R: KmsCamEntry = { level: 'resource', ipCondition: true };
const O: KmsCamEntry = { level: 'operation', ipCondition: true };

export const KMS_CAM: Readonly<Record<string, KmsCamEntry>> = Object.freeze({
  // Lifecycle
  // CreateKey: the seed says "Resource level" but its only resource description is the
  // wildcard `key/creatorUin/$creatorUin/*` (no key exists yet); kms-api.md §5.3 ("resource
  // must be `*`: CreateKey and CreateWhiteBoxKey per KMS CAM doc") → operation level.
  CreateKey: O,
  DescribeKey: R,
  DescribeKeys: R,
  ListKeys: O,
  ListKeyDetail: O,
  UpdateAlias: R,
  UpdateKeyDescription: R,
  EnableKey: R,
  EnableKeys: R,
  DisableKey: R,
  DisableKeys: R,
  ScheduleKeyDeletion: R,
  CancelKeyDeletion: R,
  ArchiveKey: R,
  CancelKeyArchive: R,

  // Symmetric crypto
  Encrypt: R,
  // Decrypt: the seed says "Operation level, *" (although §5.3 recommends evaluating the CMK
  // found in the ciphertext). The seed wins: only resource `*` grants Decrypt.
  Decrypt: O,
  ReEncrypt: R,
  GenerateDataKey: R,
  GenerateRandom: O,

  // Asymmetric
  GetPublicKey: R,
  AsymmetricRsaDecrypt: R,
  AsymmetricSm2Decrypt: R,
  SignByAsymmetricKey: R,
  VerifyByAsymmetricKey: R,

  // Import (BYOK)
  GetParametersForImport: R,
  ImportKeyMaterial: R,
  DeleteImportedKeyMaterial: R,

  // Rotation
  EnableKeyRotation: R,
  DisableKeyRotation: R,
  GetKeyRotationStatus: R,
  // Seed silent; addresses a KeyId → resource level (§5.3 "every action addressing a KeyId").
  RotateKey: R,

  // Hosted data keys (the seed's data-key resources have an empty region segment)
  ImportDataKey: R,
  DescribeDataKey: R,
  DescribeDataKeys: R,
  ListDataKeys: O,
  ListDataKeyDetail: O,
  GetDataKeyPlaintext: R,
  // Seed silent; addresses a DataKeyId → resource level (§5.3).
  GetDataKeyCiphertextBlob: R,
  EnableDataKey: R,
  EnableDataKeys: R,
  DisableDataKey: R,
  DisableDataKeys: R,
  // Seed silent; addresses a DataKeyId → resource level (§5.3).
  ScheduleDataKeyDeletion: R,
  CancelDataKeyDeletion: R,
  // Seed silent; addresses a DataKeyId → resource level (§5.3).
  UpdateDataKeyName: R,
  UpdateDataKeyDescription: R,

  // White-box
  // CreateWhiteBoxKey: seed "Resource level" with only the wildcard `key/*`; §5.3 says
  // operation level per the KMS CAM doc — same reasoning as CreateKey.
  CreateWhiteBoxKey: O,
  DeleteWhiteBoxKey: R,
  DescribeWhiteBoxKey: R,
  // Seed: resource level (§5.3 recommended operation level, unconfirmed; the seed wins).
  DescribeWhiteBoxKeyDetails: R,
  DescribeWhiteBoxDecryptKey: R,
  DescribeWhiteBoxServiceStatus: O,
  EnableWhiteBoxKey: R,
  EnableWhiteBoxKeys: R,
  DisableWhiteBoxKey: R,
  DisableWhiteBoxKeys: R,
  EncryptByWhiteBox: R,
  DescribeWhiteBoxDeviceFingerprints: R,
  OverwriteWhiteBoxDeviceFingerprints: R,

  // Post-quantum
  PostQuantumCryptoEncrypt: R,
  PostQuantumCryptoDecrypt: R,
  PostQuantumCryptoSign: R,
  PostQuantumCryptoVerify: R,

  // Cloud-resource binding — seed: BindCloudResource IP restriction "not supported".
  BindCloudResource: { level: 'resource', ipCondition: false },
  UnbindCloudResource: R,

  // Service info
  GetServiceStatus: O,
  GetRegions: O,
  ListAlgorithms: O,
});

/** Every action name in KMS_CAM; pass as `knownActions` to parsePolicy. */
export const KMS_ACTION_NAMES: ReadonlySet<string> = new Set(Object.keys(KMS_CAM));
