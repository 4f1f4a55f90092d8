/**
 * The stack actions of a lab that has a stack: suspend, resume, reset and delete. Each goes
 * through `persist` (lab-core.ts): a Heat failure keeps the stack and is retried, shown in the
 * lab's statusReason, never turned into a deletion of the learner's work.
 */
import { condition, patched } from '@temporalio/workflow';
import { heatActionActivities, heatActivities, storeActivities } from './activity-proxies';
import { labErrorOf } from './failures';
import { LabBuild } from './lab-build';
import { ACTION_TIMEOUT_MS, iso, SURVIVE_OUTAGES, SUSPEND_REFUSED_BACKOFF_MS } from './lab-core';
import type { StackInfo } from './state';

export abstract class LabStackActions extends LabBuild {
  protected async suspend(): Promise<void> {
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
      return;
    await this.cleanUpStack('stack gone or broken at resume');
    await this.build('resuming');
  }

  protected async reset(): Promise<void> {
    await this.cleanUpStack('reset');
    await this.build('resetting');
  }

  protected async delete(): Promise<void> {
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
