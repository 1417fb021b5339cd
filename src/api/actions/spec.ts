import type { TokenCapabilities } from '../../crypto/port.js';
import type { z } from 'zod';
import type { Config, Region } from '../../config.js';
import type { CallResources, CamRule } from '../../domain/access.js';
import type { AsymmetricService } from '../../domain/asymmetric-ops.js';
import type { CryptoService } from '../../domain/crypto-ops.js';
import type { DataKeyService } from '../../domain/data-keys.js';
import type { ImportService } from '../../domain/imports.js';
import type { KeyService } from '../../domain/keys.js';
import type { PqcService } from '../../domain/pqc-ops.js';
import type { WhiteBoxKeyService } from '../../domain/whitebox-keys.js';
import type { AuditEventReader } from '../../model/audit.js';
import type { CredentialIdentity } from '../../model/identity.js';
import type { TencentErrorCode } from '../error-codes.js';
import type { FieldSpec } from './shapes.js';

// One API action, described once: the router, CAM, the
// rate limiter, the read-only preset, the audit trail and the tests all read this value, and
// nothing else lists actions. Every field is required, so an action missing one fails to compile.

export interface CallContext {
  requestId: string;
  action: string;
  /** The request's region; undefined only for region-less actions (GetRegions). */
  region: Region | undefined;
  identity: CredentialIdentity;
  sourceIp: string;
  language: string | undefined;
}

/** What handlers call: the domain services, passed in by app.ts, so the registry itself is static. */
export interface ActionDeps {
  config: Pick<Config, 'regions' | 'cmkLimit' | 'dataKeyLimit'>;
  /** What the token offers (ListAlgorithms). */
  capabilities: () => TokenCapabilities;
  keys: KeyService;
  crypto: CryptoService;
  asymmetric: AsymmetricService;
  imports: ImportService;
  dataKeys: DataKeyService;
  pqc: PqcService;
  whiteBoxKeys: WhiteBoxKeyService;
  /** The audit trail, for CloudAudit's LookUpEvents and DescribeEvents. */
  auditEvents: AuditEventReader;
  /** What CloudAudit tells of each event name (the registry's audit metadata, index.ts). */
  events: EventCatalogue;
  /** The configured per-action request limits (KMS_RATE_LIMITS), for GetServiceStatus. */
  rateLimits: ReadonlyMap<string, number>;
}

/** What CloudAudit tells of an event by its name, read from the action registry. */
export interface EventCatalogue {
  describe(eventName: string): (AuditMeta & { readonly access: 'read' | 'write' }) | undefined;
  /** The read actions (CloudAudit's ActionType `Read`, ReadOnly `true`). */
  readonly readNames: readonly string[];
  /** The actions marked sensitive (SensitiveAction `true`). */
  readonly sensitiveNames: readonly string[];
}

export interface ActionSpec<S extends z.ZodObject = z.ZodObject> {
  /** The request: exactly the SDK's XxxRequest fields (unknown ones are stripped, docs/contract/protocol.md#processing-order). */
  readonly schema: S;
  /** The SDK's XxxResponse model, for tests holding answers against it. */
  readonly response: FieldSpec;
  readonly cam: CamRule;
  /** Tencent's documented default requests per second (the `tencent` KMS_RATE_LIMITS preset). */
  readonly qps: number;
  /**
   * 'read': granted by the read-only preset policy, and CloudAudit's ActionType `Read` (ReadOnly
   * `true`) for its events (docs/contract/audit.md#read-write).
   */
  readonly access: 'read' | 'write';
  /** Callable without a region, and answered whatever region the request names. */
  readonly regionless?: true;
  /**
   * The action's own error list, exactly as docs/contract/actions.md#error-lists gives it (the Go
   * SDK's). It answers these and the common codes of answer-codes.ts, nothing else: a refusal
   * whose natural code the list lacks is answered with the nearest one it has.
   */
  readonly errors: readonly TencentErrorCode[];
  readonly audit: AuditMeta;
  /**
   * The keys and data keys the call touches, for CAM and the audit record. Also run on the raw
   * parameters of a call refused before validation (audit only), so it checks types itself.
   */
  resources(params: z.output<S>): CallResources;
  /** What a successful call created, read from its answer: the audit record names it beside `resources` (docs/contract/audit.md#what-is-recorded). */
  created?(answer: Record<string, unknown>): CallResources;
  handler(deps: ActionDeps, params: z.output<S>, ctx: CallContext): Promise<Record<string, unknown>>;
}

/** Infers an entry's params type from its schema, for the handler and `resources`. */
export function action<S extends z.ZodObject>(spec: ActionSpec<S>): ActionSpec<S> {
  return spec;
}

/** A service the API endpoint routes to by Version: its name is the CAM service prefix. */
export interface ServiceDef {
  readonly name: string;
  readonly version: string;
  readonly actions: ReadonlyMap<string, ActionSpec>;
  readonly deps: ActionDeps;
}

// The two CAM granularities of docs/contract/actions.md#action-index, both with IP conditions.
export const RESOURCE: CamRule = { level: 'resource', ipCondition: true };
export const OPERATION: CamRule = { level: 'operation', ipCondition: true };

/** How an action's events read in CloudAudit (docs/contract/audit.md#event-fields). */
export interface AuditMeta {
  /** CloudAudit's ResourceType. */
  readonly resourceType: string;
  /** EventNameCn: the action's name in Chinese as Tencent's documentation and console title it (docs/contract/audit.md#event-name-cn). */
  readonly nameCn: string;
  /** CloudAudit's SensitiveAction (docs/contract/audit.md#sensitive-actions). */
  readonly sensitive?: true;
}

/** Audit metadata of a KMS action: CloudAudit's ResourceType `kms` (docs/contract/audit.md#what-is-recorded). */
export function kmsAudit(nameCn: string, opts: { sensitive?: true } = {}): AuditMeta {
  return { resourceType: 'kms', nameCn, ...opts };
}
