import pino, { type Logger } from 'pino';

export type { Logger };

// Request and service logs. Anything that could carry a secret is redacted by path as a
// second line of defence; the first is never putting it in a log object.
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'hsmkms' },
      redact: {
        paths: [
          'pin',
          '*.pin',
          'secretKey',
          '*.secretKey',
          'SecretKey',
          '*.SecretKey',
          'plaintext',
          '*.plaintext',
          'Plaintext',
          '*.Plaintext',
          'signature',
          '*.signature',
          'authorization',
          '*.authorization',
          'req.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    // A silent logger (CLI commands) writes nothing: no buffer, timer or exit hook for it.
    destination ?? (level === 'silent' ? pino.destination(1) : stdoutDestination()),
  );
}

/**
 * Standard output, written a few kilobytes at a time instead of a write(2) per line (one per API
 * call: 8 µs of CPU per call on these VMs, docs/benchmarks.md), and at least every 250 ms; flushed
 * on exit. Each write is at most 4096 bytes of whole lines, so lines of several worker processes
 * sharing a pipe never interleave (PIPE_BUF). A SIGKILL loses at most the last 250 ms of log
 * lines — never audit events, which are committed before a call is answered.
 */
function stdoutDestination(): pino.DestinationStream {
  // Synchronous writes (no thread-pool trip per write); pino flushes only asynchronous
  // destinations at exit, so this one flushes itself.
  const dest = pino.destination({ dest: 1, sync: true, minLength: 3072, maxWrite: 4096, periodicFlush: 250 });
  // Not flushSync: sonic-boom 4 retries it forever when the reader is gone (EPIPE). flush()
  // writes one chunk (≤ maxWrite) synchronously in sync mode and goes quiet after an error;
  // what can be buffered here is under minLength plus one line, so two chunks at most.
  process.once('exit', () => {
    try {
      for (let i = 0; i < 3; i++) dest.flush();
    } catch {
      // destroyed: nothing left to write to.
    }
  });
  return dest;
}

/**
 * The logger for the one line every API call writes ("api call"): the same destination and
 * bindings, without the redaction pass. Its fields are fixed by the router — request id,
 * action, region, account and sub-account UINs, latency, error code — none of which can hold a
 * secret, and the redaction pass (15 paths, 8 of them wildcards) cost more than the rest of the
 * line: 8.5 µs of 11 µs per call (docs/benchmarks.md). Everything else keeps the redaction.
 */
export function requestLogger(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: [] } });
}
