import { createPublicKey, type KeyObject } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { verifyAuditSignature, type AuditSigner } from '../crypto/service-keys.js';
import type { AuditEventReader, AuditQuery, Checkpoint, StoredAuditEvent } from '../model/audit.js';
import type { AuditCheckpointRepo, AuditRepo } from '../store/audit-repo.js';
import { eventHash, GENESIS_HASH } from './audit-log.js';

// Tamper evidence beyond the hash chain: the chain head is signed periodically (checkpoints) by a
// token-resident key (ECDSA P-256, or RSA-PSS on tokens without EC: crypto/service-keys.ts), so removing events at the end or rewriting the whole chain is
// caught too. Events past the retention period are exported (NDJSON "tracking set") and then
// removed; the last removed event's hash becomes the anchor the remaining chain starts from.
// Verification needs only the events, the checkpoints and the public key: it runs offline on an
// export with Node's crypto, not the token.

export function checkpointMessage(c: Pick<Checkpoint, 'seq' | 'headHash' | 'signedAtMs'>): Buffer {
  return Buffer.from(`hsmkms-audit-checkpoint:v1:${c.seq}:${c.headHash}:${c.signedAtMs}`, 'utf8');
}

export interface Anchor {
  seq: number;
  hash: string;
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  checkpoints: number;
  firstBad: { seq: number; eventId?: string; reason: string } | null;
}

/**
 * Checks links and hashes from the anchor, then every checkpoint: its signature, and that the
 * event it names exists with that hash. Names the first problem found.
 */
export function verifyTrail(read: StoredAuditEvent[], checkpoints: Checkpoint[], publicKey: KeyObject, anchor: Anchor = { seq: 0, hash: GENESIS_HASH }): VerifyResult {
  // Events at or before the anchor: retention removed them while the trail was being read
  // (AuditTrail.verify reads the anchor last). They must end at the anchor's event; the chain
  // is checked from there.
  let from = 0;
  while (from < read.length && read[from]!.seq <= anchor.seq) from++;
  const events = read.slice(from);
  const removed = read[from - 1];
  if (removed && (removed.seq !== anchor.seq || removed.hash !== anchor.hash)) {
    return {
      ok: false,
      events: events.length,
      checkpoints: checkpoints.length,
      firstBad: { seq: removed.seq, eventId: removed.eventId, reason: 'chain differs from the retention anchor' },
    };
  }
  let prev = anchor.hash;
  const bySeq = new Map<number, StoredAuditEvent>();
  for (const e of events) {
    if (e.prevHash !== prev)
      return {
        ok: false,
        events: events.length,
        checkpoints: checkpoints.length,
        firstBad: { seq: e.seq, eventId: e.eventId, reason: 'link to the previous event broken: an event before it was removed, inserted or reordered' },
      };
    if (eventHash(prev, e) !== e.hash)
      return { ok: false, events: events.length, checkpoints: checkpoints.length, firstBad: { seq: e.seq, eventId: e.eventId, reason: 'event altered' } };
    prev = e.hash;
    bySeq.set(e.seq, e);
  }
  const lastSeq = events.length ? events[events.length - 1]!.seq : anchor.seq;
  for (const c of checkpoints) {
    let valid = false;
    try {
      // The token signed SHA-256(message) (CKM_ECDSA or CKM_RSA_PKCS_PSS); Node hashes the message itself.
      valid = verifyAuditSignature(c.scheme, checkpointMessage(c), publicKey, Buffer.from(c.signature, 'base64'));
    } catch {
      valid = false;
    }
    if (!valid) return { ok: false, events: events.length, checkpoints: checkpoints.length, firstBad: { seq: c.seq, reason: 'checkpoint signature invalid' } };
    if (c.seq <= anchor.seq) continue;
    if (c.seq > lastSeq)
      return {
        ok: false,
        events: events.length,
        checkpoints: checkpoints.length,
        firstBad: { seq: lastSeq + 1, reason: `events after seq ${lastSeq} removed (a signed checkpoint covers seq ${c.seq})` },
      };
    const e = bySeq.get(c.seq);
    if (!e || e.hash !== c.headHash)
      return {
        ok: false,
        events: events.length,
        checkpoints: checkpoints.length,
        firstBad: { seq: c.seq, eventId: e?.eventId, reason: 'chain differs from the signed checkpoint' },
      };
  }
  return { ok: true, events: events.length, checkpoints: checkpoints.length, firstBad: null };
}

export class AuditTrail implements AuditEventReader {
  constructor(
    private readonly signer: AuditSigner,
    private readonly events: AuditRepo,
    private readonly checkpoints: AuditCheckpointRepo,
    /** Waits until the events already acknowledged are in SQL (AuditLog.settle): every read below calls it first. */
    private readonly settle: () => Promise<void> = async () => undefined,
  ) {}

  /** Events, newest first, once every event acknowledged before this call is in SQL (LookUpEvents, the console, `audit query`). */
  async query(q: AuditQuery): Promise<StoredAuditEvent[]> {
    await this.settle();
    return this.events.query(q);
  }

