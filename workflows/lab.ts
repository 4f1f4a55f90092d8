/**
 * The lab workflow: one long-running workflow per lab that owns its whole life
 * (queued -> launching -> ready -> suspending -> suspended -> resuming -> ... -> deleted).
 * Timers replace sweeper jobs; update handlers only record intent and answer at once, and the
 * main loop serialises every stack action, so Heat never sees an action on a stack mid-action.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ActivityFailure } from '@temporalio/workflow';
import { describeLab } from './details';
import {
  heatActivities,
  legacyLocalActivities,
  storeActivities,
  waitActivities,
} from './activity-proxies';
import {
  capacityFreedSignal,
  deleteLabUpdate,
  heartbeatSignal,
  INVALID_STATE_ERROR,
  labStatusQuery,
  launchLabUpdate,
  resetLabUpdate,
  retryLabUpdate,
  suspendLabUpdate,
  type CarriedState,
  type LabActionInput,
  type LabIntent,
  type LabWorkflowInput,
} from './messages';
import { stackNameFor, type LabPolicy } from './policy';
import { LabStateKey, ProviderKey } from './search-attributes';
import {
  isActionAllowed,
  type LabAction,
  type LabError,
  type LabSnapshot,
  type LabState,
  type StackInfo,
} from './state';

/** How long a queued lab waits before asking for capacity again when no capacityFreed signal comes. */
const QUEUE_POLL_MS = 30_000;
/** Deadline for a delete to reach DELETE_COMPLETE. */
const DELETE_TIMEOUT_MS = 15 * 60_000;
/** Deadline for a suspend or resume (each attempt; Temporal retries a refused one with backoff). */
const ACTION_TIMEOUT_MS = 10 * 60_000;
/**
 * Patch: policy reads are regular activities. As local activities they held the workflow task
 * open, and an update accepted meanwhile could not be replayed after a cache eviction.
 */
const POLICY_READ_ACTIVITY = 'policy-read-activity';
/** Patch: a launch of a lab with a warm pool first claims a suspended pool stack and resumes it. */
const POOL_CLAIM = 'pool-claim';
/** A lab's history is continued-as-new at the latest here (Temporal also suggests it earlier). */
const DEFAULT_HISTORY_LIMIT = 2_000;

export async function labWorkflow(
  input: LabWorkflowInput & { historyLimit?: number },
): Promise<void> {
  await new LabRun(input).run();
}

class LabRun {
  private snapshot: LabSnapshot;
  private intents: LabIntent[];
  private lastActivityAt: number;
  private seq: number;
  private policy: LabPolicy | null = null;
  private capacityFreed = false;
  /** When the current suspend began (workflow time), to tell a returning learner from a late heartbeat. */
  private suspendingSince: number | undefined;
  private readonly historyLimit: number;
  private readonly initialSeq: number;

  constructor(private readonly input: LabWorkflowInput & { historyLimit?: number }) {
    const carried: CarriedState | undefined = input.carried;
    const now = Date.now();
    this.snapshot = carried?.snapshot ?? {
      labId: input.labId,
      courseId: input.courseId,
      learnerId: input.learnerId,
      lab: input.lab,
      state: 'queued',
      generation: 0,
      provider: null,
      stack: null,
      outputs: {},
      error: null,
      lifeStartedAt: now,
      readyAt: null,
      suspendedAt: null,
    };
    this.intents = carried?.intents ?? [];
    this.lastActivityAt = carried?.lastActivityAt ?? now;
    // Projection writes are ordered by seq; a new life of a deleted lab (a new run) must write
    // over the old life's document, so a fresh run starts from its start time in ms, which is
    // above any seq an earlier life reached (each transition takes at least a millisecond).
    this.seq = carried?.seq ?? now;
    this.initialSeq = this.seq;
    this.historyLimit = input.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    this.registerHandlers();
  }

