import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { LeaseRepo } from '../store/lease-repo.js';

// Background tasks run in one process at a time across every process sharing the database
// (worker processes of one node, several nodes): each task is a named lease that its holder
// renews at every tick; a holder that stops renewing (crash, SIGKILL) loses it after the TTL
// and the next process to tick takes it over.

export type BackgroundTask = 'lifecycle-jobs' | 'audit-maintenance';

export class BackgroundLeases {
  readonly holder: string;
  private readonly held = new Set<BackgroundTask>();

  constructor(
    private readonly repo: LeaseRepo,
    holder = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`,
  ) {
    this.holder = holder;
  }

  /** Take or renew the task's lease; true when this process should run the task now. */
  async holds(task: BackgroundTask, ttlMs: number): Promise<boolean> {
    const ok = await this.repo.acquire(task, this.holder, ttlMs);
    if (ok) this.held.add(task);
    else this.held.delete(task);
    return ok;
  }

  /** On clean shutdown: hand the tasks over at once instead of after the TTL. */
  async releaseAll(): Promise<void> {
    for (const task of this.held) await this.repo.release(task, this.holder);
    this.held.clear();
  }

  async holderOf(task: BackgroundTask): Promise<string | undefined> {
    return this.repo.holderOf(task);
  }
}
