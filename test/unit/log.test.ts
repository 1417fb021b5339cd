import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, requestLogger } from '../../src/log.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, dest };
}

describe('loggers', () => {
  it('redact secrets by path on the service logger and its children', () => {
    const { lines, dest } = capture();
    const logger = createLogger('info', dest).child({ pid: 7 });
    logger.info({ secretKey: 'S3CRET', req: { headers: { authorization: 'TC3-HMAC-SHA256 x' } }, ctx: { pin: '1234', Plaintext: 'cGxhaW4=' } }, 'x');
    expect(lines[0]).toMatchObject({ pid: 7, secretKey: '[redacted]', req: { headers: { authorization: '[redacted]' } }, ctx: { pin: '[redacted]', Plaintext: '[redacted]' } });
  });

  it('write the per-call line with the same bindings and level, without the redaction pass, and leave the parent redacting', () => {
    const { lines, dest } = capture();
    const logger = createLogger('info', dest).child({ pid: 7 });
    const calls = requestLogger(logger);
    calls.info({ requestId: 'r1', action: 'Encrypt', latencyMs: 1.5 }, 'api call');
    calls.debug({ requestId: 'r2' }, 'not at info');
    logger.info({ secretKey: 'S3CRET' }, 'after');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ pid: 7, service: 'hsmkms', requestId: 'r1', action: 'Encrypt', latencyMs: 1.5, msg: 'api call' });
    expect(lines[1]).toMatchObject({ secretKey: '[redacted]' });
  });
});
