import { setTimeout as sleep } from 'node:timers/promises';
import type { KeyMaterialService } from '../crypto/key-material.js';
import type { ObjectName, TokenObjectInfo } from '../crypto/port.js';
import type { KeyRepo } from '../store/key-repo.js';
import { CMK_ID } from './key-ids.js';
import type { KeyService } from './keys.js';
import type { AlarmService } from './alarms.js';
import type { ImportService } from './imports.js';
import type { DataKeyRepo } from '../store/data-key-repo.js';

// Background lifecycle jobs: deletion at DeletionDate, automatic rotation at
// NextRotateTime, expiry of imported material at ValidTo, and reconciliation of token and
// database. Each is idempotent and crash-safe: token objects are destroyed before rows are
// removed, so a crash in between leaves a PendingDelete row whose next run finishes the job.

export interface JobReport {
  at: string;
  deleted: string[];
  /** Hosted data keys destroyed: their own DeletionDate passed, or their CMK was destroyed. */
  dataKeysDeleted: string[];
  rotated: string[];
  expired: string[];
  /** BYOK: wrapping pairs of used/expired/abandoned import parameters and left-over material destroyed. */
  importsCleaned: string[];
  reconciled: ReconcileReport;
  errors: Array<{ job: string; keyId: string; error: string }>;
}

export interface ReconcileReport {
  /**
   * Token objects of creates this database began and that never finished (no key version row, a
   * creation intent past the creation timeout): destroyed (or, in a dry run, found).
   */
  orphanObjectsDestroyed: string[];
  /** Rows whose token material is missing (cannot be repaired: reported). */
  rowsWithoutObjects: string[];
  /**
   * Token objects named like CMK versions that this database has no row and no creation intent
   * for: another deployment's keys on a shared token, keys created after the backup this database
   * was restored from, or a database that is not this token's (a wrong KMS_DATABASE_URL or data
   * dir). Kept and reported: key material is never destroyed on the word of a database that does
   * not know it (docs/hsm.md#unknown-objects).
   */
  unknownObjects: string[];
}

/** A create still unfinished after this is a crashed one (key generation takes seconds at most). */
export const CREATION_TIMEOUT_MS = 10 * 60_000;

export class LifecycleJobs {
  constructor(
    private readonly repo: KeyRepo,
    private readonly keys: KeyService,
    private readonly material: KeyMaterialService,
    private readonly opts: { orphanGraceMs: number; alarms?: AlarmService; imports?: ImportService; dataKeys?: DataKeyRepo; creationTimeoutMs?: number } = { orphanGraceMs: 2_000 },
  ) {}

  async run(atMs = Date.now()): Promise<JobReport> {
    const at = Math.floor(atMs / 1000);
    const report: JobReport = {
      at: new Date(atMs).toISOString(),
      deleted: [],
      dataKeysDeleted: [],
      rotated: [],
      expired: [],
      importsCleaned: [],
      reconciled: { orphanObjectsDestroyed: [], rowsWithoutObjects: [], unknownObjects: [] },
      errors: [],
    };
    const attempt = async (job: string, keyId: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        report.errors.push({ job, keyId, error: err instanceof Error ? err.message : String(err) });
      }
    };

    // The KMS guide's deletion alarms: one for each of a key's last three days.
    if (this.opts.alarms) {
      const alarms = this.opts.alarms;
      await attempt('alarm', '*', async () => {
        await alarms.deletionImminent(await this.repo.dueForDeletion(at + 3 * 86_400), atMs);
      });
    }

    // Hosted data keys at their DeletionDate: the row is the only copy (a ciphertext), so
    // deleting it destroys the data key.
    const dataKeys = this.opts.dataKeys;
    if (dataKeys) {
      for (const d of await dataKeys.dueForDeletion(at)) {
        await attempt('delete-data-key', d.dataKeyId, async () => {
          if (await dataKeys.delete(d.dataKeyId)) report.dataKeysDeleted.push(d.dataKeyId);
        });
      }
    }

    for (const key of await this.repo.dueForDeletion(at)) {
      await attempt('delete', key.keyId, async () => {
        // A CMK's hosted data keys cannot be opened without it: they go first (docs/data-keys.md).
        const wrapped = dataKeys ? await dataKeys.idsUnderKey(key.keyId) : [];
        for (const v of await this.repo.versions(key.keyId)) await this.material.destroy(key.keyId, v.version, key.tokenResident);
        for (const id of wrapped) await dataKeys!.delete(id);
        await this.repo.delete(key.keyId);
        report.dataKeysDeleted.push(...wrapped);
        report.deleted.push(key.keyId);
      });
    }

    for (const key of await this.repo.dueForRotation(at)) {
      await attempt('rotate', key.keyId, async () => {
        await this.keys.addVersion(key, at);
        report.rotated.push(key.keyId);
      });
    }

    for (const key of await this.repo.dueForExpiry(at)) {
      await attempt('expire', key.keyId, async () => {
        for (const v of await this.repo.versions(key.keyId)) await this.material.destroy(key.keyId, v.version, key.tokenResident);
        await this.repo.transaction(async (trx) => {
          await this.repo.clearSealedMaterial(key.keyId, trx);
          await this.repo.update(key.keyId, key.state, { hasMaterial: false, ...(key.state === 'PendingDelete' ? {} : { state: 'PendingImport' }) }, trx);
        });
        report.expired.push(key.keyId);
      });
    }

