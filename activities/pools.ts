import { labNamed } from '../src/config';
import type { PoolClaimDocument, PoolStackDocument } from '../src/store';
import { learnerHeadroom } from '../src/pools/headroom';
import { poolPlan } from '../src/pools/schedule';
import type { StackInfo } from '../workflows/state';
import type { PoolPlan, PoolStackRecord } from '../workflows/pool-messages';
import type { ActivityDeps } from './context';

/** What a lab gets from a successful claim: a suspended stack and the capacity it holds. */
export interface PoolClaim {
  stackName: string;
  provider: string;
  stack: StackInfo;
  /** The capacity holder of the stack (its name): the lab releases it when it deletes the stack. */
  holder: string;
}

const claimOf = (doc: PoolClaimDocument): PoolClaim => ({
  stackName: doc._id,
  provider: doc.provider,
  stack: doc.stack,
  holder: doc._id,
});

/** A claim by a lab (not the pool's own, and not one a lab rejected because the stack was gone). */
const isLabClaim = (claim: PoolClaimDocument): boolean => claim.labId !== null;

/**
 * A lab's claim whose stack the lab is still looking for in Heat: it may yet be rejected, so
 * the pool neither forgets the stack nor takes it back until the lab has decided.
 */
const isUndecided = (claim: PoolClaimDocument): boolean =>
  isLabClaim(claim) && claim.verified === false;

