/**
 * Share of a provider's capacity that pools always leave to learners: a pool reserves a slot
 * only while at least this much (and at least one slot) stays free after it, and never while a
 * learner waits for that provider.
 */
export const LEARNER_HEADROOM = 0.1;

export function learnerHeadroom(capacity: number): number {
  return capacity < 0 ? 0 : Math.max(1, Math.ceil(capacity * LEARNER_HEADROOM));
}

/** What pools may hold on a provider: every slot but the learners' headroom. */
export function poolLimitOf(capacity: number): number | null {
  return capacity < 0 ? null : Math.max(0, capacity - learnerHeadroom(capacity));
}