  private registerHandlers(): void {
    setHandler(labStatusQuery, () => this.snapshot);
    setHandler(launchLabUpdate, () => {
      this.onLaunch();
      return this.snapshot;
    });
    const accept = (action: LabAction) => ({
      handler: (_input: LabActionInput) => {
        this.addIntent(action);
        return this.snapshot;
      },
      options: { validator: (_input: LabActionInput) => this.assertAllowed(action) },
    });
    const suspend = accept('suspend');
    setHandler(suspendLabUpdate, suspend.handler, suspend.options);
    const reset = accept('reset');
    setHandler(resetLabUpdate, reset.handler, reset.options);
    const del = accept('delete');
    setHandler(deleteLabUpdate, del.handler, del.options);
    const retry = accept('retry');
    setHandler(retryLabUpdate, retry.handler, retry.options);
    setHandler(heartbeatSignal, ({ at }) => {
      this.lastActivityAt = Math.max(this.lastActivityAt, at);
      // A heartbeat on a suspended lab means the learner is back; one sent before the suspend
      // began (relayed late by the API's coalescing) does not.
      const suspending =
        this.snapshot.state === 'suspended' || this.snapshot.state === 'suspending';
      const since = this.suspendingSince ?? this.snapshot.suspendedAt ?? 0;
      if (suspending && at > since) this.addIntent('resume');
    });
    setHandler(capacityFreedSignal, () => {
      this.capacityFreed = true;
    });
  }

  private assertAllowed(action: LabAction): void {
    if (!isActionAllowed(action, this.snapshot.state)) {
      throw ApplicationFailure.create({
        type: INVALID_STATE_ERROR,
        message: `cannot ${action} a lab that is ${this.snapshot.state}`,
        nonRetryable: true,
      });
    }
  }

  /** Launch means "bring the lab to ready": resume it, retry it, or start a new life. */
  private onLaunch(): void {
    this.lastActivityAt = Math.max(this.lastActivityAt, Date.now());
    switch (this.snapshot.state) {
      case 'suspended':
      case 'suspending':
        return this.addIntent('resume');
      case 'failed':
        return this.addIntent('retry');
      case 'deleting':
      case 'deleted':
        return this.addIntent('launch');
      default:
        return;
    }
  }

  private addIntent(intent: LabIntent): void {
    if (!this.intents.includes(intent)) this.intents.push(intent);
  }

  private takeIntent(...wanted: LabIntent[]): LabIntent | undefined {
    const found = this.intents.find((i) => wanted.includes(i));
    if (found) this.intents = this.intents.filter((i) => i !== found);
    return found;
  }

  private dropIntents(...unwanted: LabIntent[]): void {
    this.intents = this.intents.filter((i) => !unwanted.includes(i));
  }

  async run(): Promise<void> {
    if (!this.input.carried) await this.transition('queued', {}, 'launch requested');
    for (;;) {
      switch (this.snapshot.state) {
        case 'queued':
        case 'launching':
          await this.build('launching');
          break;
        case 'resetting':
          await this.reset();
          break;
        case 'ready':
          await this.whileReady();
          break;
        case 'suspending':
          await this.suspend();
          break;
        case 'suspended':
          await this.whileSuspended();
          break;
        case 'resuming':
          await this.resume();
          break;
        case 'deleting':
          await this.delete();
          break;
        case 'failed':
          await this.whileFailed();
          break;
        case 'deleted':
          if (this.takeIntent('launch')) {
            await this.transition(
              'queued',
              {
                lifeStartedAt: Date.now(),
                error: null,
                outputs: {},
                readyAt: null,
                suspendedAt: null,
              },
              'launched again after delete',
            );
            break;
          }
          await condition(allHandlersFinished);
          return;
      }
    }
  }

  // ---- waiting states -------------------------------------------------------------------

