/**
 * How long Heat has recently taken for an action (a lab's create on a provider, a resume), so a
 * wait asks Heat when the action is likely done instead of every half second from the start: a
 * 5-second create polled from its first second cost ten `show` calls, one near its end costs two.
 * Kept in the worker's memory: a restarted worker polls as before until it has seen a few.
 */
export class ActionDurations {
  private readonly samples = new Map<string, number[]>();

  constructor(
    /** The last this many durations of a kind count. */
    private readonly keep = 20,
    /** Below this many, nothing is expected yet. */
    private readonly atLeast = 3,
  ) {}

  record(kind: string, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const list = this.samples.get(kind) ?? [];
    list.push(ms);
    if (list.length > this.keep) list.shift();
    this.samples.set(kind, list);
  }

  /**
   * A duration most of the recent ones reached: the 25th percentile, so a wait's first poll
   * rarely comes after the action finished (a late first poll is a learner waiting).
   */
  expected(kind: string): number | undefined {
    const list = this.samples.get(kind);
    if (!list || list.length < this.atLeast) return undefined;
    const sorted = [...list].sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 4)];
  }
}
