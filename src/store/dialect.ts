import type { Knex } from 'knex';

export type Dialect = 'sqlite' | 'postgres';

export function dialectOf(db: Knex | Knex.Transaction): Dialect {
  // The knex client's own dialect name (the clients are subclasses here: config.client is a class).
  return (db as unknown as { client: { dialect: string } }).client.dialect === 'postgresql' ? 'postgres' : 'sqlite';
}
