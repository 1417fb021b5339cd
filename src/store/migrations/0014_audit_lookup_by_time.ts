import type { Knex } from 'knex';

// Issue 10: two of the audit table's five B-trees go. Every audited call paid for an entry in
// each; the unique index on event_id and the index on request_id served only lookups by those
// ids, which now go through the time index: since this release an event's time is the time its
// request id carries, and its event id carries the same time (AuditLog.newEvent), so a lookup by
// either id is a lookup of one millisecond. Measured: −7 % server CPU per Encrypt
// (docs/benchmarks.md).
//
// Events written before this migration were stamped when their call finished, not when its
// request arrived: the last of them is kept in service_meta, and a lookup by request id also
// searches up to it without the time (AuditRepo.query). Event ids always carried the event's own
// time (or, before they were version 7 UUIDs, none: those are searched without it).
export const LEGACY_REQUEST_TIMES_META = 'audit.request_time_from_seq';

export async function up(knex: Knex): Promise<void> {
  const newest = await knex('audit_events').max({ seq: 'seq' }).first();
  await knex('service_meta').insert({ name: LEGACY_REQUEST_TIMES_META, value: String(Number(newest?.seq ?? 0)), updated_at: Date.now() });
  await knex.schema.alterTable('audit_events', (t) => {
    t.dropUnique(['event_id']);
    t.dropIndex(['request_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.unique(['event_id']);
    t.index(['request_id']);
  });
  await knex('service_meta').where({ name: LEGACY_REQUEST_TIMES_META }).delete();
}
