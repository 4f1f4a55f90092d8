import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config';
import {
  capacityFreedSignal,
  deleteLabUpdate,
  LAB_WORKFLOW_TYPE,
  launchLabUpdate,
  suspendLabUpdate,
  type LabWorkflowInput,
} from '../../workflows/messages';
import { heatOutage } from '../support/heat-faults';
import { eventually, waitFor } from '../support/wait';
import { startLabEnv, type LabEnv } from '../support/lab-env';

const COURSE = 'course-v1:Org+Lab101+2026';

/**
 * Issue 15, items 6 and 7: what a lab carries over continue-as-new, and queued labs that wait
 * long or whose workflow is gone.
 */
describe('labs that live long', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({ capacity: 1, policyRefresh: '1s' });
    await env.startWorker();
  });
  afterAll(() => env.close());
  afterEach(() => env.emulator.admin.clearFaults());

  const start = (learnerId: string, historyLimit: number) => {
    const input: LabWorkflowInput & { historyLimit: number } = {
      version: 1,
      labId: env.labId({ learnerId }),
      courseId: COURSE,
      learnerId,
      lab: 'demo',
      historyLimit,
    };
    return env.client.workflow.start(LAB_WORKFLOW_TYPE, {
      workflowId: input.labId,
      taskQueue: env.taskQueue,
      args: [input],
    });
  };
  const newRun = (labId: string, firstRunId: string) =>
    waitFor(
      'the workflow to continue as new',
      async () => (await env.client.workflow.getHandle(labId).describe()).runId !== firstRunId,
    );
  /** Deletes the lab and waits for its workflow to end (a lab already deleted is left as it is). */
  const deleteLab = async (labId: string) => {
    const handle = env.client.workflow.getHandle(labId);
    if ((await handle.describe()).status.name !== 'RUNNING') return;
    await handle.executeUpdate(deleteLabUpdate, { args: [{ version: 1 }] });
    await handle.result();
  };

  it('keeps running on its last policy, secrets kept secret, after the lab left the configuration and the workflow continued as new', async () => {
    const handle = await start('anon-removed', 20);
    const labId = handle.workflowId;
    await env.waitForState(labId, 'ready');
    await env.stopWorker();
    const withoutDemo: Config = { ...env.config, labs: { broken: env.config.labs.broken! } };
    await env.startWorker(withoutDemo);
    await handle.executeUpdate(suspendLabUpdate, { args: [{ version: 1 }] });
    await env.waitForState(labId, 'suspended');
    await newRun(labId, handle.firstExecutionRunId);
    const latest = env.client.workflow.getHandle(labId);
    await latest.executeUpdate(launchLabUpdate, { args: [{ version: 1 }] });
    const ready = await env.waitForState(labId, 'ready');
    expect((await latest.describe()).status.name).toBe('RUNNING');
    expect(ready.outputs).toEqual({ public_ip: '192.0.2.10' });
    await env.stopWorker();
    await env.startWorker();
    await deleteLab(labId);
  }, 90_000);

  it('continues a lab waiting long in the queue as new, and it still gets capacity', async () => {
    const holder = await env.launch({ learnerId: 'anon-holder' });
    await env.waitForState(holder.labId, 'ready');
    const handle = await start('anon-waiting', 30);
    const labId = handle.workflowId;
    try {
      await env.waitForState(labId, 'queued');
      // Every wake of a queued lab asks for capacity again and adds to its history.
      await waitFor(
        'the queued lab to continue as new',
        async () => {
          await handle.signal(capacityFreedSignal, { version: 1, provider: 'cloud-a' });
          return (await handle.describe()).runId !== handle.firstExecutionRunId;
        },
        60_000,
      );
      expect((await env.status(labId)).state).toBe('queued');
      await deleteLab(holder.labId);
      await env.waitForState(labId, 'ready');
    } finally {
      // The next test needs the one slot free, whatever happened here.
      await deleteLab(holder.labId);
      await deleteLab(labId);
    }
  }, 120_000);

  it('continues a lab whose suspend Heat keeps failing as new, and the new run suspends the same stack', async () => {
    const handle = await start('anon-long-outage', 40);
    const labId = handle.workflowId;
    const ready = await env.waitForState(labId, 'ready');
    await heatOutage(env.emulator.admin, 'POST', '/actions$');
    await env.client.workflow
      .getHandle(labId)
      .executeUpdate(suspendLabUpdate, { args: [{ version: 1 }] });
    const failing = await eventually('the suspend to show the outage', async () => {
      const s = await env.status(labId);
      return /^suspend of .*: Heat unavailable since/.test(s.statusReason ?? '') ? s : undefined;
    });
    const suspendingRun = (await handle.describe()).runId;
    // Each attempt adds to the history: the run continues as new between two attempts.
    await newRun(labId, suspendingRun);
    const carried = await env.status(labId);
    expect(carried.state).toBe('suspending');
    // Still failing since the same time: the new run carries the outage over.
    expect(carried.statusReason?.match(/since (\S+)/)?.[1]).toBe(
      failing.statusReason!.match(/since (\S+)/)![1],
    );
    const history = await env.client.workflow.getHandle(labId, suspendingRun).fetchHistory();
    expect(history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    if (process.env.LABS_RECORD_HISTORIES)
      writeFileSync(
        join(__dirname, '../fixtures/histories/lab-v5-continue-while-retrying-suspend.json'),
        historyToJSON(history),
      );
    await env.emulator.admin.clearFaults();
    const suspended = await env.waitForState(labId, 'suspended', 90_000);
    expect(suspended.stack?.name).toBe(ready.stack!.name);
    expect(suspended.statusReason).toBeNull();
    await deleteLab(labId);
  }, 150_000);

  it('removes a queue entry whose workflow is gone, so the labs behind it get capacity', async () => {
    await env.store.capacity.enqueue('lab_gone', ['cloud-a'], new Date(Date.now() - 3_600_000));
    const { labId } = await env.launch({ learnerId: 'anon-behind' });
    // Reconciliation runs at most every 30 s per provider; a queued lab asks every 30 s.
    await env.waitForState(labId, 'ready', 75_000);
    await eventually('the dead entry to be gone', async () =>
      (await env.store.capacity.waitingAhead(labId, 'cloud-a')) === 0 ? true : undefined,
    );
    await deleteLab(labId);
  }, 120_000);
});
