import type { Knex } from 'knex';

// Coordination between several processes (workers of one node, or several nodes) sharing one
// database:
// - audit_chain: one row whose update opens every audit batch's transaction, so batches from
//   different writers are serialised and the single hash chain stays linear (the row lock is
//   SQLite's write lock or PostgreSQL's row lock);
// - leases: named, expiring leases, so each background task (lifecycle jobs, audit checkpoints
//   and retention, alarm delivery) runs in one process at a time.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_chain', (t) => {
    t.integer('id').primary();
    t.bigInteger('batches').notNullable().defaultTo(0);
  });
  await knex('audit_chain').insert({ id: 1, batches: 0 });
  await knex.schema.createTable('leases', (t) => {
    t.string('name', 64).primary();
    t.string('holder', 128).notNullable();
    t.bigInteger('expires_at_ms').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('leases');
  await knex.schema.dropTable('audit_chain');
}
