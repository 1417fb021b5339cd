import type { Knex } from 'knex';

// Instance facts that must survive restarts (instance id, token serial it was set up with).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('service_meta', (t) => {
    t.string('name', 64).primary();
    t.text('value').notNullable();
    t.bigInteger('updated_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('service_meta');
}
