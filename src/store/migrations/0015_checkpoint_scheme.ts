import type { Knex } from 'knex';

// Each checkpoint records how it was signed: the audit signing key is ECDSA P-256 where the token
// offers it, else RSA-PSS (crypto/service-keys.ts). Checkpoints signed before were ECDSA P-256.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_checkpoints', (t) => {
    t.string('scheme', 32).notNullable().defaultTo('ecdsa-p256');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_checkpoints', (t) => {
    t.dropColumn('scheme');
  });
}
