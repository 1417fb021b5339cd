import { randomUUID } from 'node:crypto';
import type { Alarm, AlarmDetail, AlarmKind, AlarmRepo } from '../store/alarm-repo.js';

// The KMS guide's deletion alarms (key deletion section): "before a key is deleted, any attempt
// to call the key will trigger the alarm" and "the alarm will be triggered every day in the last
// 3 days before a key is deleted". Each alarm is recorded first (the console lists them), then
// POSTed to a configured webhook, retried with exponential backoff; the outcome is recorded on
// the row. Alarms carry identifiers and times only: never key material or credentials.

const DAY_MS = 86_400_000;
/** The guide's "last 3 days before a key is deleted". */
export const IMMINENT_DAYS = 3;
export const DEFAULT_MAX_ATTEMPTS = 6;
export const DEFAULT_BASE_DELAY_MS = 1_000;
export const MAX_DELAY_MS = 5 * 60_000;
export const WEBHOOK_TIMEOUT_MS = 5_000;
const BATCH = 100;

export interface AlarmServiceOptions {
  /** http(s) URL the alarms are POSTed to; without it alarms are recorded as 'disabled'. */
  webhookUrl?: string;
  /** Attempts before an alarm is given up as 'failed' (default 6). */
  maxAttempts?: number;
  /** First retry delay; doubles per failed attempt, capped at 5 minutes (default 1000). */
  baseDelayMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
  /** Background failures (recording or delivering); the caller is never blocked or thrown at. */
  onError?: (err: unknown, context: { op: string; alarmId?: string; keyId?: string }) => void;
}

export interface PendingDeleteUse {
  accountUin: string;
  region: string;
  keyId: string;
  /** The API action or key operation attempted (e.g. 'Decrypt'). */
  action: string;
  requestId?: string;
  sourceIp?: string;
  /** The UIN that made the attempt (root or sub-account). */
  userUin?: string;
  /** Unix seconds. */
  deletionDate?: number;
}

export interface ImminentKey {
  keyId: string;
  accountUin: string;
  region: string;
  alias: string;
  /** Unix seconds. */
  deletionDate: number;
  /** When given, only PendingDelete keys alarm. */
  state?: string;
}

export interface DeliveryReport {
  delivered: number;
  retried: number;
  failed: number;
}

/** The JSON body POSTed to the webhook. */
export interface AlarmPayload {
  alarmId: string;
  kind: AlarmKind;
  accountUin: string;
  region: string;
  keyId: string;
  createdAt: string;
  detail: AlarmDetail;
}

export function alarmPayload(a: Alarm): AlarmPayload {
  return { alarmId: a.alarmId, kind: a.kind, accountUin: a.accountUin, region: a.region, keyId: a.keyId, createdAt: new Date(a.createdAtMs).toISOString(), detail: a.detail };
}

/** Days left before deletion, counted up: 1 in the last 24 hours. */
export function daysLeft(deletionDateS: number, nowMs: number): number {
  return Math.ceil((deletionDateS * 1000 - nowMs) / DAY_MS);
}

const isoOrNull = (unixS: number | undefined) => (unixS && unixS > 0 ? new Date(unixS * 1000).toISOString() : null);

