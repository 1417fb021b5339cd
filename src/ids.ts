import { randomUUID } from 'node:crypto';

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Used for
 * request and audit event ids: they are indexed in the audit table, and time-ordered keys land
 * at the end of the index B-trees instead of on random pages — measured, the audit insert cost
 * per event fell by about half (docs/benchmarks.md). The random part comes from randomUUID's
 * pooled entropy; the version and variant bits are set as the RFC says.
 */
export function timeOrderedUuid(now = Date.now()): string {
  const t = now.toString(16).padStart(12, '0');
  // randomUUID(): xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx (V: variant 10xx) → keep from after the '4'.
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${randomUUID().slice(15)}`;
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The Unix milliseconds a version 7 UUID carries (timeOrderedUuid's `now`); undefined for any
 * other string (a version 4 id of an older release, a typo). The audit trail uses it to find an
 * event by its id or its request's id through the time index (AuditRepo.query).
 */
export function uuidTimeMs(id: string): number | undefined {
  if (!UUID_V7.test(id)) return undefined;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
