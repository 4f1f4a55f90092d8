/**
 * Progress lines while a long phase runs, so an operator watching a ten-minute bench sees that
 * it is alive and how it is going, without waiting for the table.
 */
export function reportEvery(
  label: string,
  everyMs: number,
  line: () => string | Promise<string>,
): { stop(): void } {
  const t0 = Date.now();
  let busy = false;
  const timer = setInterval(() => {
    // A slow line (it may read Mongo) is skipped rather than stacked behind itself.
    if (busy) return;
    busy = true;
    void Promise.resolve()
      .then(line)
      .then(
        (text) => console.log(`[${label}] +${Math.round((Date.now() - t0) / 1000)} s: ${text}`),
        (err: Error) =>
          console.log(`[${label}] +${Math.round((Date.now() - t0) / 1000)} s: (${err.message})`),
      )
      .finally(() => (busy = false));
  }, everyMs);
  return { stop: () => clearInterval(timer) };
}

export const MiB = 2 ** 20;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
