import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** JSON logs on stdout. Credentials are redacted by configuration, wherever they appear. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'berth' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'password', 'secret', 'token', '*.password', '*.secret', '*.token'],
        censor: '[redacted]',
      },
    },
    destination as pino.DestinationStream | undefined,
  );
}