export class AlarmService {
  private readonly webhookUrl: string | undefined;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  /** Delivery runs one at a time, so an alarm is never POSTed twice concurrently. */
  private running: Promise<DeliveryReport> | undefined;
  private rerun = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly repo: AlarmRepo,
    private readonly opts: AlarmServiceOptions = {},
  ) {
    if (opts.webhookUrl) {
      let url: URL;
      try {
        url = new URL(opts.webhookUrl);
      } catch {
        throw new Error('alarm webhook: not a URL'); // not echoed: it may carry a token
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`alarm webhook: http or https URL expected, got ${url.protocol}`);
    }
    this.webhookUrl = opts.webhookUrl || undefined;
    this.maxAttempts = Math.max(1, Math.floor(opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS));
    this.baseDelayMs = Math.max(0, opts.baseDelayMs ?? DEFAULT_BASE_DELAY_MS);
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.now = opts.now ?? Date.now;
  }

  get webhookConfigured(): boolean {
    return this.webhookUrl !== undefined;
  }

  /** Delay before the next attempt once `attempts` attempts have failed (attempts >= 1). */
  backoffMs(attempts: number): number {
    return Math.min(MAX_DELAY_MS, this.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  }

  /**
   * An attempt to use a key pending deletion. Synchronous for the caller: the alarm is recorded
   * and delivered in the background (errors go to onError). The returned promise (never rejects)
   * settles once the alarm is recorded, for callers that want to wait; delivery is not awaited.
   */
  pendingDeleteKeyUsed(use: PendingDeleteUse): Promise<Alarm | undefined> {
    const nowMs = this.now();
    const alarm = this.newAlarm('PendingDeleteKeyUsed', use, nowMs, null, {
      action: use.action,
      requestId: use.requestId ?? null,
      sourceIp: use.sourceIp ?? null,
      userUin: use.userUin ?? null,
      keyState: 'PendingDelete',
      deletionDate: isoOrNull(use.deletionDate),
    });
    return this.track(
      this.repo.insert(alarm).then(
        () => {
          if (alarm.deliveryStatus === 'pending') this.kick();
          return alarm;
        },
        (err: unknown) => {
          this.report(err, { op: 'record', alarmId: alarm.alarmId, keyId: use.keyId });
          return undefined;
        },
      ),
    );
  }

  /**
   * The lifecycle job's daily alarm: one per key and day left (3, 2, 1) for keys whose deletion
   * is within 3 days. Idempotent: repeated runs on the same day add nothing. Returns the alarms
   * raised by this call; delivery starts in the background.
   */
  async deletionImminent(keys: ImminentKey[], nowMs: number = this.now()): Promise<Alarm[]> {
    const raised: Alarm[] = [];
    for (const key of keys) {
      if (key.state !== undefined && key.state !== 'PendingDelete') continue;
      if (!(key.deletionDate > 0)) continue;
      const left = daysLeft(key.deletionDate, nowMs);
      if (left < 1 || left > IMMINENT_DAYS) continue;
      const alarm = this.newAlarm('KeyDeletionImminent', key, nowMs, `${key.keyId}:${left}`, {
        alias: key.alias,
        daysLeft: left,
        deletionDate: isoOrNull(key.deletionDate),
      });
      if (await this.repo.insert(alarm)) raised.push(alarm);
    }
    if (raised.some((a) => a.deliveryStatus === 'pending')) this.kick();
    return raised;
  }

  /**
   * POSTs every due alarm once. 2xx: delivered; anything else (status, network error, 5 s
   * timeout): retried after baseDelay * 2^(attempts-1), capped at 5 minutes, and 'failed' after
   * maxAttempts. Runs are serialised: a call during a run waits for it, then runs again.
   */
  async deliverDue(nowMs?: number): Promise<DeliveryReport> {
    while (this.running) await this.running.catch(() => undefined);
    const run = this.deliverOnce(nowMs ?? this.now());
    this.running = run;
    try {
      return await run;
    } finally {
      if (this.running === run) this.running = undefined;
    }
  }

  /** Runs deliverDue every intervalMs (the timer does not keep the process alive). */
  start(intervalMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  /** Stops the timer and waits for recording and delivery under way (call before closing the db). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.idle();
  }

  /** Resolves once no recording or delivery started in the background is under way. */
  async idle(): Promise<void> {
    while (this.inFlight.size || this.running) {
      await Promise.allSettled([...this.inFlight, ...(this.running ? [this.running] : [])]);
    }
  }

  /** Alarms for the console, newest first. */
  list(accountUin: string | undefined, limit = 100): Promise<Alarm[]> {
    return this.repo.list(accountUin, limit);
  }

  private newAlarm(kind: AlarmKind, key: { accountUin: string; region: string; keyId: string }, nowMs: number, dayKey: string | null, detail: AlarmDetail): Alarm {
    return {
      alarmId: randomUUID(),
      kind,
      accountUin: key.accountUin,
      region: key.region,
      keyId: key.keyId,
      detail,
      createdAtMs: nowMs,
      dayKey,
      deliveryStatus: this.webhookUrl ? 'pending' : 'disabled',
      attempts: 0,
      // A drill (`jobs run --at` in the future) raises alarms dated then, but delivers them now.
      nextAttemptAtMs: Math.min(nowMs, this.now()),
      lastError: null,
    };
  }

  /** Background delivery, at most one run queued behind the current one. */
  private kick(): void {
    if (!this.webhookUrl) return;
    if (this.running) {
      if (this.rerun) return;
      this.rerun = true;
      this.track(
        this.running
          .catch(() => undefined)
          .then(() => {
            this.rerun = false;
            return this.deliverDue();
          })
          .catch((err: unknown) => this.report(err, { op: 'deliver' })),
      );
      return;
    }
    this.track(this.deliverDue().catch((err: unknown) => this.report(err, { op: 'deliver' })));
  }

  private async deliverOnce(nowMs: number): Promise<DeliveryReport> {
    const report: DeliveryReport = { delivered: 0, retried: 0, failed: 0 };
    if (!this.webhookUrl) return report;
    for (const alarm of await this.repo.due(nowMs, BATCH)) {
      // Several processes may deliver from one database: only the claimant posts.
      if (!(await this.repo.claim(alarm, Math.max(nowMs, this.now()) + 2 * WEBHOOK_TIMEOUT_MS))) continue;
      const error = await this.post(this.webhookUrl, alarm);
      if (error === undefined) {
        await this.repo.markDelivered(alarm.alarmId);
        report.delivered++;
        continue;
      }
      const attempts = alarm.attempts + 1;
      const final = attempts >= this.maxAttempts;
      await this.repo.markAttemptFailed(alarm.alarmId, error, nowMs + this.backoffMs(attempts), final);
      if (final) {
        report.failed++;
        this.report(new Error(`alarm ${alarm.alarmId} undeliverable after ${attempts} attempts: ${error}`), { op: 'deliver', alarmId: alarm.alarmId, keyId: alarm.keyId });
      } else {
        report.retried++;
      }
    }
    return report;
  }

  /** undefined when the receiver answered 2xx, else why not. */
  private async post(url: string, alarm: Alarm): Promise<string | undefined> {
    try {
      const res = await this.fetchFn(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'hsmkms-alarms', 'x-hsmkms-alarm-id': alarm.alarmId },
        body: JSON.stringify(alarmPayload(alarm)),
        redirect: 'manual',
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined); // release the connection
      if (res.status >= 200 && res.status < 300) return undefined;
      return `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    } catch (err) {
      if (err instanceof Error) {
        if (err.name === 'TimeoutError' || err.name === 'AbortError') return `timeout after ${WEBHOOK_TIMEOUT_MS} ms`;
        const cause = (err as { cause?: unknown }).cause;
        const detail = cause instanceof Error ? `: ${cause.message}` : '';
        return `${err.message}${detail}`;
      }
      return String(err);
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  private report(err: unknown, context: { op: string; alarmId?: string; keyId?: string }): void {
    try {
      this.opts.onError?.(err, context);
    } catch {
      // a failing logger must not break delivery
    }
  }
}
