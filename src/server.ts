import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { answerClientError, MAX_HEADER_BYTES } from './api/client-error.js';
import { closeServices, createApp, openServices, type Services } from './app.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';

export interface RunningServer {
  services: Services;
  server: Server;
  url: string;
  /** The HTTPS listener's base URL when KMS_TLS_CERT_FILE / KMS_TLS_KEY_FILE are set. */
  httpsUrl: string | undefined;
  close(): Promise<void>;
}

/** A lease outlives three missed ticks (and at least 30 s), then another process takes over. */
function leaseTtlMs(intervalSeconds: number): number {
  return Math.max(30, 3 * intervalSeconds) * 1000;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const services = await openServices(config, logger);
  await services.trail.ensureSigningKey();
  const app = createApp(services);
  const server = createHttpServer({ maxHeaderSize: MAX_HEADER_BYTES }, app).listen(config.port, config.host);
  server.on('clientError', answerClientError);
  try {
    await once(server, 'listening');
  } catch (err) {
    await closeServices(services);
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host}:${port}`;
  let https: Server | undefined;
  let httpsUrl: string | undefined;
  if (config.tls) {
    https = createHttpsServer({ cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile), maxHeaderSize: MAX_HEADER_BYTES }, app);
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
  const runJobs = async () => {
    if (jobsRunning) return;
    jobsRunning = true;
    try {
      if (!(await services.leases.holds('lifecycle-jobs', leaseTtlMs(config.jobsIntervalSeconds)))) return;
      const r = await services.jobs.run();
      if (r.deleted.length || r.rotated.length || r.expired.length || r.importsCleaned.length || r.reconciled.orphanObjectsDestroyed.length || r.errors.length) logger.info({ jobs: r }, 'lifecycle jobs');
      if (r.reconciled.rowsWithoutObjects.length) logger.error({ missing: r.reconciled.rowsWithoutObjects }, 'keys whose token objects are missing');
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
  logger.info({ url, httpsUrl, profile: services.token.profile.name, regions: config.regions.map((r) => `${r.name}:${r.standard}`) }, 'hsmkms listening');
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
