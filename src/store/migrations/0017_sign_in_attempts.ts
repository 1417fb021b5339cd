import type { Knex } from 'knex';

// The console's sign-in attempts per source address and per user (store/attempt-repo.ts), in the
// database so that every worker and node counts the same attempts: a fixed window from a scope's
// first attempt.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sign_in_attempts', (t) => {
    t.string('scope', 80).primary();
    t.bigInteger('since_ms').notNullable().index('sign_in_attempts_since');
    t.integer('attempts').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sign_in_attempts');
}
