/**
 * Updates and signals that race the workflow's own timers and policy reads, handled by a worker
 * that keeps no workflow in its cache: every workflow task replays the whole history, as after a
 * worker restart. A history that the workflow code does not reproduce fails a task with a
 * nondeterminism error, and the lab is stuck until a deploy fixes it; none may.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import {
  deleteLabUpdate,
  heartbeatSignal,
  resetLabUpdate,
  suspendLabUpdate,
} from '../../workflows/messages';
import { pace } from '../support/wait';
import { startLabEnv, workflowBundle, type LabEnv } from '../support/lab-env';

const LABS = 6;
const ROUNDS = 12;

describe('the lab workflow replayed on every task while updates race its timers', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({ idleTimeout: '2s', deleteAfter: '1h', policyRefresh: '300ms' });
    await env.startWorker(undefined, { maxCachedWorkflows: 0 });
  });
  afterAll(() => env.close());

  it('answers every update and never fails a workflow task', async () => {
    const labs = await Promise.all(
      Array.from({ length: LABS }, (_, i) => env.launch({ learnerId: `anon-race-${i}` })),
    );
    await Promise.all(labs.map((l) => env.waitForState(l.labId, 'ready', 60_000)));

    const refusedOnly = (err: unknown) => {
      // A validator's refusal (the state does not allow the action) is an answer, not a failure.
      if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    };
    const driven = await Promise.allSettled(
      labs.map(async ({ labId }, i) => {
        const handle = env.client.workflow.getHandle(labId);
        for (let round = 0; round < ROUNDS; round += 1) {
          const step = (round + i) % 4;
          if (step === 0)
            await handle
              .executeUpdate(suspendLabUpdate, { args: [{ version: 1 }] })
              .catch(refusedOnly);
          else if (step === 1) await handle.signal(heartbeatSignal, { version: 1, at: Date.now() });
          else if (step === 2) await env.launch({ learnerId: `anon-race-${i}` });
          else
            await handle
              .executeUpdate(resetLabUpdate, { args: [{ version: 1 }] })
              .catch(refusedOnly);
          // Lands the next message in the middle of the previous one's work, not after it.
          await pace(50 + ((round * 37 + i * 11) % 250));
        }
        await env.waitForState(labId, ['ready', 'suspended'], 60_000);
        await handle.executeUpdate(deleteLabUpdate, { args: [{ version: 1 }] });
        await handle.result();
      }),
    );
    const clientErrors = driven.flatMap((d, i) =>
      d.status === 'rejected' ? [`${labs[i]!.labId}: ${String(d.reason)}`] : [],
    );

    const histories = await Promise.all(
      labs.map(async ({ labId }) => ({
        workflowId: labId,
        history: await env.client.workflow.getHandle(labId).fetchHistory(),
      })),
    );
    // A failed workflow task is one the code could not replay (nondeterminism): the lab is stuck
    // until a deploy fixes it. A timed-out one is slow, not wrong (a worker replaying whole
    // histories on a loaded machine), and is retried: reported, not asserted.
    const failedTasks = histories.flatMap(({ workflowId, history }) =>
      (history.events ?? []).flatMap((e) =>
        e.workflowTaskFailedEventAttributes
          ? [`${workflowId}#${e.eventId}: ${e.workflowTaskFailedEventAttributes.failure?.message}`]
          : [],
      ),
    );
    const timedOut = histories.flatMap(({ workflowId, history }) =>
      (history.events ?? []).flatMap((e) =>
        e.workflowTaskTimedOutEventAttributes ? [`${workflowId}#${e.eventId}`] : [],
      ),
    );
    if (timedOut.length > 0)
      console.log(`workflow tasks timed out (retried): ${timedOut.join(', ')}`);
    expect({ failedTasks, clientErrors }).toEqual({ failedTasks: [], clientErrors: [] });

    const replays = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle() },
      histories.map(({ workflowId, history }) => ({
        workflowId,
        history: JSON.parse(historyToJSON(history)),
      })),
    ))
      replays.push([result.workflowId, result.error?.message]);
    expect(replays).toEqual(histories.map(({ workflowId }) => [workflowId, undefined]));
  }, 240_000);
});
