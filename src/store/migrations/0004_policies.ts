import type { Knex } from 'knex';

// CAM policies (version 2.0 documents, validated before they are stored), their attachment to
// users, and a status for users (a disabled sub-account cannot call anything).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.string('status', 16).notNullable().defaultTo('Enabled');
  });
  await knex.schema.createTable('policies', (t) => {
    t.string('policy_id', 40).primary();
    t.string('account_uin', 20).notNullable().references('uin').inTable('accounts').onDelete('CASCADE');
    t.string('name', 128).notNullable();
    t.text('document').notNullable();
    t.bigInteger('created_at').notNullable();
    t.unique(['account_uin', 'name']);
  });
  // policy_ref: a policy_id, or `preset:<name>` for the built-in presets.
  await knex.schema.createTable('user_policies', (t) => {
    t.string('user_uin', 20).notNullable().references('uin').inTable('users').onDelete('CASCADE');
    t.string('policy_ref', 160).notNullable();
    t.bigInteger('created_at').notNullable();
    t.primary(['user_uin', 'policy_ref']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('user_policies');
  await knex.schema.dropTable('policies');
  await knex.schema.alterTable('users', (t) => t.dropColumn('status'));
}
