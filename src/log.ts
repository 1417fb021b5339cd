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
        paths: ['pin', '*.pin', 'secretKey', '*.secretKey', 'SecretKey', '*.SecretKey', 'plaintext', '*.plaintext', 'Plaintext', '*.Plaintext', 'signature', '*.signature', 'authorization', '*.authorization', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
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
