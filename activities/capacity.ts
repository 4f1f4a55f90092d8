import type { ActivityDeps } from './context';

/** At most this many queue entries are woken (or checked for a live workflow) at a time. */
const WAKE_BATCH = 20;
/**
 * A lab blocked behind others while slots are free checks, at most this often per provider and
 * worker process, whether the labs ahead still have a workflow. Read-only and bounded: waking
 * them instead made every blocked poll a burst of signals, workflow tasks and activities.
 */
const RECONCILE_EVERY_MS = 30_000;

export function createCapacityActivities(deps: ActivityDeps) {
  const limitOf = (provider: string): number =>
    deps.config.providers.find((p) => p.name === provider)?.capacity ?? 0;
  const now = () => deps.now?.() ?? new Date();
  const lastReconciled = new Map<string, number>();

  /**
   * Removes the entries of the oldest labs queued for `provider` whose workflow is gone (at
   * most once per RECONCILE_EVERY_MS per provider). Returns how many it removed.
   */
  async function dropDeadWaiters(provider: string): Promise<number> {
    const alive = deps.isLabAlive;
    const last = lastReconciled.get(provider) ?? 0;
    if (!alive || Date.now() - last < RECONCILE_EVERY_MS) return 0;
    lastReconciled.set(provider, Date.now());
    const oldest = await deps.store.capacity.oldestWaiters(provider, WAKE_BATCH);
    const answers = await Promise.all(oldest.map((w) => alive(w._id).catch(() => true)));
    const dead = oldest.filter((_, i) => !answers[i]);
    for (const w of dead) {
      deps.logger.warn(
        { labId: w._id, provider },
        'removed the queue entry of a lab whose workflow is gone',
      );
      await deps.store.capacity.dequeue(w._id);
    }
    return dead.length;
  }

  /**
   * Wakes the oldest labs queued for `provider` (skipping `except`) until `wanted` live ones
   * were told, removing the entries of labs whose workflow is gone on the way: a dead entry
   * would otherwise block every lab behind it. Returns how many dead entries it removed.
   */
  async function wakeWaiters(provider: string, wanted: number): Promise<number> {
    let woken = 0;
    let removed = 0;
    const seen = new Set<string>();
    while (woken < wanted) {
      const batch = (await deps.store.capacity.oldestWaiters(provider, seen.size + WAKE_BATCH))
        .filter((w) => !seen.has(w._id))
        .slice(0, WAKE_BATCH);
      if (batch.length === 0) break;
      const answers = await Promise.all(
        batch.map((w) => {
          seen.add(w._id);
          return deps.wakeQueuedLab(w._id, provider).catch((err: Error) => {
            deps.logger.warn(
              { labId: w._id, err: err.message },
              'could not wake a queued lab; it retries at its next poll',
            );
            return true;
          });
        }),
      );
      for (const [i, alive] of answers.entries()) {
        if (alive) {
          woken += 1;
          continue;
        }
        deps.logger.warn(
          { labId: batch[i]!._id, provider },
          'removed the queue entry of a lab whose workflow is gone',
        );
        await deps.store.capacity.dequeue(batch[i]!._id);
        removed += 1;
      }
    }
    return removed;
  }

  return {
    /**
     * Reserves capacity for the lab on the first of `candidates` that has it and that no
     * earlier-queued lab is waiting for (first come, first served). Returns the provider, or
     * null after queueing the lab (it counts in `queued` of its first provider).
     */
    async reserveCapacity(input: {
      labId: string;
      candidates: string[];
      queueAs: string[];
      /**
       * False when the lab cannot be in the queue (it has not been queued since its last
       * reservation): nothing to remove from it. Absent (older callers): it may be.
       */
      mayBeQueued?: boolean;
    }): Promise<string | null> {
      // Each request counts: FerretDB is what a launch storm waits for (docs/benchmarks.md).
      const leaveQueue = () =>
        input.mayBeQueued === false ? Promise.resolve() : deps.store.capacity.dequeue(input.labId);
      const held = await deps.store.capacity.holderOf(input.labId);
      if (held && input.candidates.includes(held)) {
        await leaveQueue();
        return held;
      }
      // Until the first reservation attempt, the lookup above stands: no slot is held.
      let knownFree = held === null;
      for (const provider of input.candidates) {
        // First come, first served: take a slot only if fewer labs wait ahead than slots are free.
        // Unlimited capacity (-1) never queues: nothing to count (two fewer requests per launch).
        const [ahead, free] =
          limitOf(provider) < 0
            ? [0, Number.POSITIVE_INFINITY]
            : await Promise.all([
                deps.store.capacity.waitingAhead(input.labId, provider),
                deps.store.capacity.free(provider, limitOf(provider)),
              ]);
        // Slots are free but labs queued earlier should take them: unless those labs are gone.
        if (ahead >= free && free > 0 && (await dropDeadWaiters(provider)) > 0) {
          const aheadNow = await deps.store.capacity.waitingAhead(input.labId, provider);
          if (aheadNow >= free) continue;
        } else if (ahead >= free) continue;
        const noSlotHeld = knownFree;
        knownFree = false;
        if (
          await deps.store.capacity.reserve(
            provider,
            input.labId,
            limitOf(provider),
            now(),
            noSlotHeld,
          )
        ) {
          await leaveQueue();
          return provider;
        }
      }
      await deps.store.capacity.enqueue(input.labId, input.queueAs, now());
      return null;
    },

    /**
     * Releases the capacity of the lab's stack and wakes the oldest labs queued for that provider.
     * `holder` is the stack's holder when it is not the lab itself (a stack claimed from a pool
     * keeps the slot the pool reserved under the stack's name).
     */
    async releaseCapacity(input: {
      labId: string;
      provider: string;
      holder?: string;
    }): Promise<void> {
      await deps.store.capacity.release(input.provider, input.holder ?? input.labId);
      await deps.store.capacity.dequeue(input.labId);
      const free = await deps.store.capacity.free(input.provider, limitOf(input.provider));
      await wakeWaiters(input.provider, Math.min(Math.max(free, 1), WAKE_BATCH));
    },

    /** A queued lab that is deleted leaves the queue. */
    async leaveQueue(input: { labId: string }): Promise<void> {
      await deps.store.capacity.dequeue(input.labId);
    },
  };
}
