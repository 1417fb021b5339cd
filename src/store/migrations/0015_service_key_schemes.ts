import type { Knex } from 'knex';
import { dialectOf } from '../dialect.js';

// Service keys chosen by what the token offers (crypto/service-keys.ts, crypto/byok.ts):
// - each checkpoint records how it was signed — ECDSA P-256 where the token offers it, else
//   RSA-PSS; checkpoints signed before were ECDSA P-256;
// - a BYOK fingerprint names its MAC (`hmac-sha256:` + 64 hex digits on tokens without AES-CMAC),
//   longer than the 32 hex digits of a CMAC (SQLite does not enforce string lengths).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_checkpoints', (t) => {
    t.string('scheme', 32).notNullable().defaultTo('ecdsa-p256');
  });
  if (dialectOf(knex) === 'postgres') await knex.raw('alter table key_import_fingerprints alter column fingerprint type varchar(128)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_checkpoints', (t) => {
    t.dropColumn('scheme');
  });
}
