/**
 * The pool workflow: one long-running workflow per lab with a `pool`, keeping that many stacks
 * built and suspended so a new learner's launch resumes one (seconds) instead of creating one
 * (minutes). Each wake it reads its target from the configuration (schedule included), forgets
 * stacks labs have claimed, replaces stacks Heat lost, builds what is missing and drains what
 * is beyond the target. Builds and drains run concurrently; the loop only starts them.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { heatActivities, storeActivities, waitActivities } from './activity-proxies';
import {
  poolClaimedSignal,
  poolStackNameFor,
  poolStatusQuery,
  type PoolPlan,
  type PoolSlot,
  type PoolStackRecord,
  type PoolStatus,
  type PoolWorkflowInput,
} from './pool-messages';

/** Deadline for a suspend of a freshly built stack, and for a delete. */
const ACTION_TIMEOUT_MS = 10 * 60_000;
/** After a build could not get capacity or failed, wait this long before building again. */
const BUILD_BACKOFF_MS = 30_000;
const DEFAULT_HISTORY_LIMIT = 2_000;
/**
 * Patch: a create that ran out of retries may still have made its stack (Heat took it, the
 * answer was lost): the stack is looked up by its deterministic name and deleted.
 */
const UNCONFIRMED_CREATE = 'pool-unconfirmed-create';

export async function poolWorkflow(
  input: PoolWorkflowInput & { historyLimit?: number },
): Promise<void> {
  await new PoolRun(input).run();
}

class PoolRun {
  private slots: PoolSlot[];
  /** Last generation used per slot: a slot's next stack gets a new name, a retried create the same. */
  private generations: number[];
  private target = 0;
  private yielding = false;
  private woken = false;
  /** A build or drain finished: the loop looks again. */
  private changed = false;
  private inFlight = 0;
  private lastHeatCheck = 0;
  private buildAgainAt = 0;
  private readonly historyLimit: number;

  constructor(private readonly input: PoolWorkflowInput & { historyLimit?: number }) {
    this.slots = input.carried?.slots ?? [];
    this.generations = input.carried?.generations ?? [];
    this.historyLimit = input.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    setHandler(poolClaimedSignal, () => {
      this.woken = true;
    });
    setHandler(poolStatusQuery, () => this.status());
  }

  async run(): Promise<void> {
    for (;;) {
      this.woken = false;
      this.changed = false;
      const plan = await storeActivities.currentPoolPlan({ lab: this.input.lab });
      this.target = plan?.target ?? 0;
      // Learners queued for capacity come first: the pool drains its ready stacks (their slots
      // wake the queue) and builds nothing until the queue is empty.
      this.yielding = plan?.learnersQueued ?? false;
      const askHeat = plan !== null && Date.now() >= this.lastHeatCheck + plan.checkEvery;
      if (askHeat) this.lastHeatCheck = Date.now();
      await this.forgetClaimedAndReplaceLost(askHeat);
      const winding = this.historyIsLong();
      if (plan && !winding && !this.yielding) this.fill(plan);
      this.drainExcess();
      this.describe();
      if (!plan && this.slots.length === 0 && this.inFlight === 0) return;
      if (winding && this.inFlight === 0) {
        await condition(allHandlersFinished);
        await continueAsNew<typeof poolWorkflow>({
          ...this.input,
          carried: { slots: this.slots, generations: this.generations },
        });
      }
      await condition(() => this.woken || this.changed, this.sleepFor(plan));
    }
  }

  private sleepFor(plan: PoolPlan | null): number {
    const now = Date.now();
    const wakes = [this.lastHeatCheck + (plan?.checkEvery ?? BUILD_BACKOFF_MS)];
    if (plan?.nextChangeInMs) wakes.push(now + plan.nextChangeInMs);
    if (this.buildAgainAt > now) wakes.push(this.buildAgainAt);
    return Math.max(1, Math.min(...wakes) - now);
  }

  private historyIsLong(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength >= this.historyLimit;
  }

  private live(): PoolSlot[] {
    return this.slots.filter((s) => s.phase !== 'draining');
  }

  private status(): PoolStatus {
    const live = this.live();
    return {
      lab: this.input.lab,
      target: this.target,
      ready: live.filter((s) => s.phase === 'ready').length,
      building: live.filter((s) => s.phase === 'building').length,
      deficit: Math.max(0, this.target - live.length),
    };
  }

  private describe(): void {
    const s = this.status();
    setCurrentDetails(
      [
        `**pool** of lab \`${s.lab}\`: size ${s.target}, ready ${s.ready}, building ${s.building}, deficit ${s.deficit}`,
        ...(this.yielding
          ? ['learners are queued for capacity: the pool gives its slots to them']
          : []),
        ...this.slots.map(
          (slot) =>
            `- ${slot.stackName}: ${slot.phase}${slot.provider ? ` on ${slot.provider}` : ''}`,
        ),
      ].join('\n\n'),
    );
  }

  // ---- what the loop starts -------------------------------------------------------------

  private fill(plan: PoolPlan): void {
    if (Date.now() < this.buildAgainAt) return;
    for (let missing = plan.target - this.live().length; missing > 0; missing--) {
      const slot = this.freeSlotNumber();
      const generation = (this.generations[slot] ?? 0) + 1;
      this.generations[slot] = generation;
      const pooled: PoolSlot = {
        slot,
        generation,
        stackName: poolStackNameFor(this.input.lab, slot, generation),
        phase: 'building',
        provider: null,
        stack: null,
        buildStartedAt: Date.now(),
        readyAt: null,
      };
      this.slots.push(pooled);
      this.inBackground(() => this.build(pooled, plan));
    }
  }

