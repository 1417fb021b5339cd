import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { errorEnvelope } from './envelope.js';
import type { TencentErrorCode } from './error-codes.js';

// Requests Node's HTTP parser refuses before Express sees them — a header block beyond
// maxHeaderSize (a GET URL near the 32 KB of docs/contract/protocol.md#endpoint), a malformed request line, broken
// chunked encoding — get the Tencent error envelope (HTTP 200, docs/contract/protocol.md#envelope) like every other refusal,
// instead of Node's bare 400/431 that the SDKs report as a code-less transport error.

/** Header block size allowed: a 32 KB GET URL (docs/contract/protocol.md#endpoint) plus ordinary headers. */
export const MAX_HEADER_BYTES = 64 * 1024;

export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  // Nothing to answer on a connection that is gone or timed out waiting for the client.
  if (err.code === 'ECONNRESET' || err.code === 'HPE_REQUEST_TIMEOUT' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [code, message]: [TencentErrorCode, string] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? ['RequestSizeLimitExceeded', `The request line and headers exceed ${MAX_HEADER_BYTES} bytes.`]
      : ['UnsupportedProtocol', 'The request is not well-formed HTTP/1.1.'];
  const body = JSON.stringify(errorEnvelope(code, message, randomUUID()));
  socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
