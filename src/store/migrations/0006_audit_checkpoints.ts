import type { Knex } from 'knex';

// Signed checkpoints of the audit chain: the head hash at an event seq, signed in the token.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_checkpoints', (t) => {
    t.increments('id').primary();
    t.integer('seq').notNullable();
    t.string('head_hash', 64).notNullable();
    t.bigInteger('signed_at_ms').notNullable();
    t.text('signature').notNullable();
    t.index(['seq']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_checkpoints');
}
