import type { Knex } from 'knex';

// Accounts (root UINs), their users (the root user and sub-accounts) and API key pairs.
// Secret keys are stored only sealed under the token KEK (README "CLI").
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('accounts', (t) => {
    t.string('uin', 20).primary();
    t.string('app_id', 20).notNullable();
    t.bigInteger('created_at').notNullable();
  });
  await knex.schema.createTable('users', (t) => {
    t.string('uin', 20).primary();
    t.string('account_uin', 20).notNullable().references('uin').inTable('accounts').onDelete('CASCADE');
    t.string('name', 64).notNullable();
    t.boolean('is_root').notNullable();
    t.bigInteger('created_at').notNullable();
    t.unique(['account_uin', 'name']);
  });
  await knex.schema.createTable('credentials', (t) => {
    t.string('secret_id', 64).primary();
    t.string('user_uin', 20).notNullable().references('uin').inTable('users').onDelete('CASCADE');
    t.binary('sealed_secret_key').notNullable();
    t.string('status', 16).notNullable();
    t.bigInteger('created_at').notNullable();
    t.index(['user_uin']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('credentials');
  await knex.schema.dropTable('users');
  await knex.schema.dropTable('accounts');
}
