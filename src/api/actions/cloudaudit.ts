import { z } from 'zod';
import type { AuditQuery, StoredAuditEvent } from '../../model/audit.js';
import type { TagMatch } from '../../model/keys.js';
import type { TencentErrorCode } from '../error-codes.js';
import { coded } from '../validation.js';
import { intRange, UInt } from './fields.js';
import { NO_RESOURCES } from './resources.js';
import { list, opt, struct } from './shapes.js';
import { type ActionDeps, action, type CallContext, type EventCatalogue, kmsAudit, OPERATION } from './spec.js';

// CloudAudit (service cloudaudit, version 2019-03-19): LookUpEvents (docs/contract/audit.md#lookup-events)
// and its newer equivalent DescribeEvents (docs/contract/audit.md#describe-events), so the official
// SDK's cloudaudit client reads the audit trail: the caller's own account's events, newest first,
// filtered by time range and lookup attributes, paged with NextToken.

/**
 * Every AttributeKey the sources name (docs/contract/audit.md#attribute-keys): the international
 * SDKs', the CN SDK's and the older documentation's, accepted by both actions.
 */
const ATTRIBUTE_KEYS = [
  'RequestId',
  'EventName',
  'ReadOnly',
  'Username',
  'ResourceType',
  'ResourceName',
  'AccessKeyId',
  'EventId',
  'ActionType',
  'PrincipalId',
  'ResourceId',
  'SensitiveAction',
  'ApiErrorCode',
  'CamErrorCode',
  'SourceIPAddress',
  'Tags',
  'EventSource',
] as const;
type AttributeKey = (typeof ATTRIBUTE_KEYS)[number];

/** What every KMS event names as its source (docs/contract/audit.md#event-fields). */
const EVENT_SOURCE = 'kms.tencentcloudapi.com';

const BOOLEAN = /^(true|false|1|0)$/i;
const ACTION_TYPE = /^(read|write)$/i;
const CAM_NUMBER = /^\d{1,9}$/;

/** The Tags attribute's value: `[{"key":"*","value":"*"}]` (docs/contract/audit.md#attribute-keys), `*` matching any. */
function parseTags(value: string): TagMatch[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const out: TagMatch[] = [];
  for (const t of parsed) {
    if (typeof t !== 'object' || t === null || typeof t.key !== 'string' || (t.value !== undefined && typeof t.value !== 'string')) return undefined;
    out.push({ key: t.key === '*' ? undefined : t.key, value: t.value === undefined || t.value === '*' ? undefined : t.value });
  }
  return out;
}

/** A value the key cannot take; undefined when it is one. '' is "no condition" for every key. */
function badValue(key: AttributeKey, value: string): string | undefined {
  if (value === '') return undefined;
  switch (key) {
    case 'ReadOnly':
    case 'SensitiveAction':
      return BOOLEAN.test(value) ? undefined : 'must be true or false';
    case 'ActionType':
      return ACTION_TYPE.test(value) ? undefined : 'must be Read or Write';
    case 'CamErrorCode':
      return CAM_NUMBER.test(value) ? undefined : 'must be an error number';
    case 'Tags':
      return parseTags(value) ? undefined : 'must be a JSON list of {"key","value"} objects';
    default:
      return undefined;
  }
}

/** LookupAttribute: keys beyond the action's own list are refused with `keyCode`, values that key cannot take with InvalidParameter. */
function lookupAttributes(keyCode: TencentErrorCode) {
  return z
    .array(
      z.object({
        AttributeKey: coded(z.enum(ATTRIBUTE_KEYS, `must be one of ${ATTRIBUTE_KEYS.join(', ')}`), keyCode),
        AttributeValue: z.string().optional(),
      }),
    )
    .max(20, 'must hold at most 20 attributes')
    .superRefine((attributes, ctx) => {
      attributes.forEach((a, i) => {
        const bad = badValue(a.AttributeKey, a.AttributeValue ?? '');
        if (bad) ctx.addIssue({ code: 'custom', path: [i, 'AttributeValue'], message: bad, params: { code: 'InvalidParameter' satisfies TencentErrorCode } });
      });
    });
}

