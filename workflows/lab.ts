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
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ActivityFailure } from '@temporalio/workflow';
import { describeLab } from './details';
import {
  heatActionActivities,
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
/** Deadline for one attempt of a suspend or resume (the lab's persist() tries again after it). */
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
/**
 * Patch: stack actions outlast Heat outages. A resume or suspend that fails is retried (the
 * stack is never deleted for it), deletes retry until done, outputs are read until read, a
 * create never confirmed is looked up by name and deleted, a delete accepted before the create
 * creates nothing, and a queued lab continues as new.
 */
const SURVIVE_OUTAGES = 'survive-heat-outages';
/**
 * Patch: a lab whose suspend, resume, delete or reset Heat keeps failing continues as new
 * between attempts once its history is long, and the new run tries the action again. A lab
 * held `suspending` for days by a stack Heat refuses to delete would otherwise grow tens of
 * thousands of events, and every replay of it (after a worker restart) costs that much.
 */
const CONTINUE_WHILE_RETRYING = 'continue-while-retrying';
/**
 * The first pause between the lab's own retries of a stack action; it doubles up to a minute,
 * so a lab moves within a minute of Heat coming back (a 5-minute cap left labs waiting out
 * their backoff long after a short outage, in the soak). After half an hour of failures the
 * pause grows to 5 minutes, which keeps a day-long outage to a few hundred history events.
 */
const RETRY_FIRST_MS = 5_000;
const RETRY_CAP_MS = 60_000;
const RETRY_LONG_OUTAGE_MS = 30 * 60_000;
const RETRY_MAX_MS = 5 * 60_000;
/** After Heat refused a suspend outright (SUSPEND_FAILED), an idle lab tries again this much later. */
const SUSPEND_REFUSED_BACKOFF_MS = 15 * 60_000;
/** How often a running lab whose policy is unknown (removed from the configuration) looks again. */
const UNKNOWN_POLICY_RECHECK_MS = 5 * 60_000;
/**
 * Lab error codes of Heat answers that refuse an action (create_failed: a stack that ended
 * *_FAILED, DELETE_FAILED included), as opposed to Heat being unreachable.
 */
const REFUSAL_CODES = ['suspend_failed', 'resume_failed', 'create_failed'];

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
  private policy: LabPolicy | null;
  private capacityFreed = false;
  /** Before this (epoch ms) an idle lab does not try to suspend again: Heat refused the last one. */
  private suspendRetryAt: number;
  /**
   * Stacks whose create Heat may have taken without confirming it (the create ran out of
   * retries): deleted by name in the background until Heat confirms, so none runs forever.
   */
  private unconfirmed: Array<{ provider: string; stackName: string }>;
  private sweeping = false;
  /** When the current suspend began (workflow time), to tell a returning learner from a late heartbeat. */
  private suspendingSince: number | undefined;
  /** Since when the action in progress has failed, when an earlier run carried it over. */
  private carriedFailingSince: number | undefined;
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
    this.policy = carried?.policy ?? null;
    this.suspendRetryAt = carried?.suspendRetryAt ?? 0;
    this.unconfirmed = carried?.unconfirmed ?? [];
    this.lastActivityAt = carried?.lastActivityAt ?? now;
    this.carriedFailingSince = carried?.failingSince;
    this.suspendingSince = carried?.suspendingSince;
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

  private hasIntent(...wanted: LabIntent[]): boolean {
    return this.intents.some((i) => wanted.includes(i));
  }

  async run(): Promise<void> {
    this.sweepUnconfirmed();
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
      if (!policy) {
        await this.waitForPolicy();
        continue;
      }
      this.lastActivityAt = Math.max(
        this.lastActivityAt,
        lastActivityAt ?? 0,
        this.snapshot.readyAt ?? 0,
      );
      const idleAt = Math.max(
        this.lastActivityAt + policy.idleTimeout + policy.idleSlack,
        this.suspendRetryAt,
      );
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
      if (!policy) {
        await this.waitForPolicy();
        continue;
      }
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
      if (this.hasIntent('delete') && patched(SURVIVE_OUTAGES)) {
        // A delete accepted while queued (or before the create): no stack is made for it. The
        // delete releases the capacity just reserved.
        this.takeIntent('delete');
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
        if (await this.readyOn(provider, complete, generation, `${stackName} is CREATE_COMPLETE`))
          return;
        throw ApplicationFailure.nonRetryable(
          `${stackName} was gone before its outputs were read`,
          'StackGone',
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
      // A lab can wait in the queue for hours: its history is bounded like any waiting state's
      // (nothing is built yet, so the new run starts this build over).
      if (patched(SURVIVE_OUTAGES)) await this.continueAsNewIfLong();
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
    const suspendIt = (proxy = heatActionActivities) =>
      proxy.suspendStack({
        labId: this.snapshot.labId,
        provider,
        stack,
        deadline: Date.now() + ACTION_TIMEOUT_MS,
      });
    if (!patched(SURVIVE_OUTAGES)) {
      try {
        const suspended = await suspendIt(heatActivities);
        await this.transition(
          'suspended',
          { stack: suspended, suspendedAt: Date.now() },
          `${stack.name} is SUSPEND_COMPLETE`,
        );
      } catch (err) {
        await this.fail({ code: 'suspend_failed', message: labErrorOf(err).message });
      }
      return;
    }
    const outcome = await this.persist(`suspend of ${stack.name}`, () => suspendIt(), {
      // A learner back, a reset or a delete come before a suspend that Heat holds up.
      until: () => this.hasIntent('delete', 'reset', 'resume', 'launch', 'retry'),
      isFinal: (error) => error.code === 'suspend_failed',
      restartable: true,
    });
    if (outcome.done && outcome.value)
      return this.transition(
        'suspended',
        { stack: outcome.value, suspendedAt: Date.now() },
        `${stack.name} is SUSPEND_COMPLETE`,
      );
    if (outcome.done) {
      // Heat has no stack any more: nothing to suspend and nothing to keep; the learner's
      // return builds a new one.
      await this.cleanUpStack('stack gone at suspend');
      return this.transition(
        'suspended',
        { suspendedAt: Date.now() },
        `${stack.name} was gone when the lab was to be suspended`,
      );
    }
    if (outcome.error) {
      // Heat refused the suspend itself: the lab stays up (running costs money, deleting costs
      // the learner's work) and the next idle check tries again later.
      this.suspendRetryAt = Date.now() + SUSPEND_REFUSED_BACKOFF_MS;
      return this.transition(
        'ready',
        {
          statusReason: `suspend refused by Heat (${outcome.error.message}); trying again after ${iso(this.suspendRetryAt)}`,
        },
        `suspend of ${stack.name} refused by Heat; the lab stays up`,
      );
    }
    const next = this.takeIntent('delete', 'reset', 'resume', 'launch', 'retry');
    if (next === 'delete')
      return this.transition('deleting', {}, 'delete requested while the suspend waited for Heat');
    if (next === 'reset')
      return this.transition('resetting', {}, 'reset requested while the suspend waited for Heat');
    // The stack may be running, suspending or suspended: a resume looks at it first.
    return this.transition('resuming', {}, 'learner is back while the suspend waited for Heat');
  }

  /**
   * Checks the stack's real state in Heat first and resumes it. It is recreated only when Heat
   * says it is gone or in a state no action can leave; while Heat fails, the lab stays
   * `resuming` (with a statusReason) and the resume is tried again, the stack kept.
   */
  private async resume(): Promise<void> {
    const { provider, stack } = this.snapshot;
    if (!provider || !stack) return this.build('resuming');
    this.describe(`Heat to resume ${stack.name}`);
    const resumeIt = (proxy = heatActionActivities) =>
      proxy.resumeStack({
        labId: this.snapshot.labId,
        provider,
        stack,
        deadline: Date.now() + ACTION_TIMEOUT_MS,
      });
    let resumed: StackInfo | null = null;
    if (patched(SURVIVE_OUTAGES)) {
      const outcome = await this.persist(`resume of ${stack.name}`, () => resumeIt(), {
        until: () => this.hasIntent('delete', 'reset'),
        restartable: true,
      });
      if (!outcome.done) {
        const next = this.takeIntent('delete', 'reset');
        return this.transition(
          next === 'reset' ? 'resetting' : 'deleting',
          {},
          `${next ?? 'delete'} requested while the resume waited for Heat`,
        );
      }
      resumed = outcome.value;
      if (!resumed) await this.record(`Heat says ${stack.name} is gone or cannot be resumed`);
    } else {
      try {
        resumed = await resumeIt(heatActivities);
      } catch (err) {
        await this.record(`resume failed (${labErrorOf(err).message}); recreating the stack`);
      }
    }
    if (
      resumed &&
      (await this.readyOn(
        provider,
        resumed,
        this.snapshot.generation,
        `${stack.name} is ${resumed.status}`,
      ))
    )
      return;
    await this.cleanUpStack('stack gone or broken at resume');
    await this.build('resuming');
  }

  /**
   * Reads the stack's outputs (the activity seals the secret ones) and makes the lab ready on
   * it. False when Heat no longer has the stack.
   */
  private async readyOn(
    provider: string,
    stack: StackInfo,
    generation: number,
    reason: string,
  ): Promise<boolean> {
    const input = {
      labId: this.snapshot.labId,
      lab: this.snapshot.lab,
      provider,
      stack,
      generation,
      ...(this.policy?.secretOutputs ? { secretOutputs: this.policy.secretOutputs } : {}),
    };
    let outputs: Record<string, unknown> | null;
    if (patched(SURVIVE_OUTAGES)) {
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

  private async reset(): Promise<void> {
    await this.cleanUpStack('reset');
    await this.build('resetting');
  }

  private async delete(): Promise<void> {
    await this.cleanUpStack('delete');
    await storeActivities.leaveQueue({ labId: this.snapshot.labId });
    await storeActivities.dropSecrets({ labId: this.snapshot.labId });
    // The lab ends only when no stack of it is left anywhere, unconfirmed creates included.
    if (this.unconfirmed.length > 0) {
      this.describe('Heat to confirm that stacks whose create was never confirmed are gone');
      await condition(() => this.unconfirmed.length === 0);
    }
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

  /**
   * Deletes the lab's stack (no orphan is ever left behind) and releases its capacity. The
   * delete is retried until Heat confirms it (a DELETE_FAILED stack is asked again), so the
   * capacity is never released for a stack that still runs.
   */
  private async cleanUpStack(why: string): Promise<void> {
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

  /**
   * Runs a stack action until Heat has done it. A failure (Heat down, a timeout, a 401 after a
   * password rotation, an action Heat refused) never deletes the stack: the lab's statusReason
   * says what is wrong since when (API, labctl, Temporal UI), and the action is tried again
   * after a pause that doubles up to a minute (5 minutes after half an hour), for as long as it
   * takes. `until` ends the wait between attempts (something the learner or staff asked for
   * comes first); `isFinal` ends it on an answer no retry fixes. The audit trail gets one line per kind of failure,
   * not one per attempt.
   */
  private async persist<T>(
    what: string,
    action: () => Promise<T>,
    options: {
      until?: () => boolean;
      isFinal?: (error: LabError) => boolean;
      /** The lab's state handler starts this action over in a new run (see CONTINUE_WHILE_RETRYING). */
      restartable?: boolean;
    } = {},
  ): Promise<{ done: true; value: T } | { done: false; error?: LabError }> {
    let failingSince: number | null = null;
    if (options.restartable) {
      failingSince = this.carriedFailingSince ?? null;
      this.carriedFailingSince = undefined;
    }
    let recorded = '';
    for (let attempt = 1; ; attempt++) {
      try {
        const value = await action();
        if (failingSince !== null) {
          this.snapshot.statusReason = null;
          await this.record(`${what} went through after ${fmt(Date.now() - failingSince)}`);
        }
        return { done: true, value };
      } catch (err) {
        if (isCancellation(err)) throw err;
        const error = labErrorOf(err);
        if (options.isFinal?.(error)) {
          this.snapshot.statusReason = null;
          return { done: false, error };
        }
        failingSince ??= Date.now();
        const since = clock(failingSince);
        this.snapshot.statusReason = REFUSAL_CODES.includes(error.code)
          ? `${what}: refused by Heat since ${since} (${error.message}), retrying`
          : error.code === 'stack_busy'
            ? `${what}: the stack has been busy in Heat since ${since} (${error.message}), retrying`
            : `${what}: Heat unavailable since ${since}, retrying`;
        const cap = Date.now() - failingSince < RETRY_LONG_OUTAGE_MS ? RETRY_CAP_MS : RETRY_MAX_MS;
        const pause = Math.min(cap, RETRY_FIRST_MS * 2 ** Math.min(attempt - 1, 16));
        if (this.snapshot.statusReason !== recorded) {
          recorded = this.snapshot.statusReason;
          await this.record(`${recorded} (${error.code}: ${error.message})`);
        }
        this.describe(`attempt ${attempt + 1} at ${iso(Date.now() + pause)} (${error.message})`);
        const interrupted = await condition(() => options.until?.() ?? false, pause);
        if (interrupted) {
          this.snapshot.statusReason = null;
          return { done: false };
        }
        if (options.restartable && patched(CONTINUE_WHILE_RETRYING))
          await this.continueAsNewIfLong(failingSince);
      }
    }
  }

  /** Deletes, in the background, stacks whose create was never confirmed, until Heat confirms. */
  private sweepUnconfirmed(): void {
    if (this.sweeping || this.unconfirmed.length === 0) return;
    this.sweeping = true;
    void (async () => {
      let failures = 0;
      while (this.unconfirmed.length > 0) {
        const { provider, stackName } = this.unconfirmed[0]!;
        try {
          await heatActivities.deleteStack({
            labId: this.snapshot.labId,
            provider,
            stack: { id: '', name: stackName },
            deadline: Date.now() + DELETE_TIMEOUT_MS,
          });
          this.unconfirmed = this.unconfirmed.slice(1);
          failures = 0;
          await this.record(`${stackName} on ${provider}, created unconfirmed, is gone`);
        } catch (err) {
          if (isCancellation(err)) throw err;
          failures += 1;
          await sleep(Math.min(RETRY_CAP_MS, RETRY_FIRST_MS * 2 ** Math.min(failures - 1, 16)));
        }
      }
      this.sweeping = false;
    })();
  }

  /** A running lab whose policy is unknown (not configured, none carried) waits for it or for staff. */
  private async waitForPolicy(): Promise<void> {
    this.describe(
      `lab "${this.snapshot.lab}" to be back in the configuration, a delete, a reset or a suspend`,
    );
    await condition(() => this.intents.length > 0, UNKNOWN_POLICY_RECHECK_MS);
  }

  // ---- bookkeeping ----------------------------------------------------------------------

  /**
   * The lab's current policy. A lab removed from the configuration keeps its last known one
   * (carried over continue-as-new); null only for a lab the workflow never had a policy for.
   */
  private async refreshPolicy(): Promise<{
    policy: LabPolicy | null;
    lastActivityAt: number | null;
  }> {
    const input = { labId: this.snapshot.labId, lab: this.snapshot.lab };
    const current = patched(POLICY_READ_ACTIVITY)
      ? await storeActivities.currentPolicy(input)
      : await legacyLocalActivities.currentPolicy(input);
    if (current.policy) this.policy = current.policy;
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
    // A state change ends whatever statusReason said, unless the change says something new.
    this.snapshot = { ...this.snapshot, statusReason: null, ...patch, state };
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

  /** `failingSince`: a stack action failing since then, started over by the new run. */
  private async continueAsNewIfLong(failingSince?: number): Promise<void> {
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
        policy: this.policy,
        suspendRetryAt: this.suspendRetryAt,
        unconfirmed: this.unconfirmed,
        ...(failingSince !== undefined ? { failingSince } : {}),
        ...(this.snapshot.state === 'suspending' && this.suspendingSince !== undefined
          ? { suspendingSince: this.suspendingSince }
          : {}),
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
        StackGone: 'stack_gone',
        StackBusy: 'stack_busy',
        HeatUnavailableError: 'heat_unavailable',
        HeatTimeoutError: 'heat_timeout',
        HeatUnauthorizedError: 'heat_unauthorized',
      } as Record<string, string>
    )[failure.type ?? ''] ?? 'heat_error';
  return { code, message: failure.message ?? String(err) };
}

const iso = (ms: number) => new Date(ms).toISOString();
/** A time of day, for "Heat unavailable since 12:03:10 UTC". */
const clock = (ms: number) => `${new Date(ms).toISOString().slice(11, 19)} UTC`;
const fmt = (ms: number) =>
  ms % 86_400_000 === 0
    ? `${ms / 86_400_000}d`
    : ms % 60_000 === 0
      ? `${ms / 60_000}m`
      : `${ms / 1000}s`;
