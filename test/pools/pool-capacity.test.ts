import { startLabEnv, type LabEnv } from '../support/lab-env';
import { waitFor } from '../support/wait';
import { poolStatus, waitForPool } from './pool-env';

describe('pools and learners competing for capacity', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({ capacity: 10, pool: '{ size: 5, checkEvery: 1s }' });
    await env.startWorker();
    await env.startPools();
    await waitForPool(env, 5);
  });
  afterAll(() => env.close());

  it('never holds more stacks than capacity, and the pool never takes a slot a learner waits for', async () => {
    await env.emulator.admin.setCreateDelay(200);
    const samples: number[] = [];
    const liveTotal = async () => {
      const n = (await env.emulator.admin.stacks()).filter(
        (s) => s.status !== 'DELETE_COMPLETE',
      ).length;
      samples.push(n);
      return n;
    };
    const ids = (
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => env.launch({ learnerId: `anon-compete-${i}` })),
      )
    ).map((l) => l.labId);
    const settled = async (labs: number) => {
      await liveTotal();
      const docs = await env.store.labs.collection.find({ _id: { $in: ids } }).toArray();
      const ready = docs.filter((d) => d.state === 'ready').length;
      const queued = (await env.store.capacity.queuedCounts()).get('cloud-a') ?? 0;
      return ready + queued === labs && (await env.store.capacity.usage()).get('cloud-a') === 10;
    };
    await waitFor('labs to be ready or queued, capacity full', () => settled(20), 90_000);
    const readyLabs = () =>
      env.store.labs.collection.countDocuments({ _id: { $in: ids }, state: 'ready' });
    // Learners wait in the queue: the pool gives its slots to them and builds nothing. The
    // counts can add up while a slot is still on its way to a learner (a CI run counted 9
    // ready right after), so the wait is for all 10 slots to be the learners'.
    await waitFor(
      'the pool to give way to queued learners',
      async () => {
        const pool = await poolStatus(env);
        return (
          pool.ready + pool.building === 0 && (await settled(20)) && (await readyLabs()) === 10
        );
      },
      60_000,
    );
    expect(await readyLabs()).toBe(10);

    const ready = (
      await env.store.labs.collection.find({ _id: { $in: ids }, state: 'ready' }).toArray()
    ).slice(0, 3);
    await Promise.all(
      ready.map((d) =>
        env.client.workflow.getHandle(d._id).executeUpdate('deleteLab', { args: [{ version: 1 }] }),
      ),
    );
    await waitFor(
      'queued learners to get the freed slots',
      async () => {
        await liveTotal();
        const docs = await env.store.labs.collection.find({ _id: { $in: ids } }).toArray();
        return docs.filter((d) => d.state === 'deleted').length === 3 && (await settled(17));
      },
      90_000,
    );
    expect(Math.max(...samples)).toBeLessThanOrEqual(10);
    // Stacks named pool-* now are the learners' (claimed); the pool holds none while they queue.
    expect(await poolStatus(env)).toMatchObject({ ready: 0, building: 0 });
  }, 240_000);
});