    // One listing of the token serves both passes (a linear scan: seconds at 100,000 objects).
    const objects = await this.material.listTokenObjects();
    if (this.opts.imports) {
      const imports = this.opts.imports;
      await attempt('imports', '*', async () => {
        report.importsCleaned = await imports.cleanup(at, objects);
      });
    }

    report.reconciled = await this.reconcile({ objects });
    return report;
  }

  /**
   * Token objects named like CMK versions that have no row, and whose creation this database
   * recorded as an intent past the creation timeout, are leftovers of a create that crashed
   * before its metadata committed: destroyed, after a grace period and a second look. Objects with
   * neither a row nor an intent are reported as unknown and kept (ReconcileReport.unknownObjects).
   */
  async reconcile(opts: { dryRun?: boolean; objects?: TokenObjectInfo[] } = {}): Promise<ReconcileReport> {
    const objects = (opts.objects ?? (await this.material.listTokenObjects())).filter((o) => CMK_ID.test(o.name.keyId));
    const pairs = [...new Map(objects.map((o) => [`${o.name.keyId}/${o.name.version}`, o.name])).values()];
    // Creation intents are read before the rows: a create (on any node) records its intent
    // before it makes the object and removes it in the transaction that inserts the row, so
    // an object listed above has, at this point, a fresh intent or (read next) its row.
    const nowMs = Date.now();
    const creationTimeoutMs = this.opts.creationTimeoutMs ?? CREATION_TIMEOUT_MS;
    const intents = await this.repo.intents();
    const beingCreated = new Set([...intents].filter(([, at]) => nowMs - at < creationTimeoutMs).map(([k]) => k));
    let present = await this.repo.existingVersions(pairs);
    const withoutRow = pairs.filter((p) => !present.has(`${p.keyId}/${p.version}`) && !beingCreated.has(`${p.keyId}/${p.version}`));
    // Only what this database began to create is its to destroy.
    const unknown = withoutRow.filter((p) => !intents.has(`${p.keyId}/${p.version}`));
    let orphans = withoutRow.filter((p) => intents.has(`${p.keyId}/${p.version}`));
    if (orphans.length && this.opts.orphanGraceMs > 0 && !opts.dryRun) {
      await sleep(this.opts.orphanGraceMs);
      present = await this.repo.existingVersions(orphans);
      orphans = orphans.filter((p) => !present.has(`${p.keyId}/${p.version}`));
    }
    if (!opts.dryRun) {
      for (const o of orphans) await this.material.destroyTokenObject(o);
      // Intents of creates that never finished (their process died): the object, if any, is gone now.
      for (const [k, at] of intents) {
        if (nowMs - at < creationTimeoutMs) continue;
        const [keyId, version] = k.split('/');
        await this.repo.clearIntent(keyId!, Number(version));
      }
    }

    // Rotations that reserved a version and never completed it (a crash between the steps of
    // KeyService.addVersion): the same grace and second look, then the reservation goes.
    let stale = await this.repo.versionsAboveCurrent();
    if (stale.length && !opts.dryRun) {
      if (this.opts.orphanGraceMs > 0) {
        await sleep(this.opts.orphanGraceMs);
        const still = new Set((await this.repo.versionsAboveCurrent()).map((v) => `${v.keyId}/${v.version}`));
        stale = stale.filter((v) => still.has(`${v.keyId}/${v.version}`));
      }
      for (const v of stale) {
        await this.material.destroy(v.keyId, v.version, v.tokenResident);
        await this.repo.deleteVersion(v.keyId, v.version);
      }
    }

    const inToken = new Set(pairs.map((p) => `${p.keyId}/${p.version}`));
    const notListed: ObjectName[] = [];
    for (const k of await this.repo.allKeyIds()) {
      if (!k.tokenResident || !k.hasMaterial) continue;
      for (const v of k.versions) if (!inToken.has(`${k.keyId}/${v}`)) notListed.push({ keyId: k.keyId, version: v });
    }
    // The rows are read after the listing (and the grace sleeps): a key created since then has
    // a row and an object the listing could not show. A second look at each such object (a find
    // by name; few, normally none) keeps those out of the report, which would otherwise flag every key
    // created during a run as missing. At most 50: a find scans the whole token (seconds at
    // 100,000 objects), and beyond that the report is an operator's starting point anyway.
    const missing: string[] = [];
    for (const [i, n] of notListed.entries()) {
      if (i < 50 && (await this.material.tokenObjectExists(n).catch(() => false))) continue;
      missing.push(`${n.keyId}/v${n.version}`);
    }
    const staleNames = new Set(stale.map((v) => `${v.keyId}/v${v.version}`));
    return {
      orphanObjectsDestroyed: [...orphans.map((o) => `${o.keyId}/v${o.version}`), ...staleNames],
      rowsWithoutObjects: missing.filter((m) => !staleNames.has(m)),
      unknownObjects: unknown.map((o) => `${o.keyId}/v${o.version}`),
    };
  }
}
