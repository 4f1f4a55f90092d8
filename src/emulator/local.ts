import { dirname, join } from 'node:path';
import type { Milliseconds } from '../../workflows/duration';
import { startEmulator, type RunningEmulator } from './server';
import type { EmulatorLogger } from './ssh/gateway';

/**
 * The emulator as `npm start` runs it: the config's host, port and create delay, state on disk,
 * and its own files (SSH host key, learners' homes) in `emulator/` beside the state file.
 */
export function startLocalEmulator(
  config: { host: string; port: number; createDelay: Milliseconds },
  stateFile: string,
  adminToken?: string,
  logger?: EmulatorLogger,
): Promise<RunningEmulator> {
  return startEmulator({
    host: config.host,
    port: config.port,
    createDelayMs: config.createDelay,
    stateFile,
    dataDir: join(dirname(stateFile), 'emulator'),
    adminToken,
    logger,
  });
}
