import {
  Runtime,
  type LogLevel,
  type LogMetadata,
  type Logger as TemporalLogger,
} from '@temporalio/worker';
import type { Logger } from '../log';

/**
 * Routes the Temporal SDK's own logs (worker state, bundling, activity failures) into our
 * structured JSON log at `minLevel` and above, so every line of the process is one JSON object.
 * Call once per process, before the first worker is created.
 */
export function installTemporalLogging(logger: Logger, minLevel: LogLevel = 'WARN'): void {
  const order: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
  const sdk = logger.child({ component: 'temporal-sdk' });
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => {
    if (order.indexOf(level) < order.indexOf(minLevel)) return;
    const method =
      level === 'TRACE' ? 'trace' : (level.toLowerCase() as 'debug' | 'info' | 'warn' | 'error');
    sdk[method](meta ?? {}, message);
  };
  const adapter: TemporalLogger = {
    log,
    trace: (m, meta) => log('TRACE', m, meta),
    debug: (m, meta) => log('DEBUG', m, meta),
    info: (m, meta) => log('INFO', m, meta),
    warn: (m, meta) => log('WARN', m, meta),
    error: (m, meta) => log('ERROR', m, meta),
  };
  Runtime.install({ logger: adapter });
}
