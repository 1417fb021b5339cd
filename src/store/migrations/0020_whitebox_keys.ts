import type { Knex } from 'knex';

// White-box keys (docs/contract/actions.md#group-white-box, docs/whitebox.md#custody). A row holds
// the raw key and the two generation seeds only sealed under the token KEK, and the table-set id in
// clear (every table set carries it in its header). The tables themselves are never stored: they
// are regenerated from these, byte for byte. Fingerprints are the identities the DecryptKey is
// bound to, in the caller's order (`position`).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('whitebox_keys', (t) => {
    t.string('key_id', 36).primary();
    t.string('account_uin', 20).notNullable();
    t.string('region', 32).notNullable();
    t.string('alias', 60).notNullable();
    t.text('description').notNullable();
    t.string('algorithm', 16).notNullable();
    t.string('status', 16).notNullable();
    t.string('creator_uin', 20).notNullable();
    t.bigInteger('created_at').notNullable();
    t.binary('sealed_key').notNullable();
    t.binary('sealed_seed').notNullable();
    t.binary('sealed_binding_seed').notNullable();
    t.binary('table_set_id').notNullable();
    t.integer('binding_version').notNullable();
    t.unique(['account_uin', 'region', 'alias']);
    t.index(['account_uin', 'region', 'created_at', 'key_id']);
  });
  await knex.schema.createTable('whitebox_key_tags', (t) => {
    t.string('key_id', 36).notNullable().references('key_id').inTable('whitebox_keys').onDelete('CASCADE');
    t.string('tag_key', 128).notNullable();
    t.string('tag_value', 256).notNullable();
    t.primary(['key_id', 'tag_key']);
    t.index(['tag_key', 'tag_value', 'key_id']);
  });
  await knex.schema.createTable('whitebox_key_fingerprints', (t) => {
    t.string('key_id', 36).notNullable().references('key_id').inTable('whitebox_keys').onDelete('CASCADE');
    t.integer('position').notNullable();
    t.string('identity', 80).notNullable();
    t.text('description').notNullable();
    t.primary(['key_id', 'position']);
    t.unique(['key_id', 'identity']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('whitebox_key_fingerprints');
  await knex.schema.dropTable('whitebox_key_tags');
  await knex.schema.dropTable('whitebox_keys');
}
