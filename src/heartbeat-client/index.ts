import { startHeartbeat } from './browser';
import { HeartbeatScheduler } from './scheduler';

/** The bundle's entry: `window.OpenedxLabHeartbeat.start({url, token, onResult, renewToken})`. */
(globalThis as unknown as Record<string, unknown>).OpenedxLabHeartbeat = {
  start: startHeartbeat,
  HeartbeatScheduler,
};
