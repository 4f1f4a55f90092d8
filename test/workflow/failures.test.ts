import { retryLabUpdate } from '../../workflows/messages';
import { eventually, waitFor } from '../support/wait';
import { startLabEnv, type LabEnv } from '../support/lab-env';

describe('the lab workflow when Heat fails', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({ providers: ['cloud-a', 'cloud-b'] });
    await env.startWorker();
  });
  afterAll(() => env.close());
  afterEach(() => env.emulator.admin.clearFaults());

  it('cleans up a CREATE_FAILED stack and succeeds on the next provider', async () => {
    const labId = env.labId({ learnerId: 'anon-next' });
    await env.emulator.admin.failNextCreate({
      stackName: `demo-${labId.slice(4)}-g1`,
      reason: 'No valid host was found.',
    });
    await env.launch({ learnerId: 'anon-next' });
    const ready = await env.waitForState(labId, 'ready');
    expect(ready).toMatchObject({ provider: 'cloud-b', generation: 2, error: null });
    expect(await env.liveStacks(labId)).toEqual([
      { name: `demo-${labId.slice(4)}-g2`, status: 'CREATE_COMPLETE' },
    ]);
    expect(await env.store.capacity.holderOf(labId)).toBe('cloud-b');
    const events = await env.store.events.recent(labId);
    expect(events.some((e) => /create_failed on cloud-a: .*No valid host/.test(e.reason))).toBe(
      true,
    );
  });

  it("fails with Heat's reason when every provider fails, leaving no stack and no capacity held", async () => {
    const { labId } = await env.launch({ learnerId: 'anon-broken', lab: 'broken' });
    const failed = await env.waitForState(labId, 'failed');
    expect(failed.error).toEqual({
      code: 'create_failed',
      message: expect.stringContaining(
        'Resource CREATE failed: ValueError: resources.boom: Test Resource failed boom',
      ),
    });
    expect(failed.provider).toBeNull();
    expect(await env.liveStacks(labId)).toEqual([]);
    expect(await env.store.capacity.holderOf(labId)).toBeNull();
    // The projection follows the workflow by one activity: wait for it, then compare.
    const projected = await eventually('the projection to say failed', async () => {
      const doc = await env.store.labs.get(labId);
      return doc?.state === 'failed' ? doc : undefined;
    });
    expect(projected).toMatchObject({ state: 'failed', error: failed.error, stack: null });
  });

  it('retries a failed lab under a new stack name', async () => {
    const labId = env.labId({ learnerId: 'anon-retry' });
    for (const g of [1, 2])
      await env.emulator.admin.failNextCreate({ stackName: `demo-${labId.slice(4)}-g${g}` });
    await env.launch({ learnerId: 'anon-retry' });
    const failed = await env.waitForState(labId, 'failed');
    expect(failed.generation).toBe(2);
    await env.client.workflow
      .getHandle(labId)
      .executeUpdate(retryLabUpdate, { args: [{ version: 1, requestedBy: 'admin' }] });
    const ready = await env.waitForState(labId, 'ready');
    expect(ready.stack?.name).toBe(`demo-${labId.slice(4)}-g3`);
    expect(await env.liveStacks(labId)).toHaveLength(1);
  });

  it('treats a quota error as final for that provider and moves on', async () => {
    await env.emulator.admin.injectFault({
      method: 'POST',
      path: '/stacks$',
      fault: { kind: 'quota' },
      times: 1,
    });
    const { labId } = await env.launch({ learnerId: 'anon-quota' });
    const ready = await env.waitForState(labId, 'ready');
    expect(ready.provider).toBe('cloud-b');
    expect(await env.liveStacks(labId)).toHaveLength(1);
  });

  it('retries through Heat 5xx answers and still makes exactly one stack', async () => {
    await env.emulator.admin.injectFault({
      method: 'GET',
      path: '/stacks',
      fault: { kind: 'status', status: 503 },
      times: 3,
    });
    await env.emulator.admin.injectFault({
      method: 'POST',
      path: '/stacks$',
      fault: { kind: 'status', status: 500, afterHandling: true },
      times: 1,
    });
    const { labId } = await env.launch({ learnerId: 'anon-5xx' });
    const ready = await env.waitForState(labId, 'ready');
    expect(ready.provider).toBe('cloud-a');
    expect(await env.liveStacks(labId)).toEqual([
      { name: `demo-${labId.slice(4)}-g1`, status: 'CREATE_COMPLETE' },
    ]);
  });

  it('recreates a stack deleted by hand when the learner comes back', async () => {
    const request = { learnerId: 'anon-gone' };
    const { labId } = await env.launch(request);
    const ready = await env.waitForState(labId, 'ready');
    await env.client.workflow
      .getHandle(labId)
      .executeUpdate('suspendLab', { args: [{ version: 1 }] });
    await env.waitForState(labId, 'suspended');
    await env.emulator.admin.deleteStackByHand(ready.stack!.name);
    await env.launch(request);
    await waitFor('the lab to settle', async () => {
      const s = await env.status(labId);
      return s.state === 'ready' && s.generation === 2;
    });
    expect(await env.liveStacks(labId)).toEqual([
      { name: `demo-${labId.slice(4)}-g2`, status: 'CREATE_COMPLETE' },
    ]);
  });

  it('retries a suspend Heat refuses, then succeeds', async () => {
    const { labId } = await env.launch({ learnerId: 'anon-refused' });
    await env.waitForState(labId, 'ready');
    await env.emulator.admin.injectFault({
      method: 'POST',
      path: '/actions$',
      fault: { kind: 'status', status: 503 },
      times: 2,
    });
    await env.client.workflow
      .getHandle(labId)
      .executeUpdate('suspendLab', { args: [{ version: 1 }] });
    const suspended = await env.waitForState(labId, 'suspended', 60_000);
    expect(suspended.stack?.status).toBe('SUSPEND_COMPLETE');
  });
});
