import { z } from 'zod';
import type { StoredAuditEvent } from '../../model/audit.js';
import { intRange, oneOf, UInt } from './fields.js';
import { NO_RESOURCES } from './resources.js';
import { list, opt, struct } from './shapes.js';
import { action, KMS_AUDIT, OPERATION } from './spec.js';

// CloudAudit's LookUpEvents (service cloudaudit, version 2019-03-19, docs/contract/audit.md#lookup-events), so the
// official SDK's cloudaudit client reads the audit trail: the caller's own account's events,
// newest first, filtered by time range and lookup attributes, paged with NextToken.

// docs/contract/audit.md#attribute-keys lists other keys for other SDKs; these are the ones the trail can be searched by.
const ATTRIBUTE_KEYS = ['EventName', 'Username', 'ResourceType', 'ResourceName', 'EventId', 'RequestId'] as const;

const schema = z
  .object({
    StartTime: UInt,
    EndTime: UInt,
    LookupAttributes: z
      .array(z.object({ AttributeKey: oneOf(ATTRIBUTE_KEYS), AttributeValue: z.string().optional() }))
      .max(20, 'must hold at most 20 attributes')
      .optional(),
    // The previous page's NextToken (an event's sequence number).
    NextToken: z
      .string()
      .regex(/^\d{1,15}$/, 'must be the NextToken of a previous answer')
      .optional(),
    MaxResults: intRange(1, 50).optional(),
    Mode: z.string().optional(),
  })
  .superRefine((request, ctx) => {
    if (request.EndTime < request.StartTime) ctx.addIssue({ code: 'custom', path: ['EndTime'], message: 'must not be before StartTime' });
  });

/** The CloudAudit Event structure (docs/contract/audit.md#what-is-recorded), with the inner record of docs/contract/audit.md#inner-record as CloudAuditEvent. */
function toEvent(e: StoredAuditEvent): Record<string, unknown> {
  const inner = {
    eventVersion: 1,
    eventId: e.eventId,
    eventTime: Math.floor(e.eventTimeMs / 1000),
    eventName: e.eventName,
    eventSource: 'kms.tencentcloudapi.com',
    eventRegion: e.region,
    eventType: 'ApiCall',
    apiVersion: e.apiVersion,
    requestID: e.requestId,
    sourceIPAddress: e.sourceIp,
    userIdentity: { type: e.userName === 'root' ? 'root' : 'sub-user', accountId: e.accountUin, principalId: e.userUin, secretId: e.secretId, userName: e.userName },
    resourceType: e.resourceType,
    resourceName: e.resourceName,
    resourceRegion: e.region,
    errorCode: e.result === 'Success' ? 0 : 1,
    apiErrorCode: e.errorCode,
    hash: e.hash,
  };
  return {
    EventId: e.eventId,
    Username: e.userName,
    EventTime: String(Math.floor(e.eventTimeMs / 1000)),
    CloudAuditEvent: JSON.stringify(inner),
    ResourceTypeCn: '密钥管理服务',
    ErrorCode: e.result === 'Success' ? 0 : 1,
    EventName: e.eventName,
    SecretId: e.secretId,
    EventSource: 'kms.tencentcloudapi.com',
    RequestID: e.requestId,
    ResourceRegion: e.region,
    AccountID: e.accountUin ? Number(e.accountUin) : 0,
    SourceIPAddress: e.sourceIp,
    EventNameCn: e.eventName,
    Resources: { ResourceType: e.resourceType, ResourceName: e.resourceName },
    EventRegion: e.region,
    Location: '',
  };
}

// docs/contract/audit.md#what-is-recorded; TotalCount is in the CN SDK only and not answered here.
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
    schema,
    response: { NextToken: opt('string'), Events: opt(list(Event)), ListOver: opt('boolean'), TotalCount: opt('int'), RequestId: opt('string') },
    cam: OPERATION,
    qps: 20,
    access: 'read',
    regionless: true,
    resources: () => NO_RESOURCES,
    // Recorded with the KMS calls it reads about.
    audit: KMS_AUDIT,
    handler: async ({ auditEvents }, p, ctx) => {
      const attr = (k: string) => p.LookupAttributes?.find((a) => a.AttributeKey === k)?.AttributeValue || undefined;
      const limit = p.MaxResults ?? 10;
      const rows = await auditEvents.query({
        accountUin: ctx.identity.accountUin,
        sinceMs: p.StartTime * 1000,
        untilMs: (p.EndTime + 1) * 1000,
        eventName: attr('EventName'),
        userName: attr('Username'),
        resourceType: attr('ResourceType'),
        resourceName: attr('ResourceName'),
        eventId: attr('EventId'),
        requestId: attr('RequestId'),
        beforeSeq: p.NextToken === undefined ? undefined : Number(p.NextToken),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const more = rows.length > limit;
      return { Events: page.map(toEvent), ListOver: !more, NextToken: more ? String(page[page.length - 1]!.seq) : '' };
    },
  }),
};
