import type { Knex } from 'knex';

// Console passwords: a user may sign in to /console with a password the CLI sets
// (`hsmkms console password`). Only a slow hash is kept (scrypt, src/console/passwords.ts,
// `scrypt$N$r$p$salt$hash`); null = no console password, API keys only.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.string('console_password_hash', 255).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => t.dropColumn('console_password_hash'));
}
