import pino, { type DestinationStream, type Logger } from 'pino';
import { LAB_ID_PATTERN } from './temporal/ids';

export type { Logger };

/**
 * Every line about a lab carries both `labId` and `workflowId` (the same string, DESIGN), so
 * support staff can grep either and paste it into Temporal UI. Callers usually give one of
 * them: the Temporal SDK's own lines carry `workflowId`, ours `labId`.
 */
export function withLabIds(fields: Record<string, unknown>): Record<string, unknown> {
  const { labId, workflowId } = fields;
  if (typeof labId === 'string' && workflowId === undefined)
    return { ...fields, workflowId: labId };
  if (typeof workflowId === 'string' && labId === undefined && LAB_ID_PATTERN.test(workflowId))
    return { ...fields, labId: workflowId };
  return fields;
}

/**
 * One JSON object per line. Tokens and secrets never reach a log line: the redact list is a
 * second line of defence for fields that might carry them by mistake. `stream` is stdout
 * unless given (tests capture the lines to check them).
 */
export function createLogger(level: string, name: string, stream?: DestinationStream): Logger {
  return pino(
    {
      name,
      level,
      base: { service: name },
      formatters: { log: withLabIds },
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
    },
    stream,
  );
}
