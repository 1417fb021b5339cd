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
  /** One of these names (an empty list matches nothing). */
  eventNames?: readonly string[];
  /** None of these names. */
  notEventNames?: readonly string[];
  userName?: string;
  userUin?: string;
  secretId?: string;
  sourceIp?: string;
  requestId?: string;
  eventId?: string;
  /** One of these error codes, '' for a success (an empty list matches nothing). */
  errorCodes?: readonly string[];
  /** None of these error codes. */
  notErrorCodes?: readonly string[];
  /** A key id among the event's resources. */
  resourceName?: string;
  /** One of these ids among the event's resources (an empty list matches nothing). */
  resourceNames?: readonly string[];
  /** true: events that name no resource (`*`); false: events that name one. */
  noResource?: boolean;
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
  /** How many events the query matches, without its cursor and limit. */
  count(q: Omit<AuditQuery, 'beforeSeq' | 'limit'>): Promise<number>;
}
