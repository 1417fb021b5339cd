import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
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

// The service's own stdout destination buffers lines (a write per ~3 KB, not per line): what is
// buffered must still come out at exit, and a reader that went away must not hang the exit.
describe('stdout log destination (dist build, as `hsmkms serve` runs it)', () => {
  const LOG = path.resolve(__dirname, '../../dist/src/log.js');
  const script = (body: string) => `import(${JSON.stringify(LOG)}).then(({ createLogger }) => { const l = createLogger('info'); ${body} });`;

  it('writes every line: on process.exit, on an uncaught exception and at the end of work, each line whole', () => {
    expect(existsSync(LOG), 'dist/ is missing: run `npm run build` (scripts/test does)').toBe(true);
    for (const body of [
      "for (let i = 0; i < 1003; i++) l.info({ i, pad: 'x'.repeat(i % 200) }, 'line'); process.exit(0);",
      "for (let i = 0; i < 1003; i++) l.info({ i, pad: 'x'.repeat(i % 200) }, 'line'); setTimeout(() => { throw new Error('boom'); }, 5);",
      "for (let i = 0; i < 1003; i++) l.info({ i, pad: 'x'.repeat(i % 200) }, 'line');",
    ]) {
      const r = spawnSync(process.execPath, ['-e', script(body)], { encoding: 'utf8', timeout: 20_000 });
      const lines = r.stdout
        .split('\n')
        .filter(Boolean)
        .map((t) => JSON.parse(t) as { i: number });
      expect(lines.map((l) => l.i)).toEqual(Array.from({ length: 1003 }, (_, i) => i));
    }
  });

  it('exits promptly when the reader has closed the pipe before the exit flush (EPIPE)', async () => {
    const child = spawn(process.execPath, ['-e', script("l.info('still buffered at exit');")], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(-1);
      }, 15_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code).not.toBe(-1);
  });
});