/** Spreads concurrent claimants over the ready stacks instead of all trying the first one. */
function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function createPoolActivities(deps: ActivityDeps) {
  const now = () => deps.now?.() ?? new Date();
  const limitOf = (provider: string): number =>
    deps.config.providers.find((p) => p.name === provider)?.capacity ?? 0;
  const stillThere = async (provider: string, stack: StackInfo): Promise<boolean> => {
    const live = await deps.heat(provider).findStack(stack.id);
    return live !== null && live.status === 'SUSPEND_COMPLETE';
  };

  /**
   * Ends the verification of a lab's claim: true when Heat still has the stack (the claim is the
   * lab's for good), false when it is gone, deleted or broken by hand (the claim keeps others off
   * it, and the pool, woken, replaces it). A claim already confirmed is true at once.
   */
  const settled = async (claim: PoolClaimDocument, lab: string): Promise<boolean> => {
    if (claim.verified === false) {
      if (!(await stillThere(claim.provider, claim.stack).catch(() => false))) {
        await deps.store.pools.reject(claim._id);
        await wake(lab);
        return false;
      }
      await deps.store.pools.confirm(claim._id);
    }
    await wake(lab);
    return true;
  };

  return {
    /**
     * Takes a ready stack of the lab's pool for one lab generation, or returns null (a miss).
     * The claim is an insert keyed by the stack's name, so two launches never get the same
     * stack; a retry after a lost answer finds its own claim by claimant and returns the same
     * stack, so a claim that crashes half-way leaves the stack with the lab, never lost. The
     * claim is inserted undecided and confirmed once Heat shows the stack: a pool that looks
     * in between must not take the lab's word for a stack the lab is about to reject.
     */
    async claimPoolStack(input: {
      labId: string;
      lab: string;
      generation: number;
    }): Promise<PoolClaim | null> {
      const claimant = `${input.labId}:g${input.generation}`;
      const earlier = await deps.store.pools.claimBy(claimant);
      if (earlier && (await settled(earlier, input.lab))) return claimOf(earlier);
      for (const candidate of shuffled(await deps.store.pools.readyStacks(input.lab))) {
        if (!candidate.provider || !candidate.stack) continue;
        const doc: PoolClaimDocument = {
          _id: candidate._id,
          claimant,
          lab: input.lab,
          labId: input.labId,
          provider: candidate.provider,
          stack: candidate.stack,
          at: now(),
          verified: false,
        };
        if (!(await deps.store.pools.claim(doc))) continue;
        if (!(await settled(doc, input.lab))) continue;
        deps.logger.info(
          { labId: input.labId, workflowId: input.labId, stack: candidate._id },
          'claimed a warm pool stack',
        );
        return claimOf(doc);
      }
      await deps.store.pools.recordMiss(claimant, input.lab, now());
      return null;
    },

    /** The pool's target now and what it needs to act on; null when the lab has no pool (any more). */
    async currentPoolPlan(input: { lab: string }): Promise<PoolPlan | null> {
      const lab = labNamed(deps.config, input.lab);
      if (!lab?.pool) return null;
      const at = now().getTime();
      const providers = lab.providers.map((p) => p.name);
      const waiting = await Promise.all(
        providers.map((p) => deps.store.capacity.waitingAhead(`pool:${input.lab}`, p)),
      );
      const { target, nextChangeAt } = poolPlan(lab.pool, at);
      return {
        target,
        nextChangeInMs: nextChangeAt === null ? null : nextChangeAt - at,
        providers,
        learnersQueued: waiting.some((n) => n > 0),
        launchTimeout: lab.launchTimeout,
        checkEvery: lab.pool.checkEvery,
      };
    },

    /**
     * Reserves capacity for a pool stack on the first provider where learners keep their
     * headroom (see src/pools/headroom.ts) and none is queued; null when there is none. The stack's
     * name is its capacity holder, so a retry keeps the slot it got.
     */
    async reservePoolCapacity(input: {
      stackName: string;
      candidates: string[];
    }): Promise<string | null> {
      const { capacity } = deps.store;
      const held = await capacity.holderOf(input.stackName);
      if (held) return held;
      for (const provider of input.candidates) {
        const limit = limitOf(provider);
        if (limit === 0) continue;
        if ((await capacity.waitingAhead(input.stackName, provider)) > 0) continue;
        const headroom = learnerHeadroom(limit);
        if ((await capacity.free(provider, limit)) - 1 < headroom) continue;
        if (!(await capacity.reserve(provider, input.stackName, limit))) continue;
        // Learners reserved at the same moment: give the slot back rather than eat their headroom.
        if ((await capacity.free(provider, limit)) < headroom) {
          await capacity.release(provider, input.stackName);
          continue;
        }
        return provider;
      }
      return null;
    },

    async recordPoolStack(input: PoolStackRecord): Promise<void> {
      const doc: PoolStackDocument = {
        _id: input.stackName,
        lab: input.lab,
        slot: input.slot,
        generation: input.generation,
        provider: input.provider,
        stack: input.stack,
        state: input.state,
        buildStartedAt: new Date(input.buildStartedAt),
        readyAt: input.readyAt === null ? null : new Date(input.readyAt),
        endedAt: input.state === 'claimed' || input.state === 'discarded' ? now() : null,
      };
      await deps.store.pools.record(doc);
    },

    /**
     * Which of the pool's ready stacks a lab has claimed, and (when `askHeat`) which Heat no
     * longer has in a usable state; the pool forgets the first and replaces the second.
     */
    async checkPoolStacks(input: {
      stacks: Array<{ stackName: string; provider: string; stack: StackInfo }>;
      askHeat: boolean;
    }): Promise<{ claimed: string[]; lost: string[] }> {
      const claimed: string[] = [];
      const lost: string[] = [];
      for (const s of input.stacks) {
        const claim = await deps.store.pools.claimOf(s.stackName);
        // The claimant wakes the pool again once it has decided.
        if (claim && isUndecided(claim)) continue;
        if (claim && isLabClaim(claim)) claimed.push(s.stackName);
        else if (claim) lost.push(s.stackName);
        else if (input.askHeat && !(await stillThere(s.provider, s.stack))) lost.push(s.stackName);
      }
      return { claimed, lost };
    },

    /** The pool takes its own stack back before deleting it; false when a lab claimed it first. */
    async takeBackPoolStack(input: {
      lab: string;
      stackName: string;
      provider: string;
      stack: StackInfo;
    }): Promise<boolean> {
      const existing = await deps.store.pools.claimOf(input.stackName);
      if (existing && isUndecided(existing)) throw undecided(input.stackName);
      if (existing) return !isLabClaim(existing);
      const taken = await deps.store.pools.claim({
        _id: input.stackName,
        claimant: `pool:${input.stackName}`,
        lab: input.lab,
        labId: null,
        provider: input.provider,
        stack: input.stack,
        at: now(),
      });
      if (taken) return true;
      const winner = await deps.store.pools.claimOf(input.stackName);
      if (winner && isUndecided(winner)) throw undecided(input.stackName);
      return winner !== null && !isLabClaim(winner);
    },
  };

  /** Retried by the activity's policy: the claimant decides within one Heat call. */
  function undecided(stackName: string): Error {
    return new Error(`a lab is checking pool stack ${stackName} in Heat; asking again`);
  }

  async function wake(lab: string): Promise<void> {
    await deps
      .wakePool(lab)
      .catch((err: Error) =>
        deps.logger.warn(
          { lab, err: err.message },
          'could not wake the pool; it refills at its next check',
        ),
      );
  }
}
