import type { Knex } from 'knex';
import { dialectOf } from '../dialect.js';

// Signature-v1 replay protection shared by every worker and node (store/nonce-repo.ts): one row
// per accepted v1 request — a digest of SecretId, Timestamp, Nonce and Signature, under the
// minute its Timestamp leaves the window — until that minute has passed. The primary key decides,
// across processes, which of two identical requests was first; leading with the minute, it also
// serves the purge (a range of whole minutes), so an insert touches one B-tree (SQLite: WITHOUT
// ROWID) — the cost every v1 request pays (docs/benchmarks.md#v1-replay-cost).
export async function up(knex: Knex): Promise<void> {
  if (dialectOf(knex) === 'sqlite') {
    await knex.raw('create table v1_nonces (expiry_minute integer not null, digest varchar(32) not null, primary key (expiry_minute, digest)) without rowid');
    return;
  }
  await knex.schema.createTable('v1_nonces', (t) => {
    t.bigInteger('expiry_minute').notNullable();
    t.string('digest', 32).notNullable();
    t.primary(['expiry_minute', 'digest']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('v1_nonces');
}
