import type { TencentErrorCode } from '../../src/api/error-codes.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { RawApiRequest } from '../../src/api/wire/request.js';
import { errorEnvelope, successEnvelope } from '../../src/api/envelope.js';

// A real HTTP listener on 127.0.0.1 that records each request byte for byte and answers with a
// Tencent envelope, so the official SDKs run unmodified and their calls resolve (or reject with
// a Tencent error when `failNext` is set).

export interface CaptureServer {
  /** `127.0.0.1:<port>`, the SDKs' httpProfile.endpoint. */
  endpoint: string;
  requests: RawApiRequest[];
  /** Answer the next request with this error envelope instead of success. */
  failNext(code: string, message: string): void;
  /** Runs `call` and returns the one request it sent. */
  capture(call: () => Promise<unknown>): Promise<RawApiRequest>;
  close(): Promise<void>;
}

export async function startCaptureServer(): Promise<CaptureServer> {
  const requests: RawApiRequest[] = [];
  let nextError: { code: string; message: string } | undefined;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: { ...req.headers },
        rawBody: Buffer.concat(chunks),
      });
      const requestId = randomUUID();
      const body = nextError ? errorEnvelope(nextError.code as TencentErrorCode, nextError.message, requestId) : successEnvelope({}, requestId);
      nextError = undefined;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `127.0.0.1:${port}`,
    requests,
    failNext(code, message) {
      nextError = { code, message };
    },
    async capture(call) {
      const before = requests.length;
      await call();
      if (requests.length !== before + 1) throw new Error(`expected one request, saw ${requests.length - before}`);
      return requests[before];
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
