import type { Knex } from 'knex';

// BYOK (docs/contract/actions.md#group-import). import_parameters: one row per GetParametersForImport — the RSA
// wrapping key pair lives in the token (named `wrap-<import_id>`), the row binds its
// ImportToken (only its SHA-256 is kept) to one key, with a 24 h validity and single use.
// The row is written before the token pair is generated, so every wrapping pair in the token
// has a row; a pair is destroyed once used, and the job removes expired or abandoned rows
// and pairs (a spent token stays until it expires, so reuse is refused as spent).
// key_import_fingerprints: the keyed fingerprint (AES-CMAC under a token key of the material's
// key check value) of an EXTERNAL key's material, kept after the material is deleted or
// expires so that only the same material can be imported again. Never the material.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('import_parameters', (t) => {
    t.string('import_id', 36).primary();
    t.string('token_hash', 64).notNullable().unique();
    t.string('key_id', 36).notNullable();
    t.string('account_uin', 20).notNullable();
    t.string('region', 32).notNullable();
    t.string('wrapping_algorithm', 32).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('valid_to').notNullable();
    t.bigInteger('used_at').nullable(); // claimed by an import under way, or done
    t.bigInteger('completed_at').nullable(); // the import succeeded: the token is spent
    t.index(['key_id']);
    t.index(['valid_to']);
  });
  await knex.schema.createTable('key_import_fingerprints', (t) => {
    t.string('key_id', 36).primary().references('key_id').inTable('keys').onDelete('CASCADE');
    t.string('fingerprint', 64).notNullable();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('key_import_fingerprints');
  await knex.schema.dropTable('import_parameters');
}
