import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, runCollected, type CliResult } from '../helpers/cli.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// scripts/restore-drill against SoftHSM2 and a real PostgreSQL server: backup (metadata, then
// token), restore into a new database and data dir, and the checks on a node serving the copy.

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);
afterAll(() => pg?.stop());

function run(args: string[]): Promise<CliResult> {
  return runCollected(path.join(REPO, 'scripts', 'restore-drill'), args, { PATH: process.env.PATH, HOME: process.env.HOME });
}

describe('scripts/restore-drill', () => {
  it('drill: the restored deployment decrypts and verifies what was made before the backup, lacks what came after, audit and token consistent', async () => {
    const r = await run(['drill', '--pg-admin-url', pg.url('postgres')]);
    expect(r.stderr).not.toMatch(/SecretKey|secretKey|PIN:/);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out).toMatchObject({ ok: true, decrypts: true, verifies: true, keyMadeAfterBackupAbsent: true, newKeyWorks: true, keysMissingTokenObjects: [] });
    expect(out.auditVerify.ok).toBe(true);
    // The drill removed its databases.
    const dbs = await listDatabases();
    expect(dbs.filter((d) => d.startsWith('drill_'))).toEqual([]);
  }, 180_000);

  it('usage errors are one line and a non-zero status', async () => {
    const r = await run(['restore', '--from', '/nonexistent']);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

async function listDatabases(): Promise<string[]> {
  const { default: pgLib } = await import('pg');
  const c = new pgLib.Client({ connectionString: pg.url('postgres') });
  await c.connect();
  try {
    return (await c.query('select datname from pg_database')).rows.map((r) => String(r.datname));
  } finally {
    await c.end();
  }
}
