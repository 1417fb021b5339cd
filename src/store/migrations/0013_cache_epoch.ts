import { dialectOf } from '../dialect.js';
import type { Knex } from 'knex';

// The cache epoch: one counter that every write to a table the data-plane caches draw
// from moves, in the writing transaction, by trigger — whoever writes (any node or worker, the
// CLI, the console, a hand-run SQL statement). A process that reads it and finds it moved drops
// its mutable caches (src/domain/cache.ts), so a change committed anywhere is seen by the next
// request everywhere. The update is transactional: the new value is visible only once the
// change is. PostgreSQL: BEFORE … FOR EACH STATEMENT, so a transaction takes the counter's row
// lock before any row lock on these tables (no lock-order deadlock between two writers).
export const CACHED_TABLES = ['accounts', 'users', 'credentials', 'policies', 'user_policies', 'keys', 'key_versions', 'key_tags'] as const;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('cache_epoch', (t) => {
    t.integer('id').primary();
    t.bigInteger('n').notNullable();
  });
  await knex('cache_epoch').insert({ id: 1, n: 0 });
  if (dialectOf(knex) === 'postgres') {
    await knex.raw(`create or replace function hsmkms_bump_cache_epoch() returns trigger language plpgsql as $$
      begin update cache_epoch set n = n + 1 where id = 1; return null; end $$`);
    for (const table of CACHED_TABLES) {
      await knex.raw(`create trigger ${table}_cache_epoch before insert or update or delete on ${table} for each statement execute function hsmkms_bump_cache_epoch()`);
    }
  } else {
    for (const table of CACHED_TABLES) {
      for (const op of ['insert', 'update', 'delete']) {
        await knex.raw(`create trigger ${table}_cache_epoch_${op} after ${op} on ${table} begin update cache_epoch set n = n + 1 where id = 1; end`);
      }
    }
  }
}

export async function down(knex: Knex): Promise<void> {
  if (dialectOf(knex) === 'postgres') {
    for (const table of CACHED_TABLES) await knex.raw(`drop trigger if exists ${table}_cache_epoch on ${table}`);
    await knex.raw('drop function if exists hsmkms_bump_cache_epoch()');
  } else {
    for (const table of CACHED_TABLES) for (const op of ['insert', 'update', 'delete']) await knex.raw(`drop trigger if exists ${table}_cache_epoch_${op}`);
  }
  await knex.schema.dropTable('cache_epoch');
}