// LookUpEvents' list (docs/contract/audit.md#cloudaudit-error-codes) names a code for each of its
// checks: InvalidParameter.Time "start and end time must be given, as integer Unix seconds",
// InvalidParameterValue.Time "the start may not be after the end", InvalidParameterValue.MaxResult
// "at most 50", InvalidParameterValue.attributeKey "not one of the attribute keys".
// A schema of its own: `coded` marks the schema object, and UInt is shared.
const lookUpTime = () => coded(z.int().min(0, 'must not be negative'), { value: 'InvalidParameter.Time', type: 'InvalidParameter.Time', missing: 'InvalidParameter.Time' });
const lookUpSchema = z
  .object({
    StartTime: lookUpTime(),
    EndTime: lookUpTime(),
    LookupAttributes: lookupAttributes('InvalidParameterValue.attributeKey').optional(),
    // The previous page's NextToken (an event's sequence number).
    NextToken: z
      .string()
      .regex(/^\d{1,15}$/, 'must be the NextToken of a previous answer')
      .optional(),
    MaxResults: coded(intRange(1, 50), 'InvalidParameterValue.MaxResult').optional(),
    Mode: z.string().optional(),
  })
  .superRefine((request, ctx) => {
    if (request.EndTime < request.StartTime)
      ctx.addIssue({ code: 'custom', path: ['EndTime'], message: 'must not be before StartTime', params: { code: 'InvalidParameterValue.Time' satisfies TencentErrorCode } });
  });

// DescribeEvents' list has only InvalidParameter for a request it cannot serve; its NextToken is a number.
const describeSchema = z
  .object({
    StartTime: UInt,
    EndTime: UInt,
    NextToken: intRange(1, Number.MAX_SAFE_INTEGER).optional(),
    MaxResults: intRange(1, 50).optional(),
    LookupAttributes: lookupAttributes('InvalidParameter').optional(),
    IsReturnLocation: intRange(0, 1).optional(),
  })
  .superRefine((request, ctx) => {
    if (request.EndTime < request.StartTime) ctx.addIssue({ code: 'custom', path: ['EndTime'], message: 'must not be before StartTime' });
  });

type Attribute = { AttributeKey: AttributeKey; AttributeValue?: string };

/** The authentication and CAM failures, each with its number (docs/contract/audit.md#error-numbers). */
const AUTH_NUMBERS: Partial<Record<TencentErrorCode, number>> = {
  'AuthFailure.InvalidAuthorization': 4100,
  'AuthFailure.InvalidSecretId': 4100,
  'AuthFailure.SignatureFailure': 4100,
  'AuthFailure.SecretIdNotFound': 4104,
  'AuthFailure.TokenFailure': 4105,
  'AuthFailure.SignatureExpire': 4500,
};
/** CAM's denial: of the action itself (no resource, 4101) or of the resources it names (4103). */
const CAM_DENIAL: TencentErrorCode = 'AuthFailure.UnauthorizedOperation';
const ACTION_DENIED = 4101;
const RESOURCE_DENIED = 4103;

/** The event's ErrorCode: 0 unless authentication failed or CAM denied the call (docs/contract/audit.md#error-numbers). */
export function authErrorNumber(e: Pick<StoredAuditEvent, 'errorCode' | 'resourceName'>): number {
  if (e.errorCode === CAM_DENIAL) return e.resourceName === '*' ? ACTION_DENIED : RESOURCE_DENIED;
  return AUTH_NUMBERS[e.errorCode as TencentErrorCode] ?? 0;
}

/** The events an error number selects, as a query (the inverse of authErrorNumber). */
function byErrorNumber(n: number): Pick<AuditQuery, 'errorCodes' | 'notErrorCodes' | 'noResource'> {
  const auth = [...Object.keys(AUTH_NUMBERS), CAM_DENIAL];
  if (n === 0) return { notErrorCodes: auth };
  if (n === ACTION_DENIED || n === RESOURCE_DENIED) return { errorCodes: [CAM_DENIAL], noResource: n === ACTION_DENIED };
  return { errorCodes: Object.entries(AUTH_NUMBERS).flatMap(([code, number]) => (number === n ? [code] : [])) };
}

const intersect = (a: readonly string[] | undefined, b: readonly string[]): readonly string[] => (a ? a.filter((x) => b.includes(x)) : b);

/**
 * The query the attributes make (docs/contract/audit.md#attribute-keys): every condition must hold;
 * several EventName values are alternatives. undefined: no event can match.
 */
