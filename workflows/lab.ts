/**
 * The lab workflow: one long-running workflow per lab that owns its whole life
 * (queued -> launching -> ready -> suspending -> suspended -> resuming -> ... -> deleted).
 * Timers replace sweeper jobs; update handlers only record intent and answer at once, and the
 * main loop serialises every stack action, so Heat never sees an action on a stack mid-action.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  patched,
  setHandler,
} from '@temporalio/workflow';
import {
  iso,
  UNKNOWN_POLICY_RECHECK_MS,
  USAGE_LEDGER,
  USAGE_LIMITS,
  type LabInput,
} from './lab-core';
import { formatDuration } from './duration';
import { LabUsage, NO_USAGE_LIMIT } from './lab-usage';
import {
  capacityFreedSignal,
  heartbeatSignal,
  INVALID_STATE_ERROR,
  LAB_ACTION_UPDATES,
  labStatusQuery,
  launchLabSignal,
  launchLabUpdate,
  runChecksUpdate,
  type LabActionInput,
  type RunChecksInput,
} from './messages';
import type { LabPolicy } from './policy';
import { isActionAllowed, type LabAction } from './state';

export async function labWorkflow(input: LabInput): Promise<void> {
  await new LabRun(input).run();
}

/**
 * The main loop: one state handler at a time, each a waiting state (below) or a stack action
 * (lab-stack-actions.ts, lab-build.ts) that ends in a transition to the next state.
 */
class LabRun extends LabUsage {
  constructor(input: LabInput) {
    super(input);
    this.registerHandlers();
  }

