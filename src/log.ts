import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * One JSON object per line. Tokens and secrets never reach a log line: the redact list is a
 * second line of defence for fields that might carry them by mistake.
 */
export function createLogger(level: string, name: string): Logger {
  return pino({
    name,
    level,
    base: { service: name },
    redact: {
      paths: [
        '*.authorization',
        '*.headers.authorization',
        '*.password',
        '*.secret',
        '*.token',
        '*.heartbeatToken',
        'secrets',
      ],
      censor: '[redacted]',
    },
  });
}
