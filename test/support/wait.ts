/** How often a waiting test looks again: a poll interval inside a deadline, not a sleep. */
const POLL_MS = 100;

const tick = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value (not undefined or false), within a deadline. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    await tick(POLL_MS);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
}

/** Waits until `probe` is true, within a deadline. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  await eventually(what, async () => (await probe()) || undefined, timeoutMs);
}

/** The rhythm of simulated learner activity (a heartbeat every `ms`), not a wait for a state. */
export function pace(ms: number): Promise<void> {
  return tick(ms);
}