  private registerHandlers(): void {
    setHandler(labStatusQuery, () => this.snapshot);
    setHandler(launchLabUpdate, () => {
      this.onLaunch();
      return this.snapshot;
    });
    setHandler(launchLabSignal, () => this.onLaunch());
    const accept = (action: LabAction) => ({
      handler: (_input: LabActionInput) => {
        this.intents.add(action);
        return this.snapshot;
      },
      options: { validator: (_input: LabActionInput) => this.assertAllowed(action) },
    });
    for (const [action, update] of Object.entries(LAB_ACTION_UPDATES) as Array<
      [LabAction, (typeof LAB_ACTION_UPDATES)[LabAction]]
    >) {
      const { handler, options } = accept(action);
      setHandler(update, handler, options);
    }
    setHandler(runChecksUpdate, (input) => this.acceptChecks(input), {
      validator: (_input: RunChecksInput) => this.assertReady('run checks'),
    });
    setHandler(heartbeatSignal, ({ at }) => {
      this.lastActivityAt = Math.max(this.lastActivityAt, at);
      this.learnerActive(at);
      // A heartbeat on a suspended lab means the learner is back; one sent before the suspend
      // began (relayed late by the API's coalescing) does not.
      const suspending =
        this.snapshot.state === 'suspended' || this.snapshot.state === 'suspending';
      const since = this.suspendingSince ?? this.snapshot.suspendedAt ?? 0;
      if (suspending && at > since) this.intents.add('resume');
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

  private assertReady(what: string): void {
    if (this.snapshot.state !== 'ready') {
      throw ApplicationFailure.create({
        type: INVALID_STATE_ERROR,
        message: `cannot ${what} on a lab that is ${this.snapshot.state}`,
        nonRetryable: true,
      });
    }
  }

  /** Launch means "bring the lab to ready": resume it, retry it, or start a new life. */
  private onLaunch(): void {
    this.lastActivityAt = Math.max(this.lastActivityAt, Date.now());
    this.learnerActive(Date.now());
    switch (this.snapshot.state) {
      case 'suspended':
      case 'suspending':
        return this.intents.add('resume');
      case 'failed':
        return this.intents.add('retry');
      case 'deleting':
      case 'deleted':
        return this.intents.add('launch');
      default:
        return;
    }
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
          if (this.intents.take('launch')) {
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
          await this.eventsStarted();
          await condition(allHandlersFinished);
          return;
      }
    }
  }

  // ---- waiting states -------------------------------------------------------------------

  private async whileReady(): Promise<void> {
    for (;;) {
      this.intents.drop('launch', 'resume', 'retry');
      // A check run accepted while ready goes first: what was asked after it waits for it.
      if (this.intents.take('check')) {
        await this.serveChecks();
        continue;
      }
      const next = this.intents.take('delete', 'reset', 'suspend');
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
      if (patched(USAGE_LEDGER)) {
        this.learnerActive(lastActivityAt ?? 0);
        // The learner is back after a staff retry: the running time is theirs from here.
        if (this.backFromStaff())
          await this.record('the learner is back: running time is charged to them from here');
      }
      const usage =
        policy.usageLimited && patched(USAGE_LIMITS) ? await this.watchUsage() : NO_USAGE_LIMIT;
      if (usage.suspendFor) return this.transition('suspending', {}, usage.suspendFor);
      const { suspendAt: idleAt, endOfLife } = this.deadlines(policy);
      if (Date.now() >= endOfLife) return this.transition('deleting', {}, 'maxLifetime reached');
      if (Date.now() >= idleAt)
        return this.transition(
          'suspending',
          {},
          `idle for ${Math.round((Date.now() - this.lastActivityAt) / 1000)}s`,
        );
      const nextWarning = Math.min(
        this.warnBefore('lab.suspend_warning', idleAt, policy),
        this.warnBefore('lab.delete_warning', endOfLife, policy),
      );
      this.describe(`a heartbeat, or idleness until ${iso(idleAt)}`);
      await condition(
        () => this.intents.any() || this.backFromStaff(),
        this.wakeIn(Math.min(idleAt, endOfLife, nextWarning, usage.wakeAt), policy),
      );
    }
  }

  private async whileSuspended(): Promise<void> {
    for (;;) {
      this.intents.drop('suspend');
      const next = this.intents.take('delete', 'reset', 'resume', 'launch', 'retry');
      if (next === 'delete') return this.transition('deleting', {}, 'delete requested');
      if (next === 'reset') return this.transition('resetting', {}, 'reset requested');
      if (next && !(await this.usageRefusesStart()))
        return this.transition('resuming', {}, 'learner is back');
      await this.continueAsNewIfLong();

      const { policy } = await this.refreshPolicy();
      if (!policy) {
        await this.waitForPolicy();
        continue;
      }
      const { deleteAt, deleteFor } = this.deadlines(policy);
      if (Date.now() >= deleteAt) {
        return this.transition(
          'deleting',
          {},
          deleteFor === 'deleteAfter'
            ? `suspended for ${formatDuration(policy.deleteAfter)} (deleteAfter)`
            : 'maxLifetime reached',
        );
      }
      const nextWarning = this.warnBefore('lab.delete_warning', deleteAt, policy);
      this.describe(`the learner's return, or deletion at ${iso(deleteAt)}`);
      await condition(
        () => this.intents.any(),
        this.wakeIn(Math.min(deleteAt, nextWarning), policy),
      );
    }
  }

  private async whileFailed(): Promise<void> {
    this.intents.drop('suspend', 'resume');
    await this.continueAsNewIfLong();
    this.describe('a retry from support staff (retryLab), a new launch, a reset or a delete');
    await condition(() => this.intents.any());
    const next = this.intents.take('delete', 'reset', 'retry', 'launch');
    if (next === 'delete') return this.transition('deleting', {}, 'delete requested');
    if (next === 'reset') return this.transition('resetting', {}, 'reset requested');
    // A retry is staff's: its running time is not charged to the learner until they are back.
    if (next === 'retry' && patched(USAGE_LEDGER)) this.staffSince = Date.now();
    if (next)
      return this.transition(
        'queued',
        { error: null },
        next === 'retry' ? 'retry requested' : 'launched again',
      );
  }

  /**
   * The warning before `deadline` (a suspend for idleness, or a deletion): sent once its lead
   * time is reached, if an endpoint wants it and the deadline is still ahead. A suspend warning
   * is sent once per idle spell (learner activity after it re-arms it); a delete warning once per
   * deadline (a new suspend makes a new one). Returns when the next warning is due (Infinity: none).
   */
  private warnBefore(
    type: 'lab.suspend_warning' | 'lab.delete_warning',
    deadline: number,
    policy: LabPolicy,
  ): number {
    const lead =
      type === 'lab.suspend_warning' ? policy.events?.suspendWarning : policy.events?.deleteWarning;
    if (lead == null || !Number.isFinite(deadline) || !this.wants(type)) return Infinity;
    const sent =
      type === 'lab.suspend_warning'
        ? this.warned.suspendAt >= this.lastActivityAt
        : this.warned.deleteFor === deadline;
    if (sent) return Infinity;
    const now = Date.now();
    if (now < deadline - lead) return deadline - lead;
    if (now < deadline)
      this.emit(
        type,
        deadline,
        type === 'lab.suspend_warning' ? { suspendAt: iso(deadline) } : { deleteAt: iso(deadline) },
      );
    if (type === 'lab.suspend_warning') this.warned = { ...this.warned, suspendAt: now };
    else this.warned = { ...this.warned, deleteFor: deadline };
    return Infinity;
  }

  /** A running lab whose policy is unknown (not configured, none carried) waits for it or for staff. */
  private async waitForPolicy(): Promise<void> {
    this.describe(
      `lab "${this.snapshot.lab}" to be back in the configuration, a delete, a reset or a suspend`,
    );
    await condition(() => this.intents.any(), UNKNOWN_POLICY_RECHECK_MS);
  }
}
