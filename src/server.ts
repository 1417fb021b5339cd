import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { answerClientError, MAX_HEADER_BYTES } from './api/client-error.js';
import { closeServices, createApp, createRequestListener, openServices, type Services } from './app.js';
import { ConfigError, type Config } from './config.js';
import type { Logger } from './log.js';
import { describeDatabase } from './store/db.js';
import { isLoopbackHost } from './net.js';

export interface RunningServer {
  services: Services;
  server: Server;
  url: string;
  /** The HTTPS listener's base URL when KMS_TLS_CERT_FILE / KMS_TLS_KEY_FILE are set. */
  httpsUrl: string | undefined;
  close(): Promise<void>;
}

/**
 * Where plain HTTP may listen (docs/deployment.md#tls). The SDKs' TC3 signature covers neither
 * X-TC-Action nor X-TC-Region, so on a network an on-path attacker can turn a captured request
 * into another action: plain HTTP serves a non-loopback KMS_HOST only when KMS_ALLOW_PLAINTEXT_HTTP=1
 * says a TLS proxy in front is the only way in. With TLS configured, plain HTTP stays on the
 * loopback (health checks, local tools) and the network gets HTTPS. Otherwise: refused.
 */
export function plainHttpHost(config: Pick<Config, 'host' | 'port' | 'tls' | 'allowPlaintextHttp'>): { host: string; note?: string } {
  if (isLoopbackHost(config.host) || config.allowPlaintextHttp) return { host: config.host };
  if (config.tls)
    return {
      host: '127.0.0.1',
      note: `plain HTTP on 127.0.0.1:${config.port} only (KMS_HOST ${config.host} is not a loopback address); the network gets HTTPS on ${config.host}:${config.tls.port}`,
    };
  throw new ConfigError(
    `refusing to serve plain HTTP on ${config.host}:${config.port}: the SDKs' signature does not cover the action, so anyone on the path could change it. Set KMS_TLS_CERT_FILE and KMS_TLS_KEY_FILE, or KMS_ALLOW_PLAINTEXT_HTTP=1 if a TLS proxy in front is the only way in (docs/deployment.md#tls)`,
  );
}

/** A lease outlives three missed ticks (and at least 30 s), then another process takes over. */
function leaseTtlMs(intervalSeconds: number): number {
  return Math.max(30, 3 * intervalSeconds) * 1000;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  // Before anything is opened: a refused configuration changes nothing.
  const plain = plainHttpHost(config);
  const services = await openServices(config, logger);
  // One listing fills the token handle cache before the port opens, so no key's first use
  // scans the token on the event loop (seconds at 100,000 objects; docs/benchmarks.md).
  try {
    const started = Date.now();
    const objects = (await services.token.listObjects()).length;
    logger.info({ objects, ms: Date.now() - started }, 'token objects indexed');
  } catch (err) {
    // Not fatal: every first use then finds its object by name, as it would without the index.
    logger.warn({ err }, 'token objects not indexed');
  }
  const listener = createRequestListener(services, createApp(services));
  // Node's own refusals (header block too large, malformed HTTP) answered in Tencent's envelope.
  const server = createServer({ keepAliveTimeout: 65_000, maxHeaderSize: MAX_HEADER_BYTES }, listener);
  server.on('clientError', answerClientError);
  server.listen(config.port, plain.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    await closeServices(services);
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${plain.host}:${port}`;
  if (plain.note) logger.info(plain.note);
  else if (!isLoopbackHost(config.host)) logger.warn(`plain HTTP on ${config.host}:${port} (KMS_ALLOW_PLAINTEXT_HTTP=1): only behind a TLS proxy`);
  let https: Server | undefined;
  let httpsUrl: string | undefined;
  if (config.tls) {
    https = createHttpsServer({ cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile), maxHeaderSize: MAX_HEADER_BYTES }, listener);
    https.on('clientError', answerClientError);
    https.listen(config.tls.port, config.host);
    try {
      await once(https, 'listening');
    } catch (err) {
      server.close();
      await closeServices(services);
      throw err;
    }
    httpsUrl = `https://${config.host}:${(https.address() as AddressInfo).port}`;
  }
  // Lifecycle jobs on a timer (deletion, rotation, expiry, reconciliation); the first run at
  // start-up reconciles what a crash may have left.
  // Every process sharing the database ticks; only the holder of the task's lease runs it.
  let jobsRunning = false;
  let lastUnknown = '';
  const runJobs = async () => {
    if (jobsRunning) return;
    jobsRunning = true;
    try {
      if (!(await services.leases.holds('lifecycle-jobs', leaseTtlMs(config.jobsIntervalSeconds)))) return;
      const r = await services.jobs.run();
      if (
        r.deleted.length ||
        r.rotated.length ||
        r.expired.length ||
        r.importsCleaned.length ||
        r.dataKeysDeleted.length ||
        r.reconciled.orphanObjectsDestroyed.length ||
        r.errors.length
      )
        logger.info({ jobs: r }, 'lifecycle jobs');
      if (r.reconciled.rowsWithoutObjects.length) logger.error({ missing: r.reconciled.rowsWithoutObjects }, 'keys whose token objects are missing');
      // Said when it changes, not every tick: a standing condition for the operator to settle.
      const unknown = r.reconciled.unknownObjects.join(',');
      if (unknown !== lastUnknown && r.reconciled.unknownObjects.length)
        logger.warn(
          { count: r.reconciled.unknownObjects.length, first: r.reconciled.unknownObjects.slice(0, 20) },
          'token objects named like keys that this database has no row or creation intent for: kept (another deployment on this token, a restore, or the wrong database; `hsmkms token status` lists them all; docs/hsm.md#unknown-objects)',
        );
      lastUnknown = unknown;
    } catch (err) {
      logger.error({ err }, 'lifecycle jobs failed');
    } finally {
      jobsRunning = false;
    }
  };
  const timer = config.jobsIntervalSeconds > 0 ? setInterval(runJobs, config.jobsIntervalSeconds * 1000) : undefined;
  timer?.unref();
  // The audit trail: sign the chain head, export and remove events past retention.
  const auditTimer = setInterval(() => {
    services.leases
      .holds('audit-maintenance', leaseTtlMs(config.auditCheckpointSeconds))
      .then((mine) => (mine ? services.trail.checkpoint().then(() => services.trail.purge(config.auditRetentionDays, config.auditExportDir)) : undefined))
      .catch((err) => logger.error({ err }, 'audit checkpoint or retention failed'));
  }, config.auditCheckpointSeconds * 1000);
  auditTimer.unref();
  services.alarms.start(config.alarmDeliverySeconds * 1000);
  if (config.jobsIntervalSeconds > 0) void runJobs();
  logger.info(
    {
      url,
      httpsUrl,
      profile: services.token.profile.name,
      placement: services.placement.detail,
      database: describeDatabase(config),
      regions: config.regions.map((r) => `${r.name}:${r.standard}`),
    },
    'hsmkms listening',
  );
  let closing: Promise<void> | undefined;
  return {
    services,
    server,
    url,
    httpsUrl,
    close: () =>
      (closing ??= (async () => {
        if (timer) clearInterval(timer);
        clearInterval(auditTimer);
        while (jobsRunning) await new Promise((r) => setTimeout(r, 20));
        await services.leases.releaseAll().catch((err) => logger.error({ err }, 'releasing background leases failed'));
        for (const srv of [server, https]) {
          if (!srv) continue;
          srv.closeAllConnections();
          await new Promise<void>((resolve) => srv.close(() => resolve()));
        }
        await closeServices(services);
      })()),
  };
}

