import type { Knex } from 'knex';

// Hosted data keys (docs/contract/actions.md#group-data-keys). The data key exists here only as the
// CiphertextBlob the CryptoService sealed under its CMK (crypto/blob.ts): AES-256-GCM in the
// token for FIPS CMKs, SM4-GCM in the software module for SM ones. Never the plaintext. A data
// key goes with its CMK (ON DELETE CASCADE; the deletion job removes them first and reports them).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('data_keys', (t) => {
    t.string('data_key_id', 36).primary();
    t.string('account_uin', 20).notNullable();
    t.string('region', 32).notNullable();
    t.string('key_id', 36).notNullable().references('key_id').inTable('keys').onDelete('CASCADE');
    t.string('data_key_name', 255).notNullable();
    t.text('description').notNullable();
    t.string('state', 16).notNullable();
    t.string('origin', 16).notNullable();
    t.string('creator_uin', 20).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('deletion_date').notNullable().defaultTo(0);
    t.integer('number_of_bytes').notNullable();
    t.binary('ciphertext_blob').notNullable();
    t.unique(['account_uin', 'region', 'data_key_name']);
    t.index(['account_uin', 'region', 'created_at', 'data_key_id']);
    t.index(['key_id']);
    t.index(['state', 'deletion_date']);
  });
  await knex.schema.createTable('data_key_tags', (t) => {
    t.string('data_key_id', 36).notNullable().references('data_key_id').inTable('data_keys').onDelete('CASCADE');
    t.string('tag_key', 128).notNullable();
    t.string('tag_value', 256).notNullable();
    t.primary(['data_key_id', 'tag_key']);
    t.index(['tag_key', 'tag_value', 'data_key_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('data_key_tags');
  await knex.schema.dropTable('data_keys');
}