  /** How many events match, as query() sees them. */
  async count(q: Omit<AuditQuery, 'beforeSeq' | 'limit'>): Promise<number> {
    await this.settle();
    return this.events.count(q);
  }

  /** The signing key pair was made by `token init` or at start (ensureServiceKeys in app.ts). */
  async publicKey(): Promise<KeyObject> {
    return this.signer.publicKey();
  }

  /** Signs the chain head when events were added since the last checkpoint. */
  async checkpoint(nowMs = Date.now()): Promise<Checkpoint | undefined> {
    await this.settle();
    const head = await this.events.head();
    if (!head) return undefined;
    const last = await this.checkpoints.last();
    if (last && last.seq >= head.seq) return undefined;
    const c = { seq: head.seq, headHash: head.hash, signedAtMs: nowMs };
    const signature = (await this.signer.sign(checkpointMessage(c))).toString('base64');
    const cp = { ...c, signature, scheme: this.signer.scheme };
    await this.checkpoints.insert(cp);
    return cp;
  }

  async anchor(): Promise<Anchor> {
    return (await this.events.anchor()) ?? { seq: 0, hash: GENESIS_HASH };
  }

  /**
   * The trail is read while calls append to it, the lease holder signs checkpoints and retention
   * removes its oldest events: there is no read snapshot (on SQLite a read transaction here
   * would hold the writers' lock for the whole read). So the checkpoints are read first (the
   * events read after them reach at least as far: the chain only grows at its head) and the
   * anchor last (events retention removed in between are then at or before it; verifyTrail).
   */
  async verify(): Promise<VerifyResult> {
    await this.settle();
    const checkpoints = await this.checkpoints.all();
    const events = await this.events.all();
    const anchor = await this.anchor();
    return verifyTrail(events, checkpoints, await this.publicKey(), anchor);
  }

  /**
   * NDJSON: a header line with the anchor, the events in chain order, then the checkpoints that
   * sign one of them (read first, as in verify(); one signed after the last exported event would
   * make the export look cut short).
   */
  async exportLines(range: { sinceMs?: number; untilMs?: number } = {}): Promise<string[]> {
    await this.settle();
    const signed = await this.checkpoints.all();
    const events = await this.events.all(range);
    const anchor = events.length ? { seq: events[0]!.seq - 1, hash: events[0]!.prevHash } : await this.anchor();
    const first = events[0]?.seq ?? Infinity;
    const last = events[events.length - 1]?.seq ?? -Infinity;
    const checkpoints = signed.filter((c) => c.seq >= first && c.seq <= last);
    return [
      JSON.stringify({ type: 'header', format: 'hsmkms-audit-export', version: 1, anchor }),
      ...events.map((e) => JSON.stringify({ type: 'event', ...e })),
      ...checkpoints.map((c) => JSON.stringify({ type: 'checkpoint', ...c })),
    ];
  }

  /**
   * Retention: the chain's oldest events, up to the first one not older than `retentionDays`
   * (AuditRepo.expiredPrefix), are appended to a daily NDJSON file in `exportDir` (when set),
   * then removed; the anchor moves to the last removed event.
   */
  async purge(retentionDays: number, exportDir: string | undefined, nowMs = Date.now()): Promise<number> {
    await this.settle();
    const old = await this.events.expiredPrefix(nowMs - retentionDays * 86_400_000);
    if (old.length === 0) return 0;
    if (exportDir) {
      mkdirSync(exportDir, { recursive: true, mode: 0o700 });
      for (const e of old) {
        const file = path.join(exportDir, `audit-${new Date(e.eventTimeMs).toISOString().slice(0, 10)}.ndjson`);
        appendFileSync(file, `${JSON.stringify({ type: 'event', ...e })}\n`, { mode: 0o600 });
      }
    }
    await this.events.removePrefix(old[old.length - 1]!);
    return old.length;
  }
}

/** Offline: parse an export and verify it with a PEM public key. */
export function verifyExport(ndjson: string, publicKeyPem: string): VerifyResult {
  const events: StoredAuditEvent[] = [];
  const checkpoints: Checkpoint[] = [];
  let anchor: Anchor = { seq: 0, hash: GENESIS_HASH };
  for (const line of ndjson.split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line) as { type: string } & Record<string, unknown>;
    if (o.type === 'header') anchor = o.anchor as Anchor;
    else if (o.type === 'event') events.push(o as unknown as StoredAuditEvent);
    // Exports made before checkpoints recorded their scheme were all ECDSA P-256.
    else if (o.type === 'checkpoint') {
      const c = o as unknown as Omit<Checkpoint, 'scheme'> & { scheme?: string };
      checkpoints.push({ ...c, scheme: c.scheme ?? 'ecdsa-p256' });
    }
  }
  return verifyTrail(events, checkpoints, createPublicKey(publicKeyPem), anchor);
}
