/**
 * The stack actions of a lab that has a stack: suspend, resume, reset and delete. Each goes
 * through `persist` (lab-core.ts): a Heat failure keeps the stack and is retried, shown in the
 * lab's statusReason, never turned into a deletion of the learner's work.
 */
import { condition, isCancellation, patched } from '@temporalio/workflow';
import {
  heatActionActivities,
  heatActivities,
  hookActivities,
  storeActivities,
} from './activity-proxies';
import { labErrorOf } from './failures';
import { LabBuild } from './lab-build';
import { ACTION_TIMEOUT_MS, iso, SURVIVE_OUTAGES, SUSPEND_REFUSED_BACKOFF_MS } from './lab-core';
import type { LabState, StackInfo } from './state';

/** Patch: labs run their in-lab hooks (postResume, preSuspend, preDelete) around transitions. */
export const LAB_HOOKS = 'lab-hooks';
type HookName = 'postResume' | 'preSuspend' | 'preDelete';

export abstract class LabStackActions extends LabBuild {
  /**
   * Runs an in-lab hook if the lab has one: the script's outcome (done, failed, timed out, lab
   * unreachable) goes to the audit trail and the lab moves on either way.
   */
  protected async runHook(hook: HookName): Promise<void> {
    if (!this.policy?.hooks?.[hook] || !patched(LAB_HOOKS)) return;
    this.describe(`the ${hook} hook to finish`);
    let line: string;
    try {
      const outcome = await hookActivities.runLabHook({
        labId: this.snapshot.labId,
        lab: this.snapshot.lab,
        generation: this.snapshot.generation,
        hook,
      });
      line = `${hook} hook: ${outcome.outcome} (${outcome.message})`;
    } catch (err) {
      if (isCancellation(err)) throw err;
      line = `${hook} hook: could not run (${labErrorOf(err).message})`;
    }
    await this.record(line);
  }

  /**
   * The preDelete hook runs on a running stack; a suspended one is resumed for it only when the
   * lab says so (a resume costs time and money for a lab about to go).
   */
  private async preDelete(from: LabState | null): Promise<void> {
    const { provider, stack } = this.snapshot;
    if (!this.policy?.hooks?.preDelete || !provider || !stack) return;
    if (from === 'ready') return this.runHook('preDelete');
    if (from !== 'suspended') return;
    if (!this.policy.hooks.preDeleteResumes || !patched(LAB_HOOKS))
      return this.record('preDelete hook: skipped (the stack is suspended)');
    try {
      await heatActionActivities.resumeStack({
        labId: this.snapshot.labId,
        provider,
        stack,
        deadline: Date.now() + ACTION_TIMEOUT_MS,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      return this.record(
        `preDelete hook: skipped (the suspended stack did not resume: ${labErrorOf(err).message})`,
      );
    }
    await this.runHook('preDelete');
  }

  protected async suspend(): Promise<void> {
    const { provider, stack } = this.snapshot;
    if (!provider || !stack)
      return this.transition(
        'failed',
        { error: { code: 'no_stack', message: 'nothing to suspend' } },
        'no stack',
      );
    // Once per suspend: a run that continued as new while Heat held the suspend up ran it already.
    if (this.carriedFailingSince === undefined) await this.runHook('preSuspend');
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
      until: () => this.intents.has('delete', 'reset', 'resume', 'launch', 'retry'),
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
    const next = this.intents.take('delete', 'reset', 'resume', 'launch', 'retry');
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
  protected async resume(): Promise<void> {
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
        until: () => this.intents.has('delete', 'reset'),
        restartable: true,
      });
      if (!outcome.done) {
        const next = this.intents.take('delete', 'reset');
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
      return this.runHook('postResume');
    await this.cleanUpStack('stack gone or broken at resume');
    await this.build('resuming');
  }

  protected async reset(): Promise<void> {
    await this.cleanUpStack('reset');
    await this.build('resetting');
  }

  protected async delete(): Promise<void> {
    // Once per delete: a run that continued as new while Heat held the delete up ran it already.
    if (this.carriedFailingSince === undefined) await this.preDelete(this.enteredFrom);
    await this.cleanUpStack('delete');
    await storeActivities.leaveQueue({ labId: this.snapshot.labId });
    await storeActivities.dropSecrets({ labId: this.snapshot.labId });
    // The lab ends only when no stack of it is left anywhere, unconfirmed creates included.
    if (this.unconfirmed.length > 0) {
      this.describe('Heat to confirm that stacks whose create was never confirmed are gone');
      await condition(() => this.unconfirmed.length === 0);
    }
    this.intents.drop('delete', 'suspend', 'reset', 'resume', 'retry');
    await this.transition(
      'deleted',
      { stack: null, provider: null, outputs: {}, readyAt: null, suspendedAt: null },
      'stack deleted',
    );
  }
}
