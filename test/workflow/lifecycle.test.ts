import { WorkflowUpdateFailedError } from '@temporalio/client';
import {
  deleteLabUpdate,
  heartbeatSignal,
  resetLabUpdate,
  retryLabUpdate,
  suspendLabUpdate,
} from '../../workflows/messages';
import { eventually, pace, waitFor } from '../support/wait';
import { startLabEnv, type LabEnv } from '../support/lab-env';

describe('the lab workflow: launch, suspend, resume, reset, delete', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({ idleTimeout: '2s', heartbeatFlush: '100ms' });
    await env.startWorker();
  });
  afterAll(() => env.close());

  it('launches a lab to ready with non-secret outputs, and the secret sealed in Mongo only', async () => {
    const first = await env.launch({ learnerId: 'anon-ready' });
    expect(first.labId).toMatch(/^lab_[a-z2-7]{26}$/);
    expect(['queued', 'launching']).toContain(first.state);
    const ready = await env.waitForState(first.labId, 'ready');
    expect(ready.outputs).toEqual({ public_ip: '192.0.2.10' });
    expect(ready.stack?.name).toBe(`demo-${first.labId.slice(4)}-g1`);
    const secrets = await env.store.secrets.get(first.labId);
    expect(Object.keys(secrets?.secrets ?? {})).toEqual(['password']);
    expect(secrets?.secrets.password?.keyId).toBe('test1');
    // The projection follows the workflow by one activity.
    const doc = await eventually('the projection to say ready', async () => {
      const d = await env.store.labs.get(first.labId);
      return d?.state === 'ready' ? d : undefined;
    });
    expect(doc).toMatchObject({
      state: 'ready',
      provider: 'cloud-a',
      outputs: { public_ip: '192.0.2.10' },
    });
    expect(await env.liveStacks(first.labId)).toEqual([
      { name: ready.stack!.name, status: 'CREATE_COMPLETE' },
    ]);
  });

  it('suspends an idle lab, and a heartbeat on the suspended lab resumes it', async () => {
    const { labId } = await env.launch({ learnerId: 'anon-idle' });
    const ready = await env.waitForState(labId, 'ready');
    const suspended = await env.waitForState(labId, 'suspended', 20_000);
    // Never before idleTimeout after the lab became ready.
    expect(suspended.suspendedAt! - ready.readyAt!).toBeGreaterThanOrEqual(2000);
    expect(await env.liveStacks(labId)).toEqual([
      { name: ready.stack!.name, status: 'SUSPEND_COMPLETE' },
    ]);
    await env.client.workflow
      .getHandle(labId)
      .signal(heartbeatSignal, { version: 1, at: Date.now() });
    const resumed = await env.waitForState(labId, 'ready');
    expect(resumed.stack?.name).toBe(ready.stack!.name);
    expect(await env.liveStacks(labId)).toEqual([
      { name: ready.stack!.name, status: 'RESUME_COMPLETE' },
    ]);
  });

  it('keeps an active lab ready while heartbeats are recorded, without workflow messages', async () => {
    const { labId } = await env.launch({ learnerId: 'anon-active' });
    const ready = await env.waitForState(labId, 'ready');
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      await env.store.activity.record(labId, new Date());
      expect((await env.status(labId)).state).toBe('ready');
      await pace(200);
    }
    expect((await env.status(labId)).readyAt).toBe(ready.readyAt);
    await env.waitForState(labId, 'suspended', 20_000);
  });

  it('refuses actions the state does not allow with a typed error', async () => {
    const { labId } = await env.launch({ learnerId: 'anon-409' });
    await env.waitForState(labId, 'ready');
    const handle = env.client.workflow.getHandle(labId);
    const error = await handle
      .executeUpdate(retryLabUpdate, { args: [{ version: 1 }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((error as WorkflowUpdateFailedError).cause).toMatchObject({
      type: 'InvalidLabState',
      message: 'cannot retry a lab that is ready',
    });
  });

  it('launching a suspended lab resumes it; suspend on request', async () => {
    const request = { learnerId: 'anon-relaunch' };
    const { labId } = await env.launch(request);
    await env.waitForState(labId, 'ready');
    await env.client.workflow
      .getHandle(labId)
      .executeUpdate(suspendLabUpdate, { args: [{ version: 1 }] });
    await env.waitForState(labId, 'suspended');
    const answer = await env.launch(request);
    expect(answer.labId).toBe(labId);
    await env.waitForState(labId, 'ready');
  });

  it('resets a lab onto a fresh stack of the next generation, leaving one stack', async () => {
    const { labId } = await env.launch({ learnerId: 'anon-reset' });
    const ready = await env.waitForState(labId, 'ready');
    await env.client.workflow
      .getHandle(labId)
      .executeUpdate(resetLabUpdate, { args: [{ version: 1 }] });
    await waitFor(
      'the reset lab to be ready',
      async () =>
        (await env.status(labId)).generation === 2 && (await env.status(labId)).state === 'ready',
    );
    const after = await env.status(labId);
    expect(after.stack?.name).toBe(`demo-${labId.slice(4)}-g2`);
    expect(await env.liveStacks(labId)).toEqual([
      { name: after.stack!.name, status: 'CREATE_COMPLETE' },
    ]);
    expect(ready.stack!.name).not.toBe(after.stack!.name);
  });

  it('deletes a lab: stack gone, capacity released, workflow completed, projection deleted', async () => {
    const { labId } = await env.launch({ learnerId: 'anon-delete' });
    await env.waitForState(labId, 'ready');
    const handle = env.client.workflow.getHandle(labId);
    await handle.executeUpdate(deleteLabUpdate, { args: [{ version: 1 }] });
    await handle.result();
    expect(await env.liveStacks(labId)).toEqual([]);
    expect(await env.store.capacity.holderOf(labId)).toBeNull();
    expect(await env.store.secrets.get(labId)).toBeNull();
    expect((await env.store.labs.get(labId))?.state).toBe('deleted');
  });

  it('a launch after delete starts a new life under the same id', async () => {
    const request = { learnerId: 'anon-again' };
    const { labId } = await env.launch(request);
    await env.waitForState(labId, 'ready');
    const handle = env.client.workflow.getHandle(labId);
    await handle.executeUpdate(deleteLabUpdate, { args: [{ version: 1 }] });
    await handle.result();
    const again = await env.launch(request);
    expect(again.labId).toBe(labId);
    const ready = await env.waitForState(labId, 'ready');
    expect(ready.generation).toBe(1);
    expect(await env.liveStacks(labId)).toHaveLength(1);
  });
});
