import type { LabState } from '../../../workflows/state';

/**
 * When a heartbeat on a suspended or suspending lab is relayed to its workflow as a signal.
 *
 * The first heartbeat in a state is signalled at once (the learner is back: resume now). The
 * workflow keeps that intent, so more signals in the same state add only history: each costs
 * four events, and a lab held `suspending` by a Heat outage was signalled every 5 s for half an
 * hour, grew ~1,500 events and its workflow tasks timed out replaying them on a busy worker.
 * Repeats in one state therefore back off (5 s, 10 s, 20 s ... at most `maxGapMs`); a repeat is
 * still needed now and then because the workflow ignores a heartbeat older than its suspend
 * (relayed late), and only the learner's next one brings them back. A new state starts over.
 */
export class SignalPacer {
  private readonly sent = new Map<string, { state: LabState; at: number; gapMs: number }>();

  constructor(
    private readonly firstGapMs: number,
    private readonly maxGapMs: number,
  ) {}

  /** Whether to signal `labId` for a heartbeat at `at` while it is `state`; if so, remembered. */
  take(labId: string, state: LabState, at: number): boolean {
    const last = this.sent.get(labId);
    if (last && last.state === state && at - last.at < last.gapMs) return false;
    const gapMs =
      last && last.state === state ? Math.min(last.gapMs * 2, this.maxGapMs) : this.firstGapMs;
    this.sent.set(labId, { state, at, gapMs });
    return true;
  }

  /** A signal that did not reach Temporal: the next heartbeat tries again. */
  forget(labId: string): void {
    this.sent.delete(labId);
  }

  /** Drops labs not signalled for a while (their learners left), so the map holds only active ones. */
  sweep(now: number): void {
    for (const [labId, last] of this.sent)
      if (now - last.at >= 2 * this.maxGapMs) this.sent.delete(labId);
  }
}
