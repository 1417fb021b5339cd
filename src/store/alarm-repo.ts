import type { Db } from './db.js';

export const ALARM_KINDS = ['PendingDeleteKeyUsed', 'KeyDeletionImminent'] as const;
export type AlarmKind = (typeof ALARM_KINDS)[number];
export type AlarmDeliveryStatus = 'pending' | 'delivered' | 'failed' | 'disabled';

/** JSON-safe facts about the event; never key material or credentials. */
export type AlarmDetail = Record<string, string | number | boolean | null>;

export interface Alarm {
  alarmId: string;
  kind: AlarmKind;
  accountUin: string;
  region: string;
  keyId: string;
  detail: AlarmDetail;
  createdAtMs: number;
  /** KeyDeletionImminent: `<keyId>:<days left>`; null otherwise. */
  dayKey: string | null;
  deliveryStatus: AlarmDeliveryStatus;
  attempts: number;
  nextAttemptAtMs: number;
  lastError: string | null;
}

const MAX_ERROR_CHARS = 1000;

const toRow = (a: Alarm) => ({
  alarm_id: a.alarmId,
  kind: a.kind,
  account_uin: a.accountUin,
  region: a.region,
  key_id: a.keyId,
  detail: JSON.stringify(a.detail),
  created_at_ms: a.createdAtMs,
  day_key: a.dayKey,
  delivery_status: a.deliveryStatus,
  attempts: a.attempts,
  next_attempt_at_ms: a.nextAttemptAtMs,
  last_error: a.lastError,
});

function parseDetail(v: unknown): AlarmDetail {
  try {
    const d = JSON.parse(String(v)) as unknown;
    return d && typeof d === 'object' && !Array.isArray(d) ? (d as AlarmDetail) : {};
  } catch {
    return {};
  }
}

const fromRow = (r: Record<string, unknown>): Alarm => ({
  alarmId: String(r.alarm_id),
  kind: r.kind as AlarmKind,
  accountUin: String(r.account_uin),
  region: String(r.region),
  keyId: String(r.key_id),
  detail: parseDetail(r.detail),
  createdAtMs: Number(r.created_at_ms),
  dayKey: r.day_key == null ? null : String(r.day_key),
  deliveryStatus: r.delivery_status as AlarmDeliveryStatus,
  attempts: Number(r.attempts),
  nextAttemptAtMs: Number(r.next_attempt_at_ms),
  lastError: r.last_error == null ? null : String(r.last_error),
});

export class AlarmRepo {
  constructor(private readonly db: Db) {}

  /** False when an alarm with the same day_key already exists (that day's alarm was raised). */
  async insert(alarm: Alarm): Promise<boolean> {
    await this.db('alarms').insert(toRow(alarm)).onConflict('day_key').ignore();
    // Portable check of whether this row went in (the insert's return value differs by driver).
    const r = await this.db('alarms').where('alarm_id', alarm.alarmId).first('alarm_id');
    return r !== undefined;
  }

  async get(alarmId: string): Promise<Alarm | undefined> {
    const r = await this.db('alarms').where('alarm_id', alarmId).first();
    return r ? fromRow(r) : undefined;
  }

  /** Pending alarms whose next attempt is due, oldest due first. */
  async due(nowMs: number, limit: number): Promise<Alarm[]> {
    const rows = await this.db('alarms')
      .where('delivery_status', 'pending')
      .andWhere('next_attempt_at_ms', '<=', nowMs)
      .orderBy([
        { column: 'next_attempt_at_ms', order: 'asc' },
        { column: 'created_at_ms', order: 'asc' },
      ])
      .limit(limit);
    return rows.map(fromRow);
  }

  /**
   * Claim one due alarm for a delivery attempt: moves its next attempt to claimUntilMs only if
   * it is still pending and still due as read. Exactly one of several processes delivering at
   * once wins the claim; a claimer that dies lets the claim lapse at claimUntilMs.
   */
  async claim(alarm: Pick<Alarm, 'alarmId' | 'nextAttemptAtMs'>, claimUntilMs: number): Promise<boolean> {
    const n = await this.db('alarms')
      .where({ alarm_id: alarm.alarmId, delivery_status: 'pending', next_attempt_at_ms: alarm.nextAttemptAtMs })
      .update({ next_attempt_at_ms: claimUntilMs });
    return n === 1;
  }

  async markDelivered(alarmId: string): Promise<void> {
    await this.db('alarms')
      .where('alarm_id', alarmId)
      // last_error is kept: a late delivery still shows why the earlier attempts failed.
      .update({ delivery_status: 'delivered', attempts: this.db.raw('attempts + 1') });
  }

  /** One failed attempt: retried at nextAttemptAtMs, or given up ('failed') when finalFailure. */
  async markAttemptFailed(alarmId: string, error: string, nextAttemptAtMs: number, finalFailure: boolean): Promise<void> {
    await this.db('alarms')
      .where('alarm_id', alarmId)
      .update({
        delivery_status: finalFailure ? 'failed' : 'pending',
        attempts: this.db.raw('attempts + 1'),
        next_attempt_at_ms: nextAttemptAtMs,
        last_error: error.slice(0, MAX_ERROR_CHARS),
      });
  }

  /** Newest first; all accounts when accountUin is omitted (the console's operator view). */
  async list(accountUin: string | undefined, limit: number): Promise<Alarm[]> {
    const b = this.db('alarms');
    if (accountUin) b.where('account_uin', accountUin);
    const rows = await b
      .orderBy([
        { column: 'created_at_ms', order: 'desc' },
        { column: 'alarm_id', order: 'desc' },
      ])
      .limit(limit);
    return rows.map(fromRow);
  }
}
