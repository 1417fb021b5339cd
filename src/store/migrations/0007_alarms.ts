import type { Knex } from 'knex';

// Deletion alarms (seed KMS guide, key deletion): any attempt to use a key pending deletion,
// and each of the last 3 days before a key is deleted. Each alarm is queued for the webhook
// (retried with backoff; the outcome recorded here) and stays listable for the console.
// `detail` is JSON describing the event: never key material or credentials.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('alarms', (t) => {
    t.string('alarm_id', 36).primary();
    t.string('kind', 32).notNullable(); // 'PendingDeleteKeyUsed' | 'KeyDeletionImminent'
    t.string('account_uin', 20).notNullable();
    t.string('region', 32).notNullable();
    t.string('key_id', 36).notNullable();
    t.text('detail').notNullable();
    t.bigInteger('created_at_ms').notNullable();
    // KeyDeletionImminent: `<keyId>:<days left>`, so each of the last 3 days raises exactly one
    // alarm however often the lifecycle job runs; null for other kinds (NULLs never collide).
    t.string('day_key', 64).nullable();
    t.string('delivery_status', 16).notNullable(); // 'pending' | 'delivered' | 'failed' | 'disabled'
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('next_attempt_at_ms').notNullable();
    t.text('last_error').nullable();
    t.index(['delivery_status', 'next_attempt_at_ms'], 'alarms_delivery_due');
    t.index(['account_uin', 'created_at_ms'], 'alarms_account_created');
    t.unique(['day_key'], { indexName: 'alarms_day_key_unique' });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('alarms');
}