  private async whileReady(): Promise<void> {
    for (;;) {
      this.dropIntents('launch', 'resume', 'retry');
      const next = this.takeIntent('delete', 'reset', 'suspend');
      if (next === 'delete') return this.transition('deleting', {}, 'delete requested');
      if (next === 'reset') return this.transition('resetting', {}, 'reset requested');
      if (next === 'suspend') return this.transition('suspending', {}, 'suspend requested');
      await this.continueAsNewIfLong();

      const { policy, lastActivityAt } = await this.refreshPolicy();
      this.lastActivityAt = Math.max(
        this.lastActivityAt,
        lastActivityAt ?? 0,
        this.snapshot.readyAt ?? 0,
      );
      const idleAt = this.lastActivityAt + policy.idleTimeout + policy.idleSlack;
      const endOfLife = this.endOfLife(policy);
      if (Date.now() >= endOfLife) return this.transition('deleting', {}, 'maxLifetime reached');
      if (Date.now() >= idleAt)
        return this.transition(
          'suspending',
          {},
          `idle for ${Math.round((Date.now() - this.lastActivityAt) / 1000)}s`,
        );
      this.describe(`a heartbeat, or idleness until ${iso(idleAt)}`);
      await condition(
        () => this.intents.length > 0,
        this.wakeIn(Math.min(idleAt, endOfLife), policy),
      );
    }
  }

  private async whileSuspended(): Promise<void> {
    for (;;) {
      this.dropIntents('suspend');
      const next = this.takeIntent('delete', 'reset', 'resume', 'launch', 'retry');
      if (next === 'delete') return this.transition('deleting', {}, 'delete requested');
      if (next === 'reset') return this.transition('resetting', {}, 'reset requested');
      if (next) return this.transition('resuming', {}, 'learner is back');
      await this.continueAsNewIfLong();

      const { policy } = await this.refreshPolicy();
      const retention = (this.snapshot.suspendedAt ?? Date.now()) + policy.deleteAfter;
      const deleteAt = Math.min(retention, this.endOfLife(policy));
      if (Date.now() >= deleteAt) {
        return this.transition(
          'deleting',
          {},
          deleteAt === retention
            ? `suspended for ${fmt(policy.deleteAfter)} (deleteAfter)`
            : 'maxLifetime reached',
        );
      }
      this.describe(`the learner's return, or deletion at ${iso(deleteAt)}`);
      await condition(() => this.intents.length > 0, this.wakeIn(deleteAt, policy));
    }
  }

  private async whileFailed(): Promise<void> {
    this.dropIntents('suspend', 'resume');
    await this.continueAsNewIfLong();
    this.describe('a retry from support staff (retryLab), a new launch, a reset or a delete');
    await condition(() => this.intents.length > 0);
    const next = this.takeIntent('delete', 'reset', 'retry', 'launch');
    if (next === 'delete') return this.transition('deleting', {}, 'delete requested');
    if (next === 'reset') return this.transition('resetting', {}, 'reset requested');
    if (next)
      return this.transition(
        'queued',
        { error: null },
        next === 'retry' ? 'retry requested' : 'launched again',
      );
  }

  // ---- stack actions --------------------------------------------------------------------

