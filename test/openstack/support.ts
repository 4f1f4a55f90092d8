import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProviderConfig } from '../../src/config/types';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator';
import { createHeatClient, type HeatClient, type HeatClientOptions } from '../../src/openstack';

export const TEMPLATES = join(__dirname, '../../heat-templates');

export function template(relativePath: string): string {
  return readFileSync(join(TEMPLATES, relativePath), 'utf8');
}

export function emulatorProvider(
  emulator: RunningEmulator,
  overrides: Partial<ProviderConfig> = {},
): ProviderConfig {
  return {
    name: 'emulated',
    region: emulator.region,
    capacity: -1,
    auth: {
      kind: 'password',
      authUrl: emulator.authUrl,
      user: { name: 'learner-ops', domainName: 'Default' },
      password: 'not-a-secret',
      project: { name: 'labs', domainName: 'Default' },
      interface: 'public',
    },
    ...overrides,
  };
}

/** Fast by default: tests wait on states, and small delays keep those waits short. */
export function startFastEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  return startEmulator({
    createDelayMs: 5,
    actionDelayMs: 2,
    deleteDelayMs: 2,
    waitScale: 0.02,
    ...options,
  });
}

export function clientFor(
  emulator: RunningEmulator,
  options: HeatClientOptions = {},
  overrides: Partial<ProviderConfig> = {},
): HeatClient {
  return createHeatClient(emulatorProvider(emulator, overrides), {
    requestTimeoutMs: 2_000,
    retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
    ...options,
  });
}

let counter = 0;
export function uniqueStackName(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

/** Fast polling for tests against the emulator. */
export const fastPoll = (ms = 10_000) => ({
  deadline: Date.now() + ms,
  minIntervalMs: 10,
  maxIntervalMs: 100,
  progressEveryMs: 10,
});

/** Polls `check` until it returns a value other than undefined, or fails at the deadline. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let interval = 10;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => {
      setTimeout(resolve, interval);
    });
    interval = Math.min(interval * 2, 500);
  }
}
