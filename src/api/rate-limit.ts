// Per-account, per-region, per-action request limits (kms-api.md §1.10) → RequestLimitExceeded.
// On premises nothing is limited unless configured. KMS_RATE_LIMITS:
//   unset / "off"            no limits
//   "tencent"                Tencent's documented per-action QPS (§4 headings), for clients that
//                            want to exercise their back-off
//   "tencent,Encrypt=50"     the preset with overrides;  "Encrypt=50,Decrypt=20"  only those
// A token bucket per (root UIN, region, action), holding one second of requests.

export const TENCENT_QPS: Readonly<Record<string, number>> = {
  CreateKey: 100, DescribeKey: 100, DescribeKeys: 100, ListKeys: 100, ListKeyDetail: 100, UpdateAlias: 100, UpdateKeyDescription: 100,
  EnableKey: 100, EnableKeys: 100, DisableKey: 100, DisableKeys: 100, ScheduleKeyDeletion: 100, CancelKeyDeletion: 100, ArchiveKey: 100,
  CancelKeyArchive: 100, Encrypt: 300, Decrypt: 300, ReEncrypt: 100, GenerateDataKey: 100, GenerateRandom: 150, GetPublicKey: 100,
  AsymmetricRsaDecrypt: 200, AsymmetricSm2Decrypt: 200, SignByAsymmetricKey: 100, VerifyByAsymmetricKey: 100, GetParametersForImport: 100,
  ImportKeyMaterial: 100, DeleteImportedKeyMaterial: 100, EnableKeyRotation: 100, DisableKeyRotation: 100, GetKeyRotationStatus: 100,
  RotateKey: 20, ImportDataKey: 100, DescribeDataKey: 100, DescribeDataKeys: 100, ListDataKeys: 100, ListDataKeyDetail: 100,
  GetDataKeyPlaintext: 300, GetDataKeyCiphertextBlob: 100, EnableDataKey: 100, EnableDataKeys: 100, DisableDataKey: 100, DisableDataKeys: 100,
  ScheduleDataKeyDeletion: 20, CancelDataKeyDeletion: 20, UpdateDataKeyName: 20, UpdateDataKeyDescription: 20, CreateWhiteBoxKey: 100,
  DeleteWhiteBoxKey: 200, DescribeWhiteBoxKey: 200, DescribeWhiteBoxKeyDetails: 100, DescribeWhiteBoxDecryptKey: 200,
  DescribeWhiteBoxServiceStatus: 200, EnableWhiteBoxKey: 200, EnableWhiteBoxKeys: 200, DisableWhiteBoxKey: 200, DisableWhiteBoxKeys: 200,
  EncryptByWhiteBox: 100, DescribeWhiteBoxDeviceFingerprints: 100, OverwriteWhiteBoxDeviceFingerprints: 100, PostQuantumCryptoEncrypt: 20,
  PostQuantumCryptoDecrypt: 20, PostQuantumCryptoSign: 20, PostQuantumCryptoVerify: 20, BindCloudResource: 100, UnbindCloudResource: 100,
  GetServiceStatus: 100, GetRegions: 100, ListAlgorithms: 100,
};

export class RateLimitConfigError extends Error {
  readonly code = 'RateLimitConfigError';
}

export function parseRateLimits(spec: string | undefined): Map<string, number> {
  const limits = new Map<string, number>();
  if (!spec || spec.trim() === '' || spec.trim() === 'off') return limits;
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (part === 'tencent') {
      for (const [action, qps] of Object.entries(TENCENT_QPS)) limits.set(action, qps);
      continue;
    }
    const m = /^([A-Za-z0-9]+)=(\d+(?:\.\d+)?)$/.exec(part);
    if (!m || Number(m[2]) <= 0) throw new RateLimitConfigError(`KMS_RATE_LIMITS: "${part}" is not "tencent" or Action=<requests per second>`);
    limits.set(m[1]!, Number(m[2]));
  }
  return limits;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly limits: Map<string, number>) {}

  get enabled(): boolean {
    return this.limits.size > 0;
  }

  /** True when the request may proceed; consumes one token. */
  take(accountUin: string, region: string, action: string, nowMs = Date.now()): boolean {
    const qps = this.limits.get(action);
    if (qps === undefined) return true;
    const key = `${accountUin}|${region}|${action}`;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size > 100_000) this.buckets.clear(); // bounded: a full bucket is the default anyway
      b = { tokens: qps, at: nowMs };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(qps, b.tokens + ((nowMs - b.at) / 1000) * qps);
    b.at = nowMs;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
