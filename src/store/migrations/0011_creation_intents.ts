import { dialectOf } from '../dialect.js';
import type { Knex } from 'knex';

// Token objects being created. CreateKey makes the key's token object before its
// row commits; with several nodes, another node's reconciliation could see that object
// without a row and destroy it as a crash leftover. The creating node records its intent here
// first; reconciliation leaves objects with a fresh intent alone and treats an intent older
// than the creation timeout as a crashed create. The row goes in the transaction that inserts
// the key (or when the create fails).
//
// Also for PostgreSQL: audit sequence numbers as bigint. `increments` is a 32-bit serial there
// (SQLite's integers are 64-bit already); at 1,000 audited calls a second it would run out in
// under 25 days.
export async function up(knex: Knex): Promise<void> {
  if (dialectOf(knex) === 'postgres') {
    await knex.raw('alter table audit_events alter column seq type bigint');
    await knex.raw('alter sequence if exists audit_events_seq_seq as bigint');
    await knex.raw('alter table audit_checkpoints alter column seq type bigint');
  }
  await knex.schema.createTable('creation_intents', (t) => {
    t.string('key_id', 36).notNullable();
    t.integer('version').notNullable();
    t.bigInteger('created_at_ms').notNullable();
    t.primary(['key_id', 'version']);
    t.index(['created_at_ms']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('creation_intents');
}
