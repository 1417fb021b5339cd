import { startPostgres, type TestPostgres } from '../../bench/pg-cluster.js';

// A real PostgreSQL server for the tests (bench/pg-cluster.ts: a throwaway cluster of Debian's
// postgresql package on 127.0.0.1), and KMS_TEST_DATABASE=postgres for the API suites.
export { freePort, startPostgres, type TestPostgres } from '../../bench/pg-cluster.js';

let shared: Promise<TestPostgres> | undefined;
let users = 0;

/**
 * KMS_TEST_DATABASE=postgres: a new database on a PostgreSQL server shared by the servers
 * running at the same time in this test process; release() drops the server (cluster and
 * temp dir) once none uses it. Otherwise undefined: the SQLite file in the data dir.
 */
export async function testDatabaseUrl(): Promise<{ url: string; release: () => void } | undefined> {
  if (process.env.KMS_TEST_DATABASE !== 'postgres') return undefined;
  users++;
  if (!shared) {
    const starting = startPostgres();
    shared = starting;
    process.once('exit', () => void starting.then((srv) => srv.stop()));
  }
  const server = await shared;
  let released = false;
  return {
    url: await server.createDatabase('api'),
    release: () => {
      if (released) return;
      released = true;
      if (--users === 0 && shared) {
        shared = undefined;
        server.stop();
      }
    },
  };
}
