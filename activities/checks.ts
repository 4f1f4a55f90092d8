import { ApplicationFailure, Context } from '@temporalio/activity';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHECKS_DIR, labNamed, type CheckConfig } from '../src/config';
import { hintOf, runScript } from '../src/checks/run-script';
import { LabUnreachable, openLabSession } from '../src/ssh/lab-session';
import type { CheckResult, CheckRunState } from '../src/store';
import type { CheckRunInput, CheckRunOutcome } from '../workflows/messages';
import type { ActivityDeps } from './context';
import { FailureType } from './errors';

/** How often a running check run reports that its worker is alive. */
const HEARTBEAT_EVERY_MS = 10_000;

/**
 * The graded checks of a lab: scripts under checks/ run on the learner's stack over SSH, one
 * SSH connection per run, each script under its own timeout on the lab. The decrypted
 * credentials stay in this activity; the workflow history gets the run's id and score only, the
 * results go to the `checks` collection.
 */
export function createCheckActivities(deps: ActivityDeps) {
  const now = () => deps.now?.() ?? new Date();

  /** The lab's checks of this run, in catalog order: all of them, or those named. */
  const checksOf = (input: CheckRunInput): CheckConfig[] => {
    const checks = labNamed(deps.config, input.lab)?.checks ?? [];
    return input.names ? checks.filter((c) => input.names!.includes(c.name)) : checks;
  };

  /** The points of these checks: their weights, all of them or those that passed. */
  const points = (checks: CheckConfig[], passed: (i: number) => boolean = () => true) =>
    checks.reduce((sum, c, i) => sum + (passed(i) ? c.weight : 0), 0);

  const cannotRun = (message: string) =>
    ApplicationFailure.nonRetryable(message, FailureType.ChecksCannotRun);

  return {
    /** Records the run as `running` (before the update that asked for it answers). */
    async startCheckRun(input: CheckRunInput): Promise<void> {
      const checks = checksOf(input);
      await deps.store.checks.start({
        _id: input.checkId,
        labId: input.labId,
        generation: input.generation,
        names: checks.map((c) => c.name),
        state: 'running',
        startedAt: new Date(input.startedAt),
        finishedAt: null,
        score: { earned: 0, possible: points(checks) },
        results: [],
        error: null,
      });
    },

    /**
     * Runs the checks and records their results. A script's failure or timeout is a result;
     * only failing to reach the lab is an error (retried by Temporal, then `failCheckRun`).
     */
    async runChecks(input: CheckRunInput): Promise<CheckRunOutcome> {
      const checks = checksOf(input);
      if (checks.length === 0) throw cannotRun(`lab ${input.lab} has no such checks`);
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      let ssh;
      try {
        ssh = await openLabSession(deps, {
          labId: input.labId,
          lab: input.lab,
          generation: input.generation,
          refuse: (doc) =>
            doc?.state === 'ready' && doc.generation === input.generation
              ? null
              : `the lab is ${doc?.state ?? 'gone'}, not the ready stack the run began on`,
        });
      } catch (err) {
        clearInterval(beat);
        if (err instanceof LabUnreachable) throw cannotRun(err.message);
        throw err;
      }
      const results: CheckResult[] = [];
      try {
        for (const check of checks) {
          const script = await readFile(join(CHECKS_DIR, check.script), 'utf8');
          const outcome = await runScript(ssh, script, check.timeout);
          const passed = !outcome.timedOut && outcome.exitCode === 0;
          const hint = passed ? null : hintOf(outcome) || null;
          results.push({
            name: check.name,
            title: check.title,
            passed,
            timedOut: outcome.timedOut,
            hint:
              outcome.timedOut && !hint ? `did not finish within ${check.timeout / 1000} s` : hint,
          });
          ctx.heartbeat();
        }
      } finally {
        clearInterval(beat);
        ssh.end();
      }
      const possible = points(checks);
      const earned = points(checks, (i) => results[i]!.passed);
      const state: CheckRunState = results.every((r) => r.passed) ? 'passed' : 'failed';
      await deps.store.checks.finish(input.checkId, {
        state,
        score: { earned, possible },
        results,
        error: null,
        finishedAt: now(),
      });
      return { checkId: input.checkId, state, earned, possible };
    },

    /** Records a run that could not run (the lab unreachable after retries): no grade from it. */
    async failCheckRun(input: CheckRunInput & { error: string }): Promise<CheckRunOutcome> {
      const possible = points(checksOf(input));
      await deps.store.checks.finish(input.checkId, {
        state: 'error',
        score: { earned: 0, possible },
        results: [],
        error: input.error,
        finishedAt: now(),
      });
      return { checkId: input.checkId, state: 'error', earned: 0, possible };
    },
  };
}
