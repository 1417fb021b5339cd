import type { Knex } from 'knex';

// Coordination between several processes (workers of one node, or several nodes) sharing one
// database:
// - audit_chain: the chain head (hash of the newest event, kept even when retention has
//   removed every event). Every audit batch's transaction opens by updating this row, so
//   batches from different writers are serialised and the single chain stays linear (the row
//   lock is SQLite's write lock or PostgreSQL's row lock);
// - leases: named, expiring leases, so each background task (lifecycle jobs, audit checkpoints
//   and retention, alarm delivery) runs in one process at a time.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_chain', (t) => {
    t.integer('id').primary();
    t.bigInteger('batches').notNullable().defaultTo(0);
    t.string('head_hash', 64).nullable();
  });
  // Existing trails continue from their newest event.
  const newest = await knex('audit_events').orderBy('seq', 'desc').first('hash');
  await knex('audit_chain').insert({ id: 1, batches: 0, head_hash: newest?.hash ?? null });
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
