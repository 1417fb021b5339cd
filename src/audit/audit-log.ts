import { hash } from 'node:crypto';
import type { AuditEvent, StoredAuditEvent } from '../model/audit.js';
import { storableAuditEvent, type AuditRepo } from '../store/audit-repo.js';
import { timeOrderedUuid, uuidTimeMs } from '../ids.js';

// Audit trail writer. Every call's event is appended before the call is answered, in batches:
// events that arrive while a batch commits wait for the next one, so one transaction (one WAL
// sync) serves many requests — group commit, not a commit per request. Events are hash-chained
// (hash = SHA-256(prev_hash ‖ canonical event)) in the order they are written.
// If a batch cannot be written, the writer is unhealthy and, fail-closed (the default), the API
// refuses new requests until a write succeeds again.

export const GENESIS_HASH = '0'.repeat(64);

/** The fields a hash covers, in a fixed order. */
export function eventHash(prevHash: string, e: AuditEvent): string {
  const canonical = JSON.stringify([
    e.eventId,
    e.eventTimeMs,
    e.eventName,
    e.requestId,
    e.accountUin,
    e.userUin,
    e.userName,
    e.secretId,
    e.sourceIp,
    e.region,
    e.resourceType,
    e.resourceName,
    e.result,
    e.errorCode,
    e.apiVersion,
  ]);
  // One-shot hash: the same bytes as update(prevHash).update(canonical), without a Hash object.
  return hash('sha256', prevHash + canonical, 'hex');
}

export class AuditUnavailableError extends Error {
  readonly code = 'AuditUnavailable';
}

interface Pending {
  event: AuditEvent;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class AuditLog {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private healthy = true;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly repo: AuditRepo,
    private readonly opts: { failClosed: boolean; onError?: (err: unknown) => void },
  ) {}

  /** false after a failed write, until the next write succeeds. */
  get available(): boolean {
    return this.healthy || !this.opts.failClosed;
  }

  /**
   * The event's time is when its request arrived, which the request id (a version 7 UUID made
   * then) carries; its id carries the same time. So both ids name the event's millisecond, and
   * the trail finds an event by either through the time index, without an index of its own
   * (AuditRepo.query, docs/benchmarks.md). A request id of another form: the time now.
   */
  newEvent(fields: Omit<AuditEvent, 'eventId' | 'eventTimeMs'>): AuditEvent {
    const eventTimeMs = uuidTimeMs(fields.requestId) ?? Date.now();
    return { eventId: timeOrderedUuid(eventTimeMs), eventTimeMs, ...fields };
  }

  /** Resolves once the event is committed; rejects (fail-closed) when it could not be. */
  record(event: AuditEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ event: storableAuditEvent(event), resolve, reject });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length) {
        // Let the calls whose I/O finished in this turn of the event loop join the batch: without
        // this, every other batch held a single event (the one call that reached here while the
        // previous batch committed) and paid a whole transaction for it (docs/benchmarks.md).
        await new Promise<void>((resolve) => setImmediate(resolve));
        const batch = this.queue;
        this.queue = [];
        await this.write(batch);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    try {
      // The chain head is read inside the batch's transaction (not cached): other processes
      // sharing the database append to the same chain.
      await this.repo.appendChained((head) => {
        let prev = head ?? GENESIS_HASH;
        return batch.map(({ event: e }) => {
          const hash = eventHash(prev, e);
          // Field by field, not a spread: this runs once per API call (docs/benchmarks.md).
          const s: StoredAuditEvent = {
            seq: 0,
            eventId: e.eventId,
            eventTimeMs: e.eventTimeMs,
            eventName: e.eventName,
            requestId: e.requestId,
            accountUin: e.accountUin,
            userUin: e.userUin,
            userName: e.userName,
            secretId: e.secretId,
            sourceIp: e.sourceIp,
            region: e.region,
            resourceType: e.resourceType,
            resourceName: e.resourceName,
            result: e.result,
            errorCode: e.errorCode,
            apiVersion: e.apiVersion,
            prevHash: prev,
            hash,
          };
          prev = hash;
          return s;
        });
      });
      this.healthy = true;
      for (const p of batch) p.resolve();
    } catch (err) {
      this.healthy = false;
      this.opts.onError?.(err);
      this.scheduleRecovery();
      const e = new AuditUnavailableError('the audit trail could not be written');
      for (const p of batch) this.opts.failClosed ? p.reject(e) : p.resolve();
    }
  }

  /**
   * While unhealthy, try once a second to write a system event marking the gap; its success
   * makes the trail available again (requests are refused meanwhile, so nothing is lost).
   */
  private scheduleRecovery(): void {
    if (this.retry) return;
    this.retry = setInterval(() => {
      if (this.healthy || this.flushing) return;
      this.record(
        this.newEvent({
          eventName: 'AuditTrailRecovered',
          requestId: timeOrderedUuid(),
          accountUin: '',
          userUin: '',
          userName: 'system',
          secretId: '',
          sourceIp: '',
          region: '',
          resourceType: '',
          resourceName: '*',
          result: 'Success',
          errorCode: '',
          apiVersion: '',
        }),
      ).then(
        () => {
          if (this.retry) clearInterval(this.retry);
          this.retry = undefined;
        },
        () => undefined,
      );
    }, 1_000);
    this.retry.unref();
  }

  /** Wait for everything queued (shutdown). */
  async drain(): Promise<void> {
    if (this.retry) clearInterval(this.retry);
    this.retry = undefined;
    while (this.flushing) await this.flushing;
  }
}
