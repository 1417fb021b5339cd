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
import type { FieldSpec } from './shapes.js';

// One API action, described once (STYLE.md "One description per concept"): the router, CAM, the
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
  /** The audit trail, for CloudAudit's LookUpEvents. */
  auditEvents: AuditEventReader;
}

export interface ActionSpec<S extends z.ZodObject = z.ZodObject> {
  /** The request: exactly the SDK's XxxRequest fields (unknown ones are stripped, docs/contract/protocol.md#processing-order). */
  readonly schema: S;
  /** The SDK's XxxResponse model, for tests holding answers against it. */
  readonly response: FieldSpec;
  readonly cam: CamRule;
  /** Tencent's documented default requests per second (the `tencent` KMS_RATE_LIMITS preset). */
  readonly qps: number;
  /** 'read': granted by the read-only preset policy. */
  readonly access: 'read' | 'write';
  /** Callable without a region. */
  readonly regionless?: true;
  readonly audit: { readonly resourceType: string };
  /**
   * The keys and data keys the call touches, for CAM and the audit record. Also run on the raw
   * parameters of a call refused before validation (audit only), so it checks types itself.
   */
  resources(params: z.output<S>): CallResources;
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

/** Audit metadata of every KMS action: CloudAudit's ResourceType `kms` (docs/contract/audit.md#what-is-recorded). */
export const KMS_AUDIT = { resourceType: 'kms' } as const;