  private drainExcess(): void {
    const excess = this.live().length - (this.yielding ? 0 : this.target);
    if (excess <= 0) return;
    const drained = this.live()
      .filter((s) => s.phase === 'ready')
      .sort((a, b) => b.slot - a.slot)
      .slice(0, excess);
    for (const slot of drained) this.takeBackAndDelete(slot);
  }

  private async forgetClaimedAndReplaceLost(askHeat: boolean): Promise<void> {
    const ready = this.slots.filter((s) => s.phase === 'ready' && s.provider && s.stack);
    if (ready.length === 0) return;
    const checked = await heatActivities
      .checkPoolStacks({
        stacks: ready.map((s) => ({
          stackName: s.stackName,
          provider: s.provider!,
          stack: s.stack!,
        })),
        askHeat,
      })
      .catch((err: unknown) => {
        if (isCancellation(err)) throw err;
        // Heat or Mongo unreachable: nothing is learned this time; the next check asks again.
        return { claimed: [] as string[], lost: [] as string[] };
      });
    for (const slot of ready) {
      if (checked.claimed.includes(slot.stackName)) {
        this.remove(slot);
        await this.record(slot, 'claimed');
      } else if (checked.lost.includes(slot.stackName)) {
        this.takeBackAndDelete(slot);
      }
    }
  }

  // ---- background work ------------------------------------------------------------------

  private inBackground(work: () => Promise<void>): void {
    this.inFlight += 1;
    void work().finally(() => {
      this.inFlight -= 1;
      this.changed = true;
    });
  }

  /** Reserve, create, wait, suspend, record ready; a failure deletes what was made and backs off. */
  private async build(slot: PoolSlot, plan: PoolPlan): Promise<void> {
    try {
      const provider = await storeActivities.reservePoolCapacity({
        stackName: slot.stackName,
        candidates: plan.providers,
      });
      if (!provider) {
        // Nothing was made under this name: the slot's next build may use it.
        this.generations[slot.slot] = slot.generation - 1;
        this.remove(slot);
        this.buildAgainAt = Date.now() + BUILD_BACKOFF_MS;
        return;
      }
      slot.provider = provider;
      await this.record(slot, 'building');
      const deadline = Date.now() + plan.launchTimeout;
      const target = { labId: slot.stackName, provider };
      slot.stack = await heatActivities.createStack({
        ...target,
        lab: this.input.lab,
        stackName: slot.stackName,
        timeoutMs: plan.launchTimeout,
      });
      const complete = await waitActivities.waitForStackCreated({
        ...target,
        lab: this.input.lab,
        stack: slot.stack,
        generation: slot.generation,
        deadline,
      });
      slot.stack = await heatActivities.suspendStack({
        ...target,
        stack: complete,
        deadline: Date.now() + ACTION_TIMEOUT_MS,
      });
      slot.phase = 'ready';
      slot.readyAt = Date.now();
      await this.record(slot, 'ready');
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.buildAgainAt = Date.now() + BUILD_BACKOFF_MS;
      if (slot.provider && !slot.stack && patched(UNCONFIRMED_CREATE))
        slot.stack = { id: '', name: slot.stackName, status: 'UNKNOWN', statusReason: '' };
      await this.discard(slot);
    }
  }

  private takeBackAndDelete(slot: PoolSlot): void {
    slot.phase = 'draining';
    this.inBackground(async () => {
      const ours = await storeActivities.takeBackPoolStack({
        lab: this.input.lab,
        stackName: slot.stackName,
        provider: slot.provider!,
        stack: slot.stack!,
      });
      if (ours) return this.discard(slot);
      // A learner claimed it first: the stack and its capacity are the lab's now.
      this.remove(slot);
      await this.record(slot, 'claimed');
    });
  }

  /**
   * Deletes the stack (if one was made) and releases its capacity; the slot is free again. The
   * pool owns the stack until Heat confirms the delete, so it keeps trying (no orphan stack).
   */
  private async discard(slot: PoolSlot): Promise<void> {
    for (;;) {
      try {
        if (slot.provider && slot.stack) {
          await heatActivities.deleteStack({
            labId: slot.stackName,
            provider: slot.provider,
            stack: slot.stack,
            deadline: Date.now() + ACTION_TIMEOUT_MS,
          });
        }
        break;
      } catch (err) {
        if (isCancellation(err)) throw err;
        await sleep(BUILD_BACKOFF_MS);
      }
    }
    if (slot.provider)
      await storeActivities.releaseCapacity({ labId: slot.stackName, provider: slot.provider });
    this.remove(slot);
    await this.record(slot, 'discarded');
  }

  // ---- bookkeeping ----------------------------------------------------------------------

  /** The lowest slot without a live stack: a lost or drained stack's slot is reused, under a new generation. */
  private freeSlotNumber(): number {
    const used = new Set(this.live().map((s) => s.slot));
    let n = 0;
    while (used.has(n)) n += 1;
    return n;
  }

  private remove(slot: PoolSlot): void {
    this.slots = this.slots.filter((s) => s !== slot);
  }

  private record(slot: PoolSlot, state: PoolStackRecord['state']): Promise<void> {
    return storeActivities.recordPoolStack({
      lab: this.input.lab,
      stackName: slot.stackName,
      slot: slot.slot,
      generation: slot.generation,
      provider: slot.provider,
      stack: slot.stack,
      state,
      buildStartedAt: slot.buildStartedAt,
      readyAt: slot.readyAt,
    });
  }
}
