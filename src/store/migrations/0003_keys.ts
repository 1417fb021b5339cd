import type { Knex } from 'knex';

// CMK metadata. Material lives in the token (token_resident) or, for software-module keys
// (SM4/SM2), only sealed under the KEK in key_versions.sealed_material. Times are Unix seconds.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('keys', (t) => {
    t.string('key_id', 36).primary();
    t.string('account_uin', 20).notNullable();
    t.string('region', 32).notNullable();
    t.string('alias', 60).notNullable();
    t.text('description').notNullable();
    t.string('key_usage', 48).notNullable();
    t.string('key_spec', 16).notNullable();
    t.string('origin', 16).notNullable();
    t.string('state', 16).notNullable();
    t.string('creator_uin', 20).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('deletion_date').notNullable().defaultTo(0);
    t.boolean('rotation_enabled').notNullable().defaultTo(false);
    t.integer('rotate_days').notNullable().defaultTo(0);
    t.bigInteger('next_rotate_time').notNullable().defaultTo(0);
    t.bigInteger('last_rotate_time').notNullable().defaultTo(0);
    t.bigInteger('valid_to').notNullable().defaultTo(0);
    t.integer('current_version').notNullable();
    t.boolean('token_resident').notNullable();
    // EXTERNAL keys have material only between ImportKeyMaterial and its deletion or expiry.
    t.boolean('has_material').notNullable();
    t.unique(['account_uin', 'region', 'alias']);
    // Listing pages newest/oldest first with key_id as tie-break: no temporary sort (bench:keys).
    t.index(['account_uin', 'region', 'created_at', 'key_id']);
    // ListKeyDetail's state filter and ListKeys: count and page without walking the account.
    t.index(['account_uin', 'region', 'state', 'created_at', 'key_id']);
    // TagFilters: key_id IN (keys with the tag) resolved per key of the account (bench:keys).
    t.index(['account_uin', 'region', 'key_id']);
    // ListKeyDetail's default filter is KeyUsage ENCRYPT_DECRYPT (docs/contract/keys.md#list-key-detail-filters).
    t.index(['account_uin', 'region', 'key_usage', 'created_at', 'key_id']);
    t.index(['state', 'deletion_date']);
    t.index(['rotation_enabled', 'next_rotate_time']);
  });
  // Keys per (account, region, state, usage, origin), kept in the same transactions as the keys
  // rows, so TotalCount and CmkUserCount do not count 100,000 index entries per call (bench:keys).
  await knex.schema.createTable('key_counts', (t) => {
    t.string('account_uin', 20).notNullable();
    t.string('region', 32).notNullable();
    t.string('state', 16).notNullable();
    t.string('key_usage', 48).notNullable();
    t.string('origin', 16).notNullable();
    t.integer('n').notNullable();
    t.primary(['account_uin', 'region', 'state', 'key_usage', 'origin']);
  });
  await knex.schema.createTable('key_versions', (t) => {
    t.string('key_id', 36).notNullable().references('key_id').inTable('keys').onDelete('CASCADE');
    t.integer('version').notNullable();
    t.bigInteger('created_at').notNullable();
    t.binary('sealed_material');
    t.text('public_key');
    t.primary(['key_id', 'version']);
  });
  await knex.schema.createTable('key_tags', (t) => {
    t.string('key_id', 36).notNullable().references('key_id').inTable('keys').onDelete('CASCADE');
    t.string('tag_key', 128).notNullable();
    t.string('tag_value', 256).notNullable();
    t.primary(['key_id', 'tag_key']);
    t.index(['tag_key', 'tag_value', 'key_id']);
  });
  await knex.schema.createTable('key_bindings', (t) => {
    t.string('key_id', 36).notNullable().references('key_id').inTable('keys').onDelete('CASCADE');
    t.string('product_id', 64).notNullable();
    t.string('resource_id', 256).notNullable();
    t.bigInteger('created_at').notNullable();
    t.primary(['key_id', 'product_id', 'resource_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['key_bindings', 'key_tags', 'key_versions', 'key_counts', 'keys']) await knex.schema.dropTable(table);
}
