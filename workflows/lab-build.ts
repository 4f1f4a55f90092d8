/**
 * How a lab gets a stack: capacity reserved (waiting in `queued`, first come first served), a
 * stack claimed from the warm pool or created on the first provider with room, its outputs read.
 * A failed create is cleaned up and the next provider tried; with none left the lab is `failed`.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
} from '@temporalio/workflow';
import {
  heatActionActivities,
  heatActivities,
  storeActivities,
  waitActivities,
} from './activity-proxies';
import { FailureType, labErrorOf } from './failures';
import {
  ACTION_TIMEOUT_MS,
  DELETE_TIMEOUT_MS,
  LabCore,
  POOL_CLAIM,
  QUEUE_POLL_MS,
  SURVIVE_OUTAGES,
} from './lab-core';
import { stackNameFor } from './policy';

/** Patch: a build's wait for CREATE_COMPLETE also reads the stack's outputs (no readOutputs). */
const OUTPUTS_WITH_CREATE = 'outputs-with-create';
import type { LabError, StackInfo } from './state';

export abstract class LabBuild extends LabCore {
  /**
   * Reserves capacity (waiting in `queued`, first come first served), then creates a stack of a
   * new generation on the first provider that has room; a failed create is cleaned up and the
   * next provider tried; with none left the lab is `failed`.
   */
  protected async build(building: 'launching' | 'resetting' | 'resuming'): Promise<void> {
    const { policy } = await this.refreshPolicy({ activity: false });
    if (!policy) {
      const error = {
        code: 'unknown_lab',
        message: `lab "${this.snapshot.lab}" is not in the worker's configuration`,
      };
      return this.transition('failed', { error, provider: null, stack: null }, error.message);
    }
    let candidates = policy.providers;
    let lastError: LabError = {
      code: 'no_provider',
      message: 'no provider has capacity for this lab',
    };
    let firstAttempt = true;
    if (building === 'launching' && policy.pooled && patched(POOL_CLAIM)) {
      if (await this.launchFromPool()) return;
    }
    while (candidates.length > 0) {
      const provider = await this.reserve(candidates, policy.providers, firstAttempt);
      if (provider === 'deleted') return;
      if (provider === null) break;
      firstAttempt = false;
      if (this.intents.has('delete') && patched(SURVIVE_OUTAGES)) {
        // A delete accepted while queued (or before the create): no stack is made for it. The
        // delete releases the capacity just reserved.
        this.intents.take('delete');
        return this.transition(
          'deleting',
          { provider, stack: null },
          'delete requested before the stack was created',
        );
      }
      const generation = this.snapshot.generation + 1;
      const stackName = stackNameFor(this.snapshot.lab, this.snapshot.labId, generation);
      await this.transition(
        building,
        { provider, generation, stack: null, outputs: {}, error: null, fromPool: false },
        `building ${stackName} on ${provider}`,
      );
      try {
        const deadline = Date.now() + policy.launchTimeout;
        const created = await heatActivities.createStack({
          labId: this.snapshot.labId,
          lab: this.snapshot.lab,
          provider,
          stackName,
          timeoutMs: policy.launchTimeout,
        });
        this.snapshot.stack = created;
        // The wait also reads the outputs from Heat's last answer (one call and one activity
        // fewer per launch); labs from before read them with readOutputs.
        const withOutputs = patched(OUTPUTS_WITH_CREATE);
        const complete = await this.waitUnlessDeleted(() =>
          waitActivities.waitForStackCreated({
            labId: this.snapshot.labId,
            lab: this.snapshot.lab,
            provider,
            stack: created,
            generation,
            deadline,
            ...(withOutputs ? { withOutputs: this.secretOutputNames() } : {}),
          }),
        );
        if (complete === 'deleted')
          return this.transition('deleting', {}, 'delete requested while building');
        const { outputs, ...stack } = complete;
        const known = withOutputs ? (outputs ?? {}) : undefined;
        if (
          await this.readyOn(provider, stack, generation, `${stackName} is CREATE_COMPLETE`, known)
        )
          return;
        throw ApplicationFailure.nonRetryable(
          `${stackName} was gone before its outputs were read`,
          FailureType.StackGone,
        );
      } catch (err) {
        if (isCancellation(err)) throw err;
        lastError = labErrorOf(err);
        if (!this.snapshot.stack && patched(SURVIVE_OUTAGES)) {
          // The create may have reached Heat with its answer lost: the stack is looked up by its
          // deterministic name and deleted in the background, so a failover is not held up by
          // a provider that is down.
          this.unconfirmed.push({ provider, stackName });
          this.sweepUnconfirmed();
        }
        await this.record(`${lastError.code} on ${provider}: ${lastError.message}`);
        await this.cleanUpStack(`${lastError.code}: ${lastError.message}`);
        candidates = candidates.slice(candidates.indexOf(provider) + 1);
      }
    }
    await this.transition(
      'failed',
      { error: lastError, provider: null, stack: null },
      lastError.message,
    );
  }

