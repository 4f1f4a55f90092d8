import { deleteLabUpdate } from '../../workflows/messages';
import { waitFor } from '../support/wait';
import { startLabEnv, type LabEnv } from '../support/lab-env';

describe('the lab workflow under concurrent launches', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({ capacity: 20 });
    await env.startWorker();
  });
  afterAll(() => env.close());

  it('makes one workflow and one stack for 50 concurrent launches of one lab', async () => {
    const request = { learnerId: 'anon-storm' };
    const answers = await Promise.all(Array.from({ length: 50 }, () => env.launch(request)));
    const labId = answers[0]!.labId;
    expect(new Set(answers.map((a) => a.labId))).toEqual(new Set([labId]));
    await env.waitForState(labId, 'ready');
    expect(await env.liveStacks(labId)).toHaveLength(1);
    const runs = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowId = '${labId}'` }))
      runs.push(w.runId);
    expect(runs).toHaveLength(1);
  });

  it('never holds more stacks than capacity: 200 labs against capacity 20, the rest queued until capacity frees', async () => {
    await env.emulator.admin.setCreateDelay(100);
    const stackCounts: number[] = [];
    const liveTotal = async () =>
      (await env.emulator.admin.stacks()).filter((s) => s.status !== 'DELETE_COMPLETE').length;
    const ids = (
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => env.launch({ learnerId: `anon-cap-${i}` })),
      )
    ).map((a) => a.labId);
    const settled = async () => {
      const docs = await env.store.labs.collection.find({ _id: { $in: ids } }).toArray();
      stackCounts.push(await liveTotal());
      // A lab shows `queued` from its first moment; it is in the capacity queue once its
      // reservation has been refused, so wait for both.
      return (
        docs.filter((d) => d.state === 'ready').length === 19 &&
        docs.filter((d) => d.state === 'queued').length === 181 &&
        (await env.store.capacity.queuedCounts()).get('cloud-a') === 181
      );
    };
    // One capacity slot is held by the previous test's lab.
    await waitFor('capacity to settle', settled, 120_000);
    expect(await env.store.capacity.usage()).toEqual(new Map([['cloud-a', 20]]));
    expect((await env.store.capacity.queuedCounts()).get('cloud-a')).toBe(181);

    const ready = (
      await env.store.labs.collection.find({ _id: { $in: ids }, state: 'ready' }).toArray()
    )
      .slice(0, 5)
      .map((d) => d._id);
    await Promise.all(
      ready.map((id) =>
        env.client.workflow
          .getHandle(id)
          .executeUpdate(deleteLabUpdate, { args: [{ version: 1 }] }),
      ),
    );
    await waitFor(
      'the lab to settle',
      async () => {
        const docs = await env.store.labs.collection.find({ _id: { $in: ids } }).toArray();
        stackCounts.push(await liveTotal());
        return (
          docs.filter((d) => d.state === 'ready').length === 19 &&
          docs.filter((d) => d.state === 'deleted').length === 5
        );
      },
      60_000,
    );
    expect(Math.max(...stackCounts)).toBeLessThanOrEqual(20);
    expect(await liveTotal()).toBe(20);
    expect((await env.store.capacity.queuedCounts()).get('cloud-a')).toBe(176);
  }, 240_000);
});
