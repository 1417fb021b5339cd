// Audit events as the trail records them (types shared by store, audit, API and console).

export interface AuditEvent {
  eventId: string;
  eventTimeMs: number;
  eventName: string;
  requestId: string;
  accountUin: string;
  userUin: string;
  userName: string;
  secretId: string;
  sourceIp: string;
  region: string;
  resourceType: string;
  resourceName: string;
  result: 'Success' | 'Fail';
  errorCode: string;
  apiVersion: string;
}

export interface StoredAuditEvent extends AuditEvent {
  seq: number;
  prevHash: string;
  hash: string;
}

export interface AuditQuery {
  accountUin?: string;
  sinceMs?: number;
  untilMs?: number;
  eventName?: string;
  userName?: string;
  requestId?: string;
  eventId?: string;
  /** A key id among the event's resources. */
  resourceName?: string;
  resourceType?: string;
  /** Pagination cursor: events with a smaller seq (the query is newest first). */
  beforeSeq?: number;
  limit: number;
}

/** A signed head of the audit chain (audit/trail.ts). */
export interface Checkpoint {
  seq: number;
  headHash: string;
  signedAtMs: number;
  /** base64 signature over checkpointMessage(), by the audit signing key. */
  signature: string;
  /** How it was signed (crypto/service-keys.ts AuditKeyScheme): `ecdsa-p256` (DER) or `rsa-pss-sha256`. */
  scheme: string;
}

/** Reading the trail (CloudAudit's LookUpEvents); store/audit-repo.ts AuditRepo has it. */
export interface AuditEventReader {
  query(q: AuditQuery): Promise<StoredAuditEvent[]>;
}