  /**
   * Claims a suspended stack of the lab's warm pool and resumes it: ready in the time of a
   * resume instead of a create. False when the pool has none ready (a miss) or the claimed stack
   * would not resume (it is then deleted and its capacity released); the caller builds instead.
   */
  protected async launchFromPool(): Promise<boolean> {
    const { labId, lab } = this.snapshot;
    const generation = this.snapshot.generation + 1;
    const claim = await storeActivities.claimPoolStack({ labId, lab, generation });
    if (!claim) return false;
    await this.transition(
      'launching',
      {
        provider: claim.provider,
        generation,
        stack: claim.stack,
        outputs: {},
        error: null,
        fromPool: true,
        capacityHolder: claim.holder,
      },
      `claimed ${claim.stackName} from the warm pool`,
    );
    this.describe(`Heat to resume ${claim.stackName}`);
    let resumed: StackInfo | null = null;
    try {
      resumed = await heatActivities.resumeStack({
        labId,
        provider: claim.provider,
        stack: claim.stack,
        deadline: Date.now() + ACTION_TIMEOUT_MS,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      await this.record(`resume of the pool stack failed (${labErrorOf(err).message})`);
    }
    if (
      resumed &&
      (await this.readyOn(
        claim.provider,
        resumed,
        generation,
        `${claim.stackName} from the warm pool is ${resumed.status}`,
      ))
    )
      return true;
    await this.cleanUpStack('the claimed pool stack could not be resumed');
    return false;
  }

  /** Returns the provider reserved, null when none of the remaining ones has room, or 'deleted'. */
  protected async reserve(
    candidates: string[],
    all: string[],
    mayQueue: boolean,
  ): Promise<string | null | 'deleted'> {
    for (;;) {
      this.capacityFreed = false;
      const provider = await storeActivities.reserveCapacity({
        labId: this.snapshot.labId,
        candidates,
        queueAs: all,
        mayBeQueued: this.mayBeQueued,
      });
      // A reservation that found no room has put the lab in the queue.
      this.mayBeQueued = provider === null;
      if (provider) return provider;
      if (!mayQueue) {
        await storeActivities.leaveQueue({ labId: this.snapshot.labId });
        this.mayBeQueued = false;
        return null;
      }
      if (this.snapshot.state !== 'queued') {
        await this.transition(
          'queued',
          { provider: null, stack: null },
          'waiting for provider capacity',
        );
      }
      this.describe(`capacity on ${candidates.join(' or ')} (first come, first served)`);
      await condition(() => this.capacityFreed || this.intents.has('delete'), QUEUE_POLL_MS);
      if (this.intents.take('delete')) {
        await storeActivities.leaveQueue({ labId: this.snapshot.labId });
        await this.transition('deleting', {}, 'delete requested while queued');
        return 'deleted';
      }
      // A lab can wait in the queue for hours: its history is bounded like any waiting state's
      // (nothing is built yet, so the new run starts this build over).
      if (patched(SURVIVE_OUTAGES)) await this.continueAsNewIfLong();
    }
  }

  /** Runs a long stack wait, cancelling it when a delete is asked for (Heat deletes a stack mid-create). */
  protected async waitUnlessDeleted<T extends StackInfo>(
    wait: () => Promise<T>,
  ): Promise<T | 'deleted'> {
    const scope = new CancellationScope();
    const waiting = scope.run(wait);
    const deleteAsked = condition(() => this.intents.has('delete')).then(() => 'deleted' as const);
    const winner = await Promise.race([waiting, deleteAsked]);
    if (winner === 'deleted') {
      scope.cancel();
      await waiting.catch(() => undefined);
      this.intents.take('delete');
    }
    return winner;
  }

  /**
   * Reads the stack's outputs (the activity seals the secret ones) and makes the lab ready on
   * it. False when Heat no longer has the stack.
   */
  protected async readyOn(
    provider: string,
    stack: StackInfo,
    generation: number,
    reason: string,
    /** Outputs already read (and sealed) with the stack's last status. */
    known?: Record<string, unknown>,
  ): Promise<boolean> {
    const input = {
      labId: this.snapshot.labId,
      lab: this.snapshot.lab,
      provider,
      stack,
      generation,
      ...this.secretOutputNames(),
    };
    let outputs: Record<string, unknown> | null;
    if (known !== undefined) {
      outputs = known;
    } else if (patched(SURVIVE_OUTAGES)) {
      const outcome = await this.persist(`reading the outputs of ${stack.name}`, () =>
        heatActionActivities.readOutputs(input),
      );
      outputs = outcome.done ? outcome.value : null;
    } else {
      outputs = await heatActivities.readOutputs(input);
    }
    if (!outputs) return false;
    const now = Date.now();
    this.lastActivityAt = Math.max(this.lastActivityAt, now);
    await this.transition('ready', { stack, outputs, readyAt: now, suspendedAt: null }, reason);
    return true;
  }

  /** The lab's secret outputs by its last known policy (absent: the activity asks the configuration). */
  protected secretOutputNames(): { secretOutputs?: string[] } {
    return this.policy?.secretOutputs ? { secretOutputs: this.policy.secretOutputs } : {};
  }

  protected async fail(error: LabError): Promise<void> {
    await this.cleanUpStack(`${error.code}: ${error.message}`);
    await this.transition('failed', { error, provider: null, stack: null }, error.message);
  }

  /**
   * Deletes the lab's stack (no orphan is ever left behind) and releases its capacity. The
   * delete is retried until Heat confirms it (a DELETE_FAILED stack is asked again), so the
   * capacity is never released for a stack that still runs.
   */
  protected async cleanUpStack(why: string): Promise<void> {
    const { provider, stack } = this.snapshot;
    if (provider && stack) {
      this.describe(`Heat to delete ${stack.name} (${why})`);
      const input = {
        labId: this.snapshot.labId,
        provider,
        stack,
        deadline: Date.now() + DELETE_TIMEOUT_MS,
      };
      if (patched(SURVIVE_OUTAGES))
        await this.persist(
          `delete of ${stack.name}`,
          () => heatActionActivities.deleteStack(input),
          // A delete or a reset starts with this delete; elsewhere (a failed build, a broken
          // stack at resume) the state handler would not come back to it.
          { restartable: why === 'delete' || why === 'reset' },
        );
      else await heatActivities.deleteStack(input);
    }
    const holder = this.snapshot.capacityHolder;
    if (provider)
      await storeActivities.releaseCapacity({
        labId: this.snapshot.labId,
        provider,
        ...(holder ? { holder } : {}),
      });
    this.snapshot = { ...this.snapshot, stack: null, provider: null, capacityHolder: null };
  }
}
