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
