/**
 * Graded checks of a ready lab: a run is accepted by the `runChecks` update (recorded as
 * `running` before the update answers) and served by the main loop like a stack action, so a
 * suspend, reset or delete asked meanwhile waits for it, and a check never races a suspend.
 */
import { ActivityFailure, condition, patched, uuid4 } from '@temporalio/workflow';
import { checkActivities, storeActivities } from './activity-proxies';
import { LabStackActions } from './lab-stack-actions';
import type { CheckRunInput, CheckRunOutcome, RunChecksInput } from './messages';

/** Patch: labs run graded checks (the `check` intent, the runChecks update). */
export const PROGRESS_CHECKS = 'progress-checks';

export abstract class LabChecks extends LabStackActions {
  /** The run accepted and not finished; at most one per lab. */
  private checkRun: CheckRunInput | null = null;
  /** Its `running` record is written (the update that asked for it can answer). */
  private checkRecorded = false;

  /** The runChecks update's handler (its validator allows it only while the lab is ready). */
  protected async acceptChecks(input: RunChecksInput): Promise<{ checkId: string }> {
    if (this.checkRun) {
      const { checkId } = this.checkRun;
      await condition(() => this.checkRecorded);
      return { checkId };
    }
    patched(PROGRESS_CHECKS);
    const run: CheckRunInput = {
      checkId: `chk_${uuid4().replace(/-/g, '')}`,
      labId: this.snapshot.labId,
      lab: this.snapshot.lab,
      generation: this.snapshot.generation,
      names: input.names ?? null,
      startedAt: Date.now(),
    };
    this.checkRun = run;
    this.checkRecorded = false;
    // Asking for a check is learner activity; the intent makes the main loop serve it next.
    this.lastActivityAt = Math.max(this.lastActivityAt, run.startedAt);
    this.intents.add('check');
    await storeActivities.startCheckRun(run);
    this.checkRecorded = true;
    return { checkId: run.checkId };
  }

  /** Runs the accepted checks (main loop, state `ready`), then records the score in the audit trail. */
  protected async serveChecks(): Promise<void> {
    const run = this.checkRun;
    if (!run) return;
    await condition(() => this.checkRecorded);
    this.describe(`checks ${run.checkId} to finish`);
    let outcome: CheckRunOutcome;
    try {
      outcome = await checkActivities.runChecks(run);
    } catch (err) {
      outcome = await storeActivities.failCheckRun({ ...run, error: failureMessage(err) });
    }
    this.checkRun = null;
    this.lastActivityAt = Math.max(this.lastActivityAt, Date.now());
    await this.record(
      `checks ${run.checkId}: ${outcome.state} (${outcome.earned}/${outcome.possible})`,
    );
    this.emit('check.completed', run.checkId, { checkId: run.checkId });
  }
}

/** What went wrong with a run, as the learner and staff see it (never a credential). */
function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message : 'the checks could not run';
}
