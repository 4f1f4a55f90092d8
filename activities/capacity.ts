import type { ActivityDeps } from './context';

export function createCapacityActivities(deps: ActivityDeps) {
  const limitOf = (provider: string): number =>
    deps.config.providers.find((p) => p.name === provider)?.capacity ?? 0;
  const now = () => deps.now?.() ?? new Date();

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
    }): Promise<string | null> {
      const held = await deps.store.capacity.holderOf(input.labId);
      if (held && input.candidates.includes(held)) {
        await deps.store.capacity.dequeue(input.labId);
        return held;
      }
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
        if (ahead >= free) continue;
        if (await deps.store.capacity.reserve(provider, input.labId, limitOf(provider))) {
          await deps.store.capacity.dequeue(input.labId);
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
      const waiters = await deps.store.capacity.oldestWaiters(
        input.provider,
        Math.min(Math.max(free, 1), 20),
      );
      await Promise.all(
        waiters.map((w) =>
          deps
            .wakeQueuedLab(w._id, input.provider)
            .catch((err: Error) =>
              deps.logger.warn(
                { labId: w._id, err: err.message },
                'could not wake a queued lab; it retries at its next poll',
              ),
            ),
        ),
      );
    },

    /** A queued lab that is deleted leaves the queue. */
    async leaveQueue(input: { labId: string }): Promise<void> {
      await deps.store.capacity.dequeue(input.labId);
    },
  };
}
