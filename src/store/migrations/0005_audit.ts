import type { Knex } from 'knex';

// The audit trail: one row per KMS call (success, failure or denial), hash-chained in seq order.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.increments('seq').primary();
    t.string('event_id', 36).notNullable().unique();
    t.bigInteger('event_time_ms').notNullable();
    t.string('event_name', 64).notNullable();
    t.string('request_id', 36).notNullable();
    t.string('account_uin', 20).notNullable();
    t.string('user_uin', 20).notNullable();
    t.string('user_name', 64).notNullable();
    t.string('secret_id', 64).notNullable();
    t.string('source_ip', 64).notNullable();
    t.string('region', 32).notNullable();
    t.string('resource_type', 16).notNullable();
    t.text('resource_name').notNullable();
    t.string('result', 8).notNullable();
    t.string('error_code', 96).notNullable();
    t.string('api_version', 16).notNullable();
    t.string('prev_hash', 64).notNullable();
    t.string('hash', 64).notNullable();
    t.index(['event_time_ms']);
    t.index(['account_uin', 'event_time_ms']);
    t.index(['request_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_events');
}
