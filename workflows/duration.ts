/**
 * Durations are written one way everywhere: an integer and one unit ("90s", "15m", "14d"). Read
 * by the configuration, written by the workflows' audit lines: pure, so workflow-safe.
 */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+)(ms|s|m|h|d)$/;

export type Milliseconds = number;

/** Parses a duration string into milliseconds, or returns undefined when it is not one. */
export function parseDuration(text: string): Milliseconds | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const [, amount, unit] = match;
  return Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
}

/** Formats milliseconds back into the largest unit that divides them exactly ("900000" -> "15m"). */
export function formatDuration(ms: Milliseconds): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms > 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