  /**
   * Reserves capacity (waiting in `queued`, first come first served), then creates a stack of a
   * new generation on the first provider that has room; a failed create is cleaned up and the
   * next provider tried; with none left the lab is `failed`.
   */
  private async build(building: 'launching' | 'resetting' | 'resuming'): Promise<void> {
    const { policy } = await this.refreshPolicy();
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
        const complete = await this.waitUnlessDeleted(() =>
          waitActivities.waitForStackCreated({
            labId: this.snapshot.labId,
            provider,
            stack: created,
            generation,
            deadline,
          }),
        );
        if (complete === 'deleted')
          return this.transition('deleting', {}, 'delete requested while building');
        return this.readyOn(provider, complete, generation, `${stackName} is CREATE_COMPLETE`);
      } catch (err) {
        if (isCancellation(err)) throw err;
        lastError = labErrorOf(err);
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
  private async launchFromPool(): Promise<boolean> {
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
    if (!resumed) {
      await this.cleanUpStack('the claimed pool stack could not be resumed');
      return false;
    }
    await this.readyOn(
      claim.provider,
      resumed,
      generation,
      `${claim.stackName} from the warm pool is ${resumed.status}`,
    );
    return true;
  }

  /** Returns the provider reserved, null when none of the remaining ones has room, or 'deleted'. */
  private async reserve(
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
      });
      if (provider) return provider;
      if (!mayQueue) {
        await storeActivities.leaveQueue({ labId: this.snapshot.labId });
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
      await condition(() => this.capacityFreed || this.intents.includes('delete'), QUEUE_POLL_MS);
      if (this.takeIntent('delete')) {
        await storeActivities.leaveQueue({ labId: this.snapshot.labId });
        await this.transition('deleting', {}, 'delete requested while queued');
        return 'deleted';
      }
    }
  }

  /** Runs a long stack wait, cancelling it when a delete is asked for (Heat deletes a stack mid-create). */
  private async waitUnlessDeleted(wait: () => Promise<StackInfo>): Promise<StackInfo | 'deleted'> {
    const scope = new CancellationScope();
    const waiting = scope.run(wait);
    const deleteAsked = condition(() => this.intents.includes('delete')).then(
      () => 'deleted' as const,
    );
    const winner = await Promise.race([waiting, deleteAsked]);
    if (winner === 'deleted') {
      scope.cancel();
      await waiting.catch(() => undefined);
      this.takeIntent('delete');
    }
    return winner;
  }

  private async suspend(): Promise<void> {
    const { provider, stack } = this.snapshot;
    if (!provider || !stack)
      return this.transition(
        'failed',
        { error: { code: 'no_stack', message: 'nothing to suspend' } },
        'no stack',
      );
    this.describe(`Heat to suspend ${stack.name}`);
    try {
      const suspended = await heatActivities.suspendStack({
        labId: this.snapshot.labId,
        provider,
        stack,
        deadline: Date.now() + ACTION_TIMEOUT_MS,
      });
      await this.transition(
        'suspended',
        { stack: suspended, suspendedAt: Date.now() },
        `${stack.name} is SUSPEND_COMPLETE`,
      );
    } catch (err) {
      await this.fail({ code: 'suspend_failed', message: labErrorOf(err).message });
    }
  }

  /** Checks the stack's real state in Heat first; resumes it, or recreates it when it is gone or broken. */
  private async resume(): Promise<void> {
    const { provider, stack } = this.snapshot;
    if (!provider || !stack) return this.build('resuming');
    this.describe(`Heat to resume ${stack.name}`);
    let resumed: StackInfo | null = null;
    try {
      resumed = await heatActivities.resumeStack({
        labId: this.snapshot.labId,
        provider,
        stack,
        deadline: Date.now() + ACTION_TIMEOUT_MS,
      });
    } catch (err) {
      await this.record(`resume failed (${labErrorOf(err).message}); recreating the stack`);
    }
    if (resumed)
      return this.readyOn(
        provider,
        resumed,
        this.snapshot.generation,
        `${stack.name} is ${resumed.status}`,
      );
    await this.cleanUpStack('stack gone or broken at resume');
    await this.build('resuming');
  }

  /** Reads the stack's outputs (the activity seals the secret ones) and makes the lab ready on it. */
  private async readyOn(
    provider: string,
    stack: StackInfo,
    generation: number,
    reason: string,
  ): Promise<void> {
    const outputs = await heatActivities.readOutputs({
      labId: this.snapshot.labId,
      lab: this.snapshot.lab,
      provider,
      stack,
      generation,
    });
    const now = Date.now();
    this.lastActivityAt = Math.max(this.lastActivityAt, now);
    await this.transition('ready', { stack, outputs, readyAt: now, suspendedAt: null }, reason);
  }

  private async reset(): Promise<void> {
    await this.cleanUpStack('reset');
    await this.build('resetting');
  }

  private async delete(): Promise<void> {
    await this.cleanUpStack('delete');
    await storeActivities.leaveQueue({ labId: this.snapshot.labId });
    await storeActivities.dropSecrets({ labId: this.snapshot.labId });
    this.dropIntents('delete', 'suspend', 'reset', 'resume', 'retry');
    await this.transition(
      'deleted',
      { stack: null, provider: null, outputs: {}, readyAt: null, suspendedAt: null },
      'stack deleted',
    );
  }

  private async fail(error: LabError): Promise<void> {
    await this.cleanUpStack(`${error.code}: ${error.message}`);
    await this.transition('failed', { error, provider: null, stack: null }, error.message);
  }

  /** Deletes the lab's stack (no orphan is ever left behind) and releases its capacity. */
  private async cleanUpStack(why: string): Promise<void> {
    const { provider, stack } = this.snapshot;
    if (provider && stack) {
      this.describe(`Heat to delete ${stack.name} (${why})`);
      await heatActivities.deleteStack({
        labId: this.snapshot.labId,
        provider,
        stack,
        deadline: Date.now() + DELETE_TIMEOUT_MS,
      });
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

  // ---- bookkeeping ----------------------------------------------------------------------

  private async refreshPolicy(): Promise<{ policy: LabPolicy; lastActivityAt: number | null }> {
    const input = { labId: this.snapshot.labId, lab: this.snapshot.lab };
    const current = patched(POLICY_READ_ACTIVITY)
      ? await storeActivities.currentPolicy(input)
      : await legacyLocalActivities.currentPolicy(input);
    // A lab removed from the configuration keeps its last known policy rather than dying.
    if (current.policy) this.policy = current.policy;
    if (!this.policy) {
      throw ApplicationFailure.nonRetryable(
        `lab "${this.snapshot.lab}" is not in the worker's configuration`,
        'UnknownLab',
      );
    }
    return { policy: this.policy, lastActivityAt: current.lastActivityAt };
  }

  /** Time until `at`, but at most the policy refresh interval, so a changed policy is seen in time. */
  private wakeIn(at: number, policy: LabPolicy): number {
    return Math.max(1, Math.min(at - Date.now(), policy.refreshEvery));
  }

  private endOfLife(policy: LabPolicy): number {
    return policy.maxLifetime === null
      ? Number.POSITIVE_INFINITY
      : this.snapshot.lifeStartedAt + policy.maxLifetime;
  }

  private async transition(
    state: LabState,
    patch: Partial<LabSnapshot>,
    reason: string,
  ): Promise<void> {
    const from = this.snapshot.state;
    if (state === 'suspending') this.suspendingSince = Date.now();
    const first = !this.input.carried && this.seq === this.initialSeq;
    this.snapshot = { ...this.snapshot, ...patch, state };
    this.seq += 1;
    upsertSearchAttributes([
      { key: LabStateKey, value: state },
      { key: ProviderKey, value: this.snapshot.provider },
    ]);
    this.describe(null, reason);
    await storeActivities.recordTransition({
      snapshot: this.snapshot,
      seq: this.seq,
      from: first ? null : from,
      reason,
    });
  }

  /** An audit line without a state change. */
  private async record(reason: string): Promise<void> {
    this.seq += 1;
    await storeActivities.recordTransition({
      snapshot: this.snapshot,
      seq: this.seq,
      from: this.snapshot.state,
      reason,
    });
  }

  private lastReason = '';
  private describe(waitingFor: string | null, reason?: string): void {
    if (reason) this.lastReason = reason;
    setCurrentDetails(describeLab(this.snapshot, this.lastReason, waitingFor));
  }

  private async continueAsNewIfLong(): Promise<void> {
    const info = workflowInfo();
    if (!info.continueAsNewSuggested && info.historyLength < this.historyLimit) return;
    await condition(allHandlersFinished);
    await continueAsNew<typeof labWorkflow>({
      ...this.input,
      carried: {
        snapshot: this.snapshot,
        intents: this.intents,
        lastActivityAt: this.lastActivityAt,
        seq: this.seq,
      },
    });
  }
}

function labErrorOf(err: unknown): LabError {
  const cause = (err as ActivityFailure)?.cause ?? err;
  const failure = cause as { type?: string; message?: string };
  const code =
    (
      {
        StackFailed: 'create_failed',
        LaunchTimeout: 'launch_timeout',
        Quota: 'quota',
        BadTemplate: 'bad_template',
        UnknownLab: 'unknown_lab',
        SuspendFailed: 'suspend_failed',
        ResumeFailed: 'resume_failed',
      } as Record<string, string>
    )[failure.type ?? ''] ?? 'heat_error';
  return { code, message: failure.message ?? String(err) };
}

const iso = (ms: number) => new Date(ms).toISOString();
const fmt = (ms: number) =>
  ms % 86_400_000 === 0
    ? `${ms / 86_400_000}d`
    : ms % 60_000 === 0
      ? `${ms / 60_000}m`
      : `${ms / 1000}s`;