async function queryOf(
  attributes: readonly Attribute[],
  deps: Pick<ActionDeps, 'events' | 'keys' | 'dataKeys'>,
  accountUin: string,
): Promise<Omit<AuditQuery, 'limit'> | undefined> {
  const q: Omit<AuditQuery, 'limit'> = {};
  const equal = (field: 'userName' | 'userUin' | 'secretId' | 'sourceIp' | 'requestId' | 'eventId' | 'resourceType', value: string): boolean => {
    if (q[field] !== undefined && q[field] !== value) return false;
    q[field] = value;
    return true;
  };
  const names: string[] = [];
  const notNames: string[] = [];
  for (const { AttributeKey: key, AttributeValue: raw } of attributes) {
    const value = raw ?? '';
    if (value === '') continue;
    const yes = /^(true|1|read)$/i.test(value);
    switch (key) {
      case 'EventName':
        names.push(value);
        break;
      case 'ReadOnly':
      case 'ActionType':
        // Read: a read action; Write: any other event (docs/contract/audit.md#read-write).
        if (yes) q.eventNames = intersect(q.eventNames, deps.events.readNames);
        else notNames.push(...deps.events.readNames);
        break;
      case 'SensitiveAction':
        if (yes) q.eventNames = intersect(q.eventNames, deps.events.sensitiveNames);
        else notNames.push(...deps.events.sensitiveNames);
        break;
      case 'Username':
        if (!equal('userName', value)) return undefined;
        break;
      case 'PrincipalId':
        if (!equal('userUin', value)) return undefined;
        break;
      case 'AccessKeyId':
        if (!equal('secretId', value)) return undefined;
        break;
      case 'SourceIPAddress':
        if (!equal('sourceIp', value)) return undefined;
        break;
      case 'RequestId':
        if (!equal('requestId', value)) return undefined;
        break;
      case 'EventId':
        if (!equal('eventId', value)) return undefined;
        break;
      case 'ResourceType':
        if (!equal('resourceType', value)) return undefined;
        break;
      case 'ResourceName':
      case 'ResourceId': {
        // A key's ResourceId is `creatorUin/<uin>/<keyId>` (KeyMetadata.ResourceId): its last segment.
        const id = key === 'ResourceId' ? value.slice(value.lastIndexOf('/') + 1) : value;
        q.resourceNames = q.resourceNames ? q.resourceNames.filter((x) => x === id) : [id];
        break;
      }
      case 'ApiErrorCode':
        q.errorCodes = intersect(q.errorCodes, [value]);
        break;
      case 'CamErrorCode': {
        const c = byErrorNumber(Number(value));
        if (c.errorCodes) q.errorCodes = intersect(q.errorCodes, c.errorCodes);
        if (c.notErrorCodes) q.notErrorCodes = [...(q.notErrorCodes ?? []), ...c.notErrorCodes];
        if (c.noResource !== undefined) {
          if (q.noResource !== undefined && q.noResource !== c.noResource) return undefined;
          q.noResource = c.noResource;
        }
        break;
      }
      case 'Tags': {
        // The keys and data keys carrying the tags now (those deleted since are not found).
        const tags = parseTags(value) ?? [];
        const ids = [...(await deps.keys.idsTagged(accountUin, tags)), ...(await deps.dataKeys.idsTagged(accountUin, tags))];
        q.resourceNames = q.resourceNames ? q.resourceNames.filter((x) => ids.includes(x)) : ids;
        break;
      }
      case 'EventSource':
        if (value !== EVENT_SOURCE) return undefined;
        break;
    }
  }
  if (names.length) q.eventNames = intersect(q.eventNames, names);
  if (notNames.length) q.notEventNames = notNames;
  return q;
}

/** The CloudAudit Event structure (docs/contract/audit.md#event-fields), with the inner record of docs/contract/audit.md#inner-record as CloudAuditEvent. */
function toEvent(e: StoredAuditEvent, catalogue: EventCatalogue): Record<string, unknown> {
  const meta = catalogue.describe(e.eventName);
  const errorNumber = authErrorNumber(e);
  const inner = {
    eventVersion: 1,
    eventId: e.eventId,
    eventTime: Math.floor(e.eventTimeMs / 1000),
    eventName: e.eventName,
    eventSource: EVENT_SOURCE,
    eventRegion: e.region,
    eventType: 'ApiCall',
    apiVersion: e.apiVersion,
    actionType: meta?.access === 'read' ? 'Read' : 'Write',
    sensitiveAction: meta?.sensitive === true,
    requestID: e.requestId,
    sourceIPAddress: e.sourceIp,
    userIdentity: { type: e.userName === 'root' ? 'root' : 'sub-user', accountId: e.accountUin, principalId: e.userUin, secretId: e.secretId, userName: e.userName },
    resourceType: e.resourceType,
    resourceName: e.resourceName,
    resourceRegion: e.region,
    errorCode: errorNumber,
    camErrorCode: errorNumber,
    apiErrorCode: e.errorCode,
    hash: e.hash,
  };
  return {
    EventId: e.eventId,
    Username: e.userName,
    EventTime: String(Math.floor(e.eventTimeMs / 1000)),
    CloudAuditEvent: JSON.stringify(inner),
    ResourceTypeCn: '密钥管理服务',
    ErrorCode: errorNumber,
    EventName: e.eventName,
    SecretId: e.secretId,
    EventSource: EVENT_SOURCE,
    RequestID: e.requestId,
    ResourceRegion: e.region,
    AccountID: e.accountUin ? Number(e.accountUin) : 0,
    SourceIPAddress: e.sourceIp,
    // A name no action has (a call to an unknown action, the trail's own events) stays as it is.
    EventNameCn: meta?.nameCn ?? e.eventName,
    Resources: { ResourceType: e.resourceType, ResourceName: e.resourceName },
    EventRegion: e.region,
    Location: '',
  };
}

