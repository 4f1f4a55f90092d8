import type { Client, WorkflowExecutionStatusName } from '@temporalio/client';
import type { StackDeletion } from '../../src/emulator';
import type { LabEvent } from '../../src/store/events';
import { isTransition } from '../../workflows/state';

/**
 * Final checks of the chaos soak (issue 15) that join what three witnesses saw: the emulator's
 * deletion log (who deleted which stack, when), the labs' audit events in Mongo and the soak's
 * own requests; and Temporal's visibility, which keeps every run of a lab, failed ones included.
 */

/** A delete or reset the soak sent for a lab (whatever the answer), with when it was sent. */
export interface AskedAction {
  what: 'delete' | 'reset';
  at: number;
}

/**
 * The audit reasons (workflows/lab.ts) for which the product may delete a learner's stack, and
 * the request of the soak each one needs.
 */
const WARRANTS: Array<{ reason: RegExp; asked: AskedAction['what'] | null; name: string }> = [
  { reason: /^delete requested/, asked: 'delete', name: 'delete' },
  { reason: /^reset requested/, asked: 'reset', name: 'reset' },
  { reason: /\(deleteAfter\)$/, asked: null, name: 'retention' },
  { reason: /^maxLifetime reached/, asked: null, name: 'maxLifetime' },
];
/** Event times and the emulator's clock are one machine's; this only absorbs rounding. */
const CLOCK_SLACK_MS = 1000;

export interface DeletionVerdicts {
  breaches: string[];
  /** Deletions of the soak's stacks by warrant, e.g. `delete`, `retention`, `not ready`. */
  tally: Record<string, number>;
}

/**
 * Every deletion of a learner's stack must be warranted. A learner's stack is one the lab was
 * `ready` on (an event `to: ready` of its generation between the stack's creation and its
 * deletion; a stack name's generation repeats in a lab's later lives, the times tell them
 * apart); stacks that never got there (failed or interrupted builds) are no one's work and
 * cleanup may delete them. The warrant is a transition to `deleting` or `resetting` of that
 * generation, before the deletion, with a reason of WARRANTS; a delete or reset must also have
 * been sent by the soak after the stack was created.
 */
export function judgeDeletions(input: {
  deletions: StackDeletion[];
  /** The soak's lab id of a stack name, or undefined for a stack of no lab of this run. */
  labOf: (stackName: string) => string | undefined;
  events: Map<string, LabEvent[]>;
  asked: Map<string, AskedAction[]>;
  /** The soak's start: times in breaches are seconds since then. */
  started: number;
}): DeletionVerdicts {
  const breaches: string[] = [];
  const tally: Record<string, number> = {};
  const count = (what: string) => (tally[what] = (tally[what] ?? 0) + 1);
  const t = (ms: number) => `${((ms - input.started) / 1000).toFixed(1)} s`;
  for (const d of input.deletions) {
    const labId = input.labOf(d.stackName);
    if (!labId) continue;
    if (d.by.via === 'admin') {
      count('by hand');
      continue;
    }
    const generation = Number(/-g(\d+)$/.exec(d.stackName)?.[1] ?? NaN);
    const life = (input.events.get(labId) ?? []).filter(
      (e) =>
        e.generation === generation &&
        e.at.getTime() >= d.createdAt - CLOCK_SLACK_MS &&
        e.at.getTime() <= d.at + CLOCK_SLACK_MS,
    );
    const ready = life.find((e) => e.to === 'ready');
    if (!ready) {
      count('not ready');
      continue;
    }
    const warranted = life
      .filter((e) => (e.to === 'deleting' || e.to === 'resetting') && e.from !== e.to)
      .map((e) => ({ event: e, warrant: WARRANTS.find((w) => w.reason.test(e.reason)) }))
      .find((w) => w.warrant !== undefined);
    const what = `lab ${labId}: its stack ${d.stackName} (${d.statusBefore}, ready at ${t(
      ready.at.getTime(),
    )}) was deleted at ${t(d.at)} by ${d.by.userName}/${d.by.projectName}`;
    if (!warranted?.warrant) {
      const story = life.map((e) => `${e.to}: ${e.reason}`).slice(-4);
      breaches.push(
        `${what} without a delete, reset, retention or maxLifetime (its events: ${story.join(' > ')})`,
      );
      continue;
    }
    const { event, warrant } = warranted;
    if (warrant.asked) {
      const sent = (input.asked.get(labId) ?? []).some(
        (a) => a.what === warrant.asked && a.at >= d.createdAt && a.at <= d.at,
      );
      if (!sent) {
        breaches.push(
          `${what} for "${event.reason}" (${t(event.at.getTime())}), but the soak sent no ${warrant.asked} of the lab while the stack existed`,
        );
        continue;
      }
    }
    count(warrant.name);
  }
  return { breaches, tally };
}

/** Every state change in the labs' audit trails is one of the lifecycle table (workflows/state.ts). */
export function judgeTransitions(events: Map<string, LabEvent[]>): string[] {
  const breaches: string[] = [];
  for (const [labId, trail] of events)
    for (const e of trail)
      if (!isTransition(e.from, e.to))
        breaches.push(
          `lab ${labId}: ${e.from ?? '(new run)'} -> ${e.to} is not in the lifecycle table ("${e.reason}")`,
        );
  return breaches;
}

/** Closed runs that count as a failed lab workflow (a lab's workflow ends only by being deleted). */
const FAILED_ENDS: readonly WorkflowExecutionStatusName[] = [
  'FAILED',
  'TERMINATED',
  'TIMED_OUT',
  'CANCELLED',
];

/**
 * Every run of a lab workflow on `taskQueue` that ended failed, terminated, timed out or
 * cancelled, from Temporal's visibility: a describe sees only a workflow's latest run, and a
 * failed run is hidden by the next launch, which starts a new one. `runs`: how many runs of the
 * labs visibility listed (continued-as-new ones included), to show the check saw them.
 */
export async function failedRuns(
  client: Client,
  taskQueue: string,
  labIds: ReadonlySet<string>,
  started: number,
  /** Runs already named by the caller. */
  skipRunIds: ReadonlySet<string> = new Set(),
): Promise<{ breaches: string[]; runs: number }> {
  const found: string[] = [];
  let runs = 0;
  for await (const run of client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
    if (!labIds.has(run.workflowId)) continue;
    runs += 1;
    if (skipRunIds.has(run.runId)) continue;
    if (!FAILED_ENDS.includes(run.status.name)) continue;
    const at = run.closeTime ? `${((run.closeTime.getTime() - started) / 1000).toFixed(1)} s` : '?';
    const why = await client.workflow
      .getHandle(run.workflowId, run.runId, { followRuns: false })
      .result()
      .then(
        () => '',
        (err: Error & { cause?: Error & { cause?: Error } }) =>
          `: ${(err.cause?.cause ?? err.cause ?? err).message}`.slice(0, 300),
      );
    found.push(
      `lab ${run.workflowId}: a run (${run.runId}) ended ${run.status.name} at ${at}${why}`,
    );
  }
  return { breaches: found, runs };
}
