import { hash, randomBytes } from 'node:crypto';
import type { AuditEvent, StoredAuditEvent } from '../model/audit.js';
import { StoreBusyError } from '../model/errors.js';
import { storableAuditEvent, type AuditRepo } from '../store/audit-repo.js';
import { timeOrderedUuid, uuidTimeMs } from '../ids.js';
import { AuditJournal, anyExists, readSegment, removeSegments, scanJournal } from './journal.js';

// Audit trail writer. Every call's event is durable before the call is answered. With the audit
// journal (SQLite's default: docs/reliability.md#audit-journal) that means appended to this
// process's journal segment — the events of the calls one callback released with one write — and the events
// move into SQL in batches off the request path. Without it, the events are committed to SQL
// in batches: events that arrive while a batch commits wait for the next one, so one
// transaction serves many requests (group commit). Either way SQL's events are hash-chained
// (hash = SHA-256(prev_hash ‖ canonical event)) in the order they are written there.
// If events cannot be written, the writer is unhealthy and, fail-closed (the default), the API
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

/** The journal's events move into SQL after journalMoveMs (50 by default), or at once when this many wait. */
const JOURNAL_MOVE_EVENTS = 100;
/** Journal mode: how old the oldest event waiting for SQL may grow while the database is only busy (locked) before the trail counts as down. */
const MAX_LAG_MS = 30_000;
/** A journal segment is ended (and removed once moved) at the first move after it is this old. */
const SEGMENT_MS = 250;
/** How long a reader of the trail waits for other processes' journals to reach SQL before reading anyway. */
const SETTLE_TIMEOUT_MS = 5_000;

export interface AuditLogOptions {
  failClosed: boolean;
  onError?: (err: unknown) => void;
  /**
   * The audit journal's directory (docs/reliability.md#audit-journal): a call is answered once
   * its event is appended there, and events reach SQL in batches off the request path. Without
   * it, a call is answered once its event is committed to SQL.
   */
  journalDir?: string;
  /**
   * false: calls do not use the journal (answered once committed to SQL), but a journal left in
   * journalDir (by processes that did, or before KMS_AUDIT_JOURNAL was turned off) is still
   * recovered. Default true.
   */
  journalWrites?: boolean;
  /** How long an event waits in the journal before its batch moves into SQL (ms; 50). */
  journalMoveMs?: number;
}

export class AuditLog {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private healthy = true;
  private retry: NodeJS.Timeout | undefined;
  private readonly journal: AuditJournal | undefined;
  /** Journal mode: events appended to the journal, not yet in SQL, in order; and the segments that hold them. */
  private unmoved: AuditEvent[] = [];
  private unmovedSegments: string[] = [];
  /** Journal mode: an append of the queued events is scheduled (process.nextTick). */
  private appendQueued = false;
  private moveTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private moving: Promise<boolean> | undefined;
  private settling: Promise<void> | undefined;
  /** Journal mode: the outage's AuditTrailRecovered event has been appended (it is moved with the backlog). */
  private recoveryQueued = false;
  /** Names this writer's claims on dead processes' segments (journal.ts). */
  private readonly claimer = randomBytes(4).toString('hex');

  constructor(
    private readonly repo: AuditRepo,
    private readonly opts: AuditLogOptions,
  ) {
    this.journal = opts.journalDir && opts.journalWrites !== false ? new AuditJournal(opts.journalDir) : undefined;
  }

  /** Whether calls are answered once their event is in the journal (not yet in SQL). */
  get journaled(): boolean {
    return this.journal !== undefined;
  }

  /** Journal mode: events answered whose batch has not reached SQL yet. */
  get unmovedCount(): number {
    return this.unmoved.length + this.queue.length;
  }

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