/** One page of the caller's events, newest first, and how many match in all. */
async function lookUp(
  deps: ActionDeps,
  ctx: CallContext,
  p: { StartTime: number; EndTime: number; LookupAttributes?: Attribute[]; MaxResults?: number },
  beforeSeq: number | undefined,
): Promise<{ events: Record<string, unknown>[]; more: boolean; last: number; total: number }> {
  const accountUin = ctx.identity.accountUin;
  const filter = await queryOf(p.LookupAttributes ?? [], deps, accountUin);
  if (!filter) return { events: [], more: false, last: 0, total: 0 };
  const q = { ...filter, accountUin, sinceMs: p.StartTime * 1000, untilMs: (p.EndTime + 1) * 1000 };
  const limit = p.MaxResults ?? 10;
  const [rows, total] = await Promise.all([deps.auditEvents.query({ ...q, beforeSeq, limit: limit + 1 }), deps.auditEvents.count(q)]);
  const page = rows.slice(0, limit);
  return { events: page.map((e) => toEvent(e, deps.events)), more: rows.length > limit, last: page[page.length - 1]?.seq ?? 0, total };
}

// docs/contract/audit.md#event-fields.
const Event = struct({
  EventId: opt('string'),
  Username: opt('string'),
  EventTime: opt('string'),
  CloudAuditEvent: opt('string'),
  ResourceTypeCn: opt('string'),
  ErrorCode: opt('int'),
  EventName: opt('string'),
  SecretId: opt('string'),
  EventSource: opt('string'),
  RequestID: opt('string'),
  ResourceRegion: opt('string'),
  AccountID: opt('int'),
  SourceIPAddress: opt('string'),
  EventNameCn: opt('string'),
  Resources: opt(struct({ ResourceType: opt('string'), ResourceName: opt('string') })),
  EventRegion: opt('string'),
  Location: opt('string'),
});

export const cloudAudit = {
  LookUpEvents: action({
    schema: lookUpSchema,
    response: { NextToken: opt('string'), Events: opt(list(Event)), ListOver: opt('boolean'), TotalCount: opt('uint'), RequestId: opt('string') },
    cam: OPERATION,
    qps: 20,
    errors: [
      'InternalError.SearchError',
      'InvalidParameter.Time',
      'InvalidParameterValue.MaxResult',
      'InvalidParameterValue.Time',
      'InvalidParameterValue.attributeKey',
      'LimitExceeded.OverTime',
    ],
    access: 'read',
    regionless: true,
    resources: () => NO_RESOURCES,
    // Recorded with the KMS calls it reads about.
    audit: kmsAudit('检索日志'),
    handler: async (deps, p, ctx) => {
      const r = await lookUp(deps, ctx, p, p.NextToken === undefined ? undefined : Number(p.NextToken));
      return { Events: r.events, ListOver: !r.more, NextToken: r.more ? String(r.last) : '', TotalCount: r.total };
    },
  }),
  DescribeEvents: action({
    schema: describeSchema,
    response: { ListOver: opt('boolean'), NextToken: opt('uint'), Events: opt(list(Event)), TotalCount: opt('uint'), RequestId: opt('string') },
    cam: OPERATION,
    qps: 20,
    errors: [
      'FailedOperation',
      'FailedOperation.MemberNotAuditRole',
      'FailedOperation.MemberNotInOrganization',
      'InternalError',
      'InvalidParameter',
      'LimitExceeded.OverAmount',
      'UnauthorizedOperation',
    ],
    access: 'read',
    regionless: true,
    resources: () => NO_RESOURCES,
    audit: kmsAudit('查询操作审计日志'),
    // The same events as LookUpEvents; IsReturnLocation has nothing to add (no IP geolocation on
    // premises: Location stays empty).
    handler: async (deps, p, ctx) => {
      const r = await lookUp(deps, ctx, p, p.NextToken);
      return { ListOver: !r.more, ...(r.more ? { NextToken: r.last } : {}), Events: r.events, TotalCount: r.total };
    },
  }),
};
