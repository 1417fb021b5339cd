import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { Services } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { REPO } from './cli.js';
import { MODULE_UNDER_TEST, provisionModuleToken } from './modules.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { testDatabaseUrl } from './postgres.js';
import { cnKmsClient, intlKmsClient, type KmsCaller } from './sdk-clients.js';

export const ROOT = { uin: '100000000001', secretId: 'AKIDtestROOT0000000000000000000000ab', secretKey: 'rootSECRETkey0000000000000000000' };

export interface TestServer extends RunningServer {
  config: Config;
  /** What a CLI child needs to reach this server's token: KMS_PKCS11_* (the PIN too), KMS_HSM_PROFILE, SOFTHSM2_CONF. */
  tokenEnv: Record<string, string>;
  /**
   * What an operator's CLI beside this server needs: its data dir, its token (tokenEnv) and its
   * database (KMS_DATABASE_URL when on PostgreSQL). Without the database URL a CLI opens a fresh
   * SQLite file in the data dir instead: another deployment's metadata beside the same token.
   */
  cliEnv: Record<string, string>;
  endpoint: string;
  /** Everything the server logged, one JSON object per line. */
  logLines: () => Array<Record<string, unknown>>;
  logText: () => string;
  /** Stops this run and starts the server again on the same data dir, token and database (with more environment); the new run's stop() cleans up. */
  restart(env?: Record<string, string>): Promise<TestServer>;
  stop(): Promise<void>;
}

/**
 * The real server in this process: a fresh data dir with its own SoftHSM2 token and SQLite
 * file, the root account from the environment, listening on 127.0.0.1 (port chosen by the OS).
 */
export async function startTestServer(env: Record<string, string> = {}, share?: TestServer): Promise<TestServer> {
  // SoftHSM2 reads its configuration once per process (C_Initialize), so a second server in
  // the same test file shares the first one's data dir, token and database.
  const dataDir = share?.config.dataDir ?? mkdtempSync(path.join(tmpdir(), 'hsmkms-api-'));
  // KMS_TEST_DATABASE=postgres: the same tests on a real PostgreSQL server (a fresh database
  // per data dir), as scripts/test runs the store-touching suites a second time.
  const pg = share ? undefined : await testDatabaseUrl();
  const databaseUrl = share?.config.databaseUrl ?? pg?.url;
  // The token on the module under test (KMS_TEST_MODULE, default SoftHSM2), provisioned under the data dir.
  let token: ReturnType<typeof provisionModuleToken> | undefined;
  try {
    // A PIN the test chose (KMS_PKCS11_PIN in `env`) is the token's; else one is generated.
    token = share ? undefined : provisionModuleToken(MODULE_UNDER_TEST, dataDir, env.KMS_PKCS11_PIN);
  } catch (err) {
    pg?.release();
    throw err;
  }
  const tokenEnv = share
    ? tokenEnvOf.get(share)!
    : (Object.fromEntries(Object.entries(token!.env).filter(([k]) => k.startsWith('KMS_PKCS11') || k === 'KMS_HSM_PROFILE' || k === 'SOFTHSM2_CONF')) as Record<string, string>);
  const base = {
    ...(databaseUrl ? { KMS_DATABASE_URL: databaseUrl } : {}),
    KMS_DATA_DIR: dataDir,
    KMS_PORT: '0',
    ...tokenEnv,
    KMS_ROOT_UIN: ROOT.uin,
    KMS_ROOT_SECRET_ID: ROOT.secretId,
    KMS_ROOT_SECRET_KEY: ROOT.secretKey,
    KMS_LOG_LEVEL: 'info',
  };
  if (tokenEnv.SOFTHSM2_CONF) process.env.SOFTHSM2_CONF = tokenEnv.SOFTHSM2_CONF;
  const cleanup = () => {
    pg?.release();
    if (!share) token!.cleanup();
  };
  try {
    return await launch({ ...base, ...env }, base, tokenEnv, cleanup);
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** One run of the server on a data dir; `restart` closes it and starts the next run on the same data dir, token and database. */
async function launch(env: Record<string, string>, base: Record<string, string>, tokenEnv: Record<string, string>, cleanup: () => void): Promise<TestServer> {
  const config = loadConfig(env);
  let text = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const running = await startServer(config, createLogger('info', sink));
  const server: TestServer = {
    ...running,
    services: settledAuditReads(running.services),
    config,
    tokenEnv,
    cliEnv: { KMS_DATA_DIR: config.dataDir, ...tokenEnv, ...(config.databaseUrl ? { KMS_DATABASE_URL: config.databaseUrl } : {}) },
    endpoint: running.url.replace('http://', ''),
    logText: () => text,
    logLines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    restart: async (more = {}) => {
      await running.close();
      return launch({ ...base, ...more }, base, tokenEnv, cleanup);
    },
    stop: async () => {
      await running.close();
      cleanup();
    },
  };
  tokenEnvOf.set(server, tokenEnv);
  return server;
}

/**
 * The services as the tests see them: a read of the audit trail through `auditRepo` first waits
 * for the events already acknowledged to reach SQL (AuditLog.settle), as every reader in the
 * product does (LookUpEvents, the console, the CLI, verify and export): with the audit journal
 * (docs/reliability.md#audit-journal) a call is answered before its event is in SQL.
 */
function settledAuditReads(s: Services): Services {
  const repo = s.auditRepo;
  const reads = new Set<PropertyKey>(['query', 'count', 'all', 'head', 'expiredPrefix']);
  const auditRepo = new Proxy(repo, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      const f = v as (...args: unknown[]) => unknown;
      return reads.has(prop)
        ? async (...args: unknown[]) => {
            await s.audit.settle();
            return f.apply(target, args);
          }
        : f.bind(target);
    },
  });
  return { ...s, auditRepo };
}

/** The token settings of a server, for a second server sharing its token. */
const tokenEnvOf = new WeakMap<TestServer, Record<string, string>>();

/** Root's SDK callers, one per region the tests use: FIPS (hk, sg) and SM (gz). */
export function rootCallers(server: TestServer): { hk: KmsCaller; sg: KmsCaller; gz: KmsCaller; hkIntl: KmsCaller; gzIntl: KmsCaller } {
  const creds = { endpoint: server.endpoint, secretId: ROOT.secretId, secretKey: ROOT.secretKey };
  return {
    hk: cnKmsClient({ ...creds, region: 'ap-hongkong' }),
    hkIntl: intlKmsClient({ ...creds, region: 'ap-hongkong' }),
    sg: intlKmsClient({ ...creds, region: 'ap-singapore' }),
    gz: cnKmsClient({ ...creds, region: 'ap-guangzhou' }),
    gzIntl: intlKmsClient({ ...creds, region: 'ap-guangzhou' }),
  };
}

/** `hsmkms jobs run --at <iso> --json`, as an operator would run it beside the server: its data dir, token and database. */
export async function jobsRunAt(server: TestServer, iso: string): Promise<Record<string, unknown>> {
  const env = { PATH: process.env.PATH, ...server.cliEnv, KMS_ROOT_UIN: ROOT.uin, KMS_ROOT_SECRET_ID: ROOT.secretId, KMS_ROOT_SECRET_KEY: ROOT.secretKey };
  const r = await promisify(execFile)(process.execPath, ['bin/hsmkms.js', 'jobs', 'run', '--at', iso, '--json'], { cwd: REPO, env, encoding: 'utf8' });
  return JSON.parse(r.stdout) as Record<string, unknown>;
}
