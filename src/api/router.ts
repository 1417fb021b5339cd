import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Region } from '../config.js';
import type { CallResources, CamRule } from '../domain/access.js';
import type { IdentityService } from '../domain/identity.js';
import { requestLogger, type Logger } from '../log.js';
import type { AuthenticatedCall, CredentialIdentity } from '../model/identity.js';
import { refuseOtherAccounts } from './actions/member-account.js';
import { unvalidatedCallResources } from './actions/resources.js';
import { answerCode } from './answer-codes.js';
import type { TencentErrorCode } from './error-codes.js';
import type { ActionSpec, ServiceDef } from './actions/spec.js';
import { errorEnvelope, successEnvelope } from './envelope.js';
import {
  AuditDownError,
  InvalidActionError,
  mapError,
  MissingParameterError,
  NoSuchVersionError,
  RequestLimitExceededError,
  RequestSizeLimitExceededError,
  TokenFailureError,
  UnsupportedProtocolError,
  UnsupportedRegionError,
} from './errors.js';
import type { RateLimiter } from './rate-limit.js';
import { validateParams } from './validation.js';
import type { V1NonceStore } from '../model/replay.js';
import { assertFirstUse, parseApiRequest, verifyRequest } from './wire/index.js';
import { NonceCache } from './wire/replay.js';
import type { ApiRequest } from './wire/request.js';
import { timeOrderedUuid } from '../ids.js';
import { sourceIpOf } from '../net.js';

// POST / and GET /: Tencent Cloud API 3.0. Requests are routed by Version and Action, never
// by the credential scope or Host (README "Endpoints"). API errors answer HTTP 200
// with the error envelope, as Tencent does (docs/contract/protocol.md#envelope).

export interface ApiDeps {
  logger: Logger;
  regions: Region[];
  identities: IdentityService;
  rateLimiter: RateLimiter;
  services: ServiceDef[];
  bodyLimitBytes: number;
  /** CAM: throws when the caller's policies do not allow the call (root always passes). */
  authorize?: (request: AuthorizeRequest) => Promise<void>;
  /**
   * The audit trail: every call is recorded, success, failure or denial, before it is answered.
   * `available` false (fail-closed after a failed write) refuses calls up front; a rejected
   * `record` turns the answer into an error, so nothing is acknowledged unaudited.
   */
  audit?: { readonly available: boolean; record(call: CallRecord): Promise<void> };
  /** Resolves once the caches reflect every change committed before the call (domain/cache.ts EpochWatch). */
  fresh?: () => Promise<void>;
  /** Signature-v1 requests already received: shared by every worker and node (the database's); one process's own when absent. */
  replay?: V1NonceStore;
  /** Headers a TC3 request must sign besides content-type and host (KMS_TC3_STRICT_SIGNED_HEADERS). */
  tc3SignedHeaders?: readonly string[];
}

export interface AuthorizeRequest {
  identity: CredentialIdentity;
  service: string;
  region: string | undefined;
  action: string;
  cam: CamRule;
  /** The same value the audit record names. */
  resources: CallResources;
  sourceIp: string;
  /** The validated request's Tags, when its action has them. */
  tags: readonly { TagKey: string; TagValue: string }[] | undefined;
}

export interface CallRecord {
  requestId: string;
  action: string | undefined;
  version: string | undefined;
  region: string | undefined;
  identity: CredentialIdentity | undefined;
  secretId: string | undefined;
  sourceIp: string;
  /** What the call touches: the action's `resources` of the validated parameters (what CAM evaluated), else of the raw ones. */
  resources: CallResources;
  /** CloudAudit's ResourceType (the action's audit metadata). */
  resourceType: string;
  /** undefined on success */
  code: string | undefined;
}

/** The call the pipeline runs, whatever carried it (a signed HTTP request, a console session). */
interface CallInput {
  version: string;
  action: string;
  region: string | undefined;
  params: Record<string, unknown>;
  form: 'json' | 'flat';
  language: string | undefined;
  secretId: string | undefined;
}

export interface ApiEndpoint {
  /** `POST /` and `GET /` on plain node:http objects (the fast path: no Express, no body-parser). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /**
   * Runs a call through the same pipeline as a signed request — version, action and region
   * checks, rate limit, validation, CAM, handler, audit and error envelope — with the signature
   * step replaced by the given identity. Resolves with the Tencent envelope.
   */
  dispatch(call: AuthenticatedCall): Promise<object>;
}

class BodyTooLargeError extends Error {}