  /**
   * Resolves once the event is durable — appended to the journal, or without one committed to
   * SQL; rejects (fail-closed) when it could not be.
   */
  record(event: AuditEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ event: storableAuditEvent(event), resolve, reject });
      if (this.journal) {
        if (!this.appendQueued) {
          this.appendQueued = true;
          process.nextTick(() => this.appendTurn());
        }
      } else if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  /**
   * Journal mode: the events recorded so far, appended with one write. It runs in a tick, which
   * Node runs once the microtask queue is empty: the calls a callback released (the requests that
   * waited for one epoch check, say) have all run their handlers and recorded
   * their events by then, so they share the write, and in the same turn of the event loop (a
   * setImmediate here cost a lone call a second turn: docs/benchmarks.md#audit-journal).
   * They join the unmoved list only once written, so the segments finished at a move hold exactly
   * the events moved.
   */
  private appendTurn(): void {
    this.appendQueued = false;
    const batch = this.queue;
    this.queue = [];
    if (!batch.length) return;
    try {
      this.journal!.append(batch.map((p) => p.event));
    } catch (err) {
      this.failed(err);
      const e = new AuditUnavailableError('the audit trail could not be written');
      for (const p of batch) this.opts.failClosed ? p.reject(e) : p.resolve();
      return;
    }
    for (const p of batch) {
      this.unmoved.push(p.event);
      p.resolve();
    }
    if (this.unmoved.length >= JOURNAL_MOVE_EVENTS) void this.move();
    else if (!this.moveTimer && !this.moving && !this.retry) this.moveTimer = setTimeout(() => void this.move(), this.opts.journalMoveMs ?? 50);
  }

  /**
   * Journal mode: moves every unmoved event into SQL (chained there), then removes the segments
   * that held them. Resolves true when nothing is left unmoved. On failure the events stay (in
   * memory and in their segments) and are moved again by the recovery timer.
   */
  private move(rotate = false): Promise<boolean> {
    if (this.moveTimer) clearTimeout(this.moveTimer);
    this.moveTimer = undefined;
    if (!this.moving) {
      // finally() runs its callback in a later turn, after the assignment below.
      const moving = this.moveAll(rotate).finally(() => {
        if (this.moving === moving) this.moving = undefined;
      });
      this.moving = moving;
    }
    return this.moving;
  }

  private async moveAll(rotate: boolean): Promise<boolean> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    do {
      const events = this.unmoved;
      // A segment is removed once every event in it is in SQL. Ending one at every move cost a
      // file created and one removed each time (slow here: docs/benchmarks.md#audit-journal), so
      // a segment spans several moves; recovery skips the events already moved.
      const segments = [...this.unmovedSegments, ...this.journal!.take(rotate || this.journal!.age >= SEGMENT_MS)];
      this.unmoved = [];
      this.unmovedSegments = [];
      if (events.length) {
        try {
          await this.writeChained(events);
        } catch (err) {
          this.unmoved = events.concat(this.unmoved);
          this.unmovedSegments = segments;
          // A lock held past the busy wait (a backup, a long write elsewhere) is not a broken trail:
          // the events are durable in the journal; try again shortly. Fail-closed once the oldest
          // waiting event is MAX_LAG_MS old, and at once for any other failure.
          if (err instanceof StoreBusyError && Date.now() - this.unmoved[0]!.eventTimeMs < MAX_LAG_MS && this.healthy) {
            this.opts.onError?.(err);
            this.moveTimer ??= setTimeout(() => void this.move(), this.opts.journalMoveMs ?? 50);
            return false;
          }
          this.failed(err);
          return false;
        }
        this.recoveryQueued = false;
        this.recovered();
      }
      removeSegments(segments);
    } while (this.unmoved.length);
    // The open segment holds only moved events now: if no call adds to it for a while, end and
    // remove it, so that a reader waiting for this process's segments (settle) is not kept waiting.
    if (this.journal!.age > 0) {
      this.idleTimer = setTimeout(() => void this.move(true), SEGMENT_MS);
      this.idleTimer.unref();
    }
    return true;
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
      await this.writeChained(batch.map((p) => p.event));
      this.recovered();
      for (const p of batch) p.resolve();
    } catch (err) {
      this.failed(err);
      const e = new AuditUnavailableError('the audit trail could not be written');
      for (const p of batch) this.opts.failClosed ? p.reject(e) : p.resolve();
    }
  }

  /** One batch into SQL, chained on the head read inside its transaction. */
  private async writeChained(batch: readonly AuditEvent[]): Promise<void> {
    // The chain head is read inside the batch's transaction (not cached): other processes
    // sharing the database append to the same chain.
    await this.repo.appendChained((head) => {
      let prev = head ?? GENESIS_HASH;
      return batch.map((e) => {
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
  }

  private failed(err: unknown): void {
    this.healthy = false;
    this.opts.onError?.(err);
    this.scheduleRecovery();
  }

  private recovered(): void {
    this.healthy = true;
  }

  private recoveryEvent(): AuditEvent {
    return this.newEvent({
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
    });
  }

  /**
   * While unhealthy, try once a second to write a system event marking the gap; its success
   * makes the trail available again (requests are refused meanwhile, so nothing is lost). With
   * the journal, the event is appended once per outage and moved with the backlog.
   */
  private scheduleRecovery(): void {
    if (this.retry) return;
    const done = () => {
      if (this.retry) clearInterval(this.retry);
      this.retry = undefined;
    };
    this.retry = setInterval(() => {
      if (this.healthy && !this.unmoved.length) return done();
      if (this.flushing || this.moving) return;
      if (this.journal) {
        if (!this.recoveryQueued) {
          const event = storableAuditEvent(this.recoveryEvent());
          try {
            this.journal.append([event]);
          } catch (err) {
            this.opts.onError?.(err);
            return;
          }
          this.unmoved.push(event);
          this.recoveryQueued = true;
        }
        void this.move().then((ok) => ok && done());
        return;
      }
      this.record(this.recoveryEvent()).then(done, () => undefined);
    }, 1_000);
    this.retry.unref();
  }

  /**
   * Every event recorded so far by this process is in SQL (journal mode: moved now), and every
   * event other processes had acknowledged when this began: their journals' segments are waited
   * for (they move them within ~300 ms) and a dead process's are recovered here. Readers of the
   * trail call it first, so a call's event is visible to any read that begins after the call was
   * answered. Best effort: a trail that cannot be written is read as it is, and after
   * SETTLE_TIMEOUT_MS the read goes ahead. Without a journal directory: nothing to do.
   */
  settle(): Promise<void> {
    if (!this.opts.journalDir) return Promise.resolve();
    this.settling ??= this.settleOnce().finally(() => {
      this.settling = undefined;
    });
    return this.settling;
  }

  /** Journal mode: the events recorded so far, appended now rather than in their tick (which then finds none). */
  private appendNow(): void {
    if (this.appendQueued) this.appendTurn();
  }

  private async settleOnce(): Promise<void> {
    if (this.journal) {
      this.appendNow();
      await this.move();
    }
    const dir = this.opts.journalDir!;
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    const scan = scanJournal(dir, (f) => this.journal?.owns(f) ?? false, this.claimer);
    for (const file of scan.claimed) {
      // A segment that cannot be moved stays claimed by this process and is tried again at the next settle.
      await this.moveRecovered(file).catch((err) => this.opts.onError?.(err));
    }
    while (anyExists(scan.live) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  /** A dead process's segment, claimed: its events that are not in SQL yet, moved; then the file removed. */
  private async moveRecovered(file: string): Promise<void> {
    const events = readSegment(file);
    const present = await this.repo.existingEventIds(events);
    const missing = events.filter((e) => !present.has(e.eventId));
    if (missing.length) await this.writeChained(missing.map((e) => storableAuditEvent(e)));
    removeSegments([file]);
  }

  /** Wait for everything queued (shutdown); journal mode: moved into SQL, the journal closed. */
  async drain(): Promise<void> {
    if (this.retry) clearInterval(this.retry);
    this.retry = undefined;
    while (this.flushing) await this.flushing;
    if (this.journal) {
      this.appendNow();
      while (this.moving) await this.moving;
      await this.move(true);
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      if (this.moveTimer) clearTimeout(this.moveTimer);
      this.moveTimer = undefined;
      // A failed move above scheduled a retry: the process is going away.
      if (this.retry) clearInterval(this.retry);
      this.retry = undefined;
      // Whatever could not be moved stays in its segments: the next process to open the
      // database recovers them.
      this.journal.close();
    }
  }
}
