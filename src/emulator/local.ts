import type { Milliseconds } from '../../workflows/duration';
import { startEmulator, type RunningEmulator } from './server';

/** The emulator as `npm start` runs it: the config's host, port and create delay, state on disk. */
export function startLocalEmulator(
  config: { host: string; port: number; createDelay: Milliseconds },
  stateFile: string,
  adminToken?: string,
): Promise<RunningEmulator> {
  return startEmulator({
    host: config.host,
    port: config.port,
    createDelayMs: config.createDelay,
    stateFile,
    adminToken,
  });
}
