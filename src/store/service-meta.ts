import type { Db } from './db.js';

export async function getMeta(db: Db, name: string): Promise<string | undefined> {
  const row = await db('service_meta').where({ name }).first('value');
  return row?.value as string | undefined;
}

/** Set once: the first writer wins, later calls return what is stored. */
export async function initMeta(db: Db, name: string, value: string): Promise<string> {
  await db('service_meta').insert({ name, value, updated_at: Date.now() }).onConflict('name').ignore();
  return (await getMeta(db, name))!;
}
