import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServices, createApp, openServices, type Services } from './app.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';

export interface RunningServer {
  services: Services;
  server: Server;
  url: string;
  close(): Promise<void>;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const services = await openServices(config, logger);
  const app = createApp(services);
  const server = app.listen(config.port, config.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    await closeServices(services);
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host}:${port}`;
  logger.info({ url, profile: services.token.profile.name, regions: config.regions.map((r) => `${r.name}:${r.standard}`) }, 'hsmkms listening');
  let closing: Promise<void> | undefined;
  return {
    services,
    server,
    url,
    close: () =>
      (closing ??= (async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await closeServices(services);
      })()),
  };
}
