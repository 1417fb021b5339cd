import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

// A throwaway PostgreSQL server, for the tests and bench:nodes: Debian's postgresql package
// (scripts/setup installs it), its own cluster in a temp dir, listening on 127.0.0.1 on a free
// port, stopped and removed by stop(). initdb refuses to run as root, so as root the cluster
// belongs to the `postgres` OS user (created by the package) and its commands run through
// runuser. It lives under bench/ (built with the service, copied into the image build) and
// test/helpers/postgres.ts re-exports it.

export interface TestPostgres {
  port: number;
  dataDir: string;
  /** URL of a database on this server (trust authentication, user postgres). */
  url(database: string): string;
  /** A new empty database; its URL. */
  createDatabase(prefix?: string): Promise<string>;
  stop(): void;
}

function binDir(): string {
  const fromEnv = process.env.KMS_TEST_PG_BINDIR;
  if (fromEnv) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions.length) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql: run scripts/setup (it installs the postgresql package)');
  return path.join(root, versions[0]!, 'bin');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const root = process.getuid?.() === 0;
  const base = mkdtempSync(path.join(tmpdir(), 'hsmkms-pg-'));
  const dataDir = path.join(base, 'data');
  if (root) chownSync(base, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim()));
  const run = (cmd: string, args: string[]) => {
    const [file, argv] = root ? ['runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args]] : [path.join(bin, cmd), args];
    const r = spawnSync(file, argv, { encoding: 'utf8', cwd: base });
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr || r.stdout}`);
  };
  run('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
  // Durability as in production (fsync on); the tests' crash checks rely on committed = durable.
  writeFileSync(path.join(base, 'README'), 'hsmkms test PostgreSQL cluster; removed by the test that made it\n');
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      run('pg_ctl', [
        '-D',
        dataDir,
        '-l',
        path.join(base, 'server.log'),
        '-w',
        '-t',
        '60',
        '-o',
        `-p ${port} -c listen_addresses=127.0.0.1 -k ${base} -c max_connections=200 -c shared_buffers=32MB`,
        'start',
      ]);
      break;
    } catch (err) {
      if (attempt >= 3) {
        rmSync(base, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  let n = 0;
  return {
    port,
    dataDir,
    url,
    async createDatabase(prefix = 'hsmkms') {
      const name = `${prefix}_${process.pid}_${++n}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
      const c = new pg.Client({ connectionString: url('postgres') });
      await c.connect();
      try {
        await c.query(`create database ${name}`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    stop() {
      try {
        run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
}