/** The call's resources, then what it created, without repeats. */
function including(r: CallResources, created: CallResources): CallResources {
  if (created.keys.length === 0 && created.dataKeys.length === 0) return r;
  return {
    keys: [...r.keys, ...created.keys.filter((k) => !r.keys.some((x) => x.keyId === k.keyId))],
    dataKeys: [...r.dataKeys, ...created.dataKeys.filter((d) => !r.dataKeys.includes(d))],
  };
}

/**
 * The request body, read once with a limit (the JSON is parsed once, by parseApiRequest).
 * Content-Length above the limit is refused before reading.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      req.resume();
      reject(new BodyTooLargeError());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/**
 * A request's own name for something (its action, version, region), as the log and an error
 * message repeat it: unchecked text of any length before the call is known, so cut short.
 */
function shown<T extends string | undefined>(text: T): T {
  return (text !== undefined && text.length > 64 ? `${text.slice(0, 64)}…` : text) as T;
}

function sendJson(res: ServerResponse, answer: object): void {
  const body = JSON.stringify(answer);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The API pipeline: read, authenticate, authorise, dispatch, audit, answer. */
export function apiEndpoint(deps: ApiDeps): ApiEndpoint {
  const byVersion = new Map(deps.services.map((s) => [s.version, s]));
  // Any service's action by name, for the audit record of a call refused before its service was known.
  const byName = new Map<string, ActionSpec>();
  for (const service of deps.services) for (const [name, spec] of service.actions) if (!byName.has(name)) byName.set(name, spec);
  const regions = new Map(deps.regions.map((r) => [r.name, r]));
  const nonces = deps.replay ?? new NonceCache();
  const parseOptions = { requiredSignedHeaders: deps.tc3SignedHeaders };
  const callLog = requestLogger(deps.logger);

  /**
   * `authenticate` resolves the caller's identity; it calls `claim` with the identity the request's
   * SecretId names before checking the signature, so that a request whose signature then fails is
   * recorded in that key's account (docs/contract/audit.md#error-numbers: its owner sees it).
   */
  const run = async (
    sourceIp: string,
    readCall: () => CallInput,
    authenticate: (claim: (identity: CredentialIdentity) => void) => Promise<CredentialIdentity>,
  ): Promise<object> => {
    const started = performance.now();
    const requestId = timeOrderedUuid();
    // Begun now, awaited before the first cached read (authentication): overlaps parsing.
    const fresh = deps.fresh?.();
    fresh?.catch(() => undefined);
    let call: CallInput | undefined;
    let identity: CredentialIdentity | undefined;
    let spec: ActionSpec | undefined;
    let resources: CallResources | undefined;
    let answer: object;
    let code: TencentErrorCode | undefined;
    try {
      if (deps.audit && !deps.audit.available) throw new AuditDownError('The audit trail is unavailable; requests are refused until it recovers.');
      call = readCall();
      const request = call;
      // docs/contract/protocol.md#processing-order order: version, action and region before authentication.
      const service = byVersion.get(request.version);
      if (!service) throw new NoSuchVersionError(`The API version \`${shown(request.version)}\` does not exist.`);
      spec = service.actions.get(request.action);
      if (!spec) throw new InvalidActionError(`The action \`${shown(request.action)}\` does not exist in ${service.name} ${service.version}.`);
      let region: Region | undefined;
      if (request.region !== undefined) {
        region = regions.get(request.region);
        // A region-less action (GetRegions, CloudAudit's) answers whatever region the client is
        // configured with: it is how a client finds the regions served here.
        if (!region && !spec.regionless) throw new UnsupportedRegionError(`The region \`${shown(request.region)}\` is not configured here; GetRegions lists the regions.`);
      } else if (!spec.regionless) {
        throw new MissingParameterError('Region');
      }
      await fresh;
      identity = await authenticate((claimed) => {
        identity = claimed;
      });
      if (!deps.rateLimiter.take(identity.accountUin, region?.name ?? '', request.action)) {
        throw new RequestLimitExceededError(`Too many ${request.action} requests for this account in ${region?.name ?? 'this region'}; retry later.`);
      }
      const params: Record<string, unknown> = validateParams(spec.schema, request.params, request.form);
      // Read once: CAM evaluates these and the audit record names them.
      resources = spec.resources(params);
      await deps.authorize?.({
        identity,
        service: service.name,
        region: region?.name,
        action: request.action,
        cam: spec.cam,
        resources,
        sourceIp,
        tags: params.Tags as AuthorizeRequest['tags'],
      });
      refuseOtherAccounts(params, identity);
      const fields = await spec.handler(service.deps, params, { requestId, action: request.action, region, identity, sourceIp, language: request.language });
      // A key's history starts at its creation: the record names what the call created.
      if (spec.created) resources = including(resources, spec.created(fields));
      answer = successEnvelope(fields, requestId);
    } catch (err) {
      const mapped = mapError(err);
      // Only codes the action's own list names, or common ones (answer-codes.ts).
      code = spec ? answerCode(spec.errors, mapped.code) : mapped.code;
      if (mapped.internal) deps.logger.error({ err, requestId, action: shown(call?.action) }, 'internal error');
      answer = errorEnvelope(code, mapped.message, requestId);
    }
    // Recorded before it is answered: an acknowledged call is a durable event. A call refused
    // because the trail is down is not recorded (it cannot be); it changed nothing.
    const auditDown = deps.audit !== undefined && !deps.audit.available;
    if (!auditDown || code === undefined) {
      try {
        const named = spec ?? (call ? byName.get(call.action) : undefined);
        await deps.audit?.record({
          requestId,
          action: call?.action,
          version: call?.version,
          region: call?.region,
          identity,
          secretId: call?.secretId,
          sourceIp,
          resources: resources ?? unvalidatedCallResources(named, call?.params ?? {}),
          // A call naming no action of ours is recorded as a KMS call: this endpoint is the KMS's.
          resourceType: named?.audit.resourceType ?? 'kms',
          code,
        });
      } catch (err) {
        const mapped = mapError(new AuditDownError('The call could not be audited; its result is withheld.'));
        deps.logger.error({ err, requestId, action: shown(call?.action) }, 'audit write failed');
        code = mapped.code;
        answer = errorEnvelope(mapped.code, mapped.message, requestId);
      }
    }
    const latencyMs = performance.now() - started;
    callLog.info(
      {
        requestId,
        action: shown(call?.action),
        region: shown(call?.region),
        uin: identity?.accountUin,
        subUin: identity && !identity.isRoot ? identity.userUin : undefined,
        latencyMs: Math.round(latencyMs * 1000) / 1000,
        code,
      },
      'api call',
    );
    return answer;
  };

  const signed = async (req: IncomingMessage, res: ServerResponse, rawBody: Buffer) => {
    const traceId = req.headers['x-tc-traceid'];
    if (typeof traceId === 'string') res.setHeader('X-TC-TraceId', traceId);
    let parsed: ApiRequest | undefined;
    const answer = await run(
      sourceIpOf(req),
      () => {
        parsed = parseApiRequest({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, rawBody }, parseOptions);
        const form = parsed.signatureVersion === 'TC3' && req.method === 'POST' ? 'json' : 'flat';
        return { version: parsed.version, action: parsed.action, region: parsed.region, params: parsed.params, form, language: parsed.language, secretId: parsed.secretId };
      },
      async (claim) => {
        const request = parsed!;
        if (request.token !== undefined) throw new TokenFailureError('Temporary credentials (X-TC-Token) are not supported by this server.');
        const auth = await deps.identities.authenticate(request.secretId);
        claim(auth.identity);
        const now = Date.now();
        try {
          verifyRequest(request, auth.secretKey, now, auth.derived);
        } finally {
          auth.secretKey.fill(0);
        }
        await assertFirstUse(request, nonces, now);
        return auth.identity;
      },
    );
    sendJson(res, answer);
  };

  return {
    handle: (req, res) => {
      readBody(req, deps.bodyLimitBytes).then(
        (rawBody) =>
          signed(req, res, rawBody).catch((err) => {
            deps.logger.error({ err }, 'internal error');
            if (!res.headersSent) sendJson(res, errorEnvelope(mapError(err).code, 'Internal error.', randomUUID()));
          }),
        (err: unknown) => {
          const reason =
            err instanceof BodyTooLargeError
              ? new RequestSizeLimitExceededError(`The request body is larger than ${deps.bodyLimitBytes} bytes.`)
              : new UnsupportedProtocolError('The request body could not be read.');
          const mapped = mapError(reason);
          sendJson(res, errorEnvelope(mapped.code, mapped.message, randomUUID()));
        },
      );
    },
    dispatch: (c) =>
      run(
        c.sourceIp,
        () => ({ version: c.version, action: c.action, region: c.region, params: c.params, form: 'json', language: c.language, secretId: c.identity.secretId || undefined }),
        async () => c.identity,
      ),
  };
}
