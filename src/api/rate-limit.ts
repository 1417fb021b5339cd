import { TENCENT_QPS } from './actions/index.js';

// Per-account, per-region, per-action request limits (docs/contract/protocol.md#rate-limits) → RequestLimitExceeded.
// On premises nothing is limited unless configured. KMS_RATE_LIMITS:
//   unset / "off"            no limits
//   "tencent"                Tencent's documented per-action QPS (docs/contract/actions.md headings), for clients that
//                            want to exercise their back-off
//   "tencent,Encrypt=50"     the preset with overrides;  "Encrypt=50,Decrypt=20"  only those
// A token bucket per (root UIN, region, action), holding one second of requests.

export class RateLimitConfigError extends Error {
  readonly code = 'RateLimitConfigError';
}

export function parseRateLimits(spec: string | undefined): Map<string, number> {
  const limits = new Map<string, number>();
  if (!spec || spec.trim() === '' || spec.trim() === 'off') return limits;
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
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