export interface RunningCluster {
  /** Worker process ids, as they are now (a crashed worker is replaced). */
  readonly workerPids: number[];
  close(): Promise<void>;
}

/**
 * `serve --workers N` (KMS_WORKERS): N worker processes (node:cluster) share the listening
 * port, each with its own token sessions (its own PKCS#11 login to the same token) and its own
 * SQLite connection (WAL, busy_timeout). The primary serves nothing: it migrates the database,
 * makes the KEK, the root account and the audit signing key once (so workers do not race to),
 * then forks the workers and replaces any that dies. Background tasks run in exactly one worker
 * at a time: each is a lease in the database (domain/coordination.ts).
 */
export async function startCluster(config: Config, logger: Logger, workers: number): Promise<RunningCluster> {
  const { default: cluster } = await import('node:cluster');
  if (!cluster.isPrimary) throw new Error('startCluster runs in the primary process');
  plainHttpHost(config);
  // Opening the services once migrates and makes the service keys and the root account.
  await closeServices(await openServices(config, logger));
  let closing = false;
  const live = new Set<import('node:cluster').Worker>();
  const fork = () => {
    const w = cluster.fork({ KMS_WORKERS: String(workers) });
    live.add(w);
    w.on('exit', (code, signal) => {
      live.delete(w);
      if (closing) return;
      logger.error({ pid: w.process.pid, code, signal }, 'worker exited; starting another');
      setTimeout(() => {
        if (!closing) fork();
      }, 1000).unref();
    });
    return w;
  };
  const first = Array.from({ length: workers }, fork);
  await Promise.all(
    first.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('listening', () => resolve());
          w.once('exit', (code) => reject(new Error(`worker exited with code ${code} during start-up`)));
        }),
    ),
  ).catch(async (err) => {
    closing = true;
    for (const w of live) w.process.kill('SIGTERM');
    throw err;
  });
  logger.info({ workers, pids: first.map((w) => w.process.pid) }, 'hsmkms workers listening');
  return {
    get workerPids() {
      return [...live].map((w) => w.process.pid!);
    },
    close: async () => {
      closing = true;
      // Each worker drains and closes itself on SIGTERM (releasing its leases).
      await Promise.all(
        [...live].map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              w.once('exit', () => resolve());
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
