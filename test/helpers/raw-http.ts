import http from 'node:http';

// Raw HTTP against a server on 127.0.0.1 with keep-alive connections, for request volumes the
// SDK clients are too strict and too slow for (the fuzz suite sends what no SDK would).

export interface RawRequest {
  method: string;
  path?: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export class RawHttpError extends Error {
  constructor(
    readonly kind: 'timeout' | 'transport',
    message: string,
  ) {
    super(message);
  }
}

export class KeepAliveClient {
  readonly agent: http.Agent;
  constructor(
    readonly host: string,
    readonly port: number,
    /** A request not answered within this is a hang (a failure, not a slow answer). */
    readonly timeoutMs = 30_000,
    maxSockets = 32,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  send(r: RawRequest): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, 'utf8');
      const headers: Record<string, string | number> = { ...r.headers };
      if (body !== undefined) headers['Content-Length'] = body.length;
      const req = http.request({ host: this.host, port: this.port, method: r.method, path: r.path ?? '/', headers, agent: this.agent, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => reject(new RawHttpError('transport', err.message)));
      });
      req.on('timeout', () => {
        req.destroy();
        reject(new RawHttpError('timeout', `no answer within ${this.timeoutMs} ms`));
      });
      req.on('error', (err) => reject(new RawHttpError('transport', err.message)));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}
