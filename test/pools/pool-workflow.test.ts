import { startLabEnv, type LabEnv } from '../support/lab-env';
import { waitFor } from '../support/wait';
import { livePoolStacks, poolStatus, waitForPool, withPool } from './pool-env';

describe("the pool workflow keeps a lab's warm pool filled", () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({ capacity: 20, pool: '{ size: 3, checkEvery: 1s }' });
    await env.startWorker();
    expect(await env.startPools()).toEqual(['demo']);
  });
  afterAll(() => env.close());

  it("builds the pool's stacks, suspends them and records them ready, holding capacity", async () => {
    expect(await waitForPool(env, 3)).toEqual({
      lab: 'demo',
      target: 3,
      ready: 3,
      building: 0,
      deficit: 0,
    });
    expect(await livePoolStacks(env)).toEqual(
      [0, 1, 2].map((slot) => ({ name: `pool-demo-s${slot}-g1`, status: 'SUSPEND_COMPLETE' })),
    );
    expect(await env.store.pools.readyStacks('demo')).toHaveLength(3);
    expect(await env.store.capacity.usage()).toEqual(new Map([['cloud-a', 3]]));
  });

  it('replaces a pool stack deleted by hand, and never keeps it as ready', async () => {
    await env.emulator.admin.deleteStackByHand('pool-demo-s1-g1');
    await waitFor('the lost stack to be replaced', async () =>
      (await livePoolStacks(env)).some((s) => s.name === 'pool-demo-s1-g2'),
    );
    await waitForPool(env, 3);
    await waitFor(
      'the lost stack to be discarded',
      async () => (await env.store.pools.get('pool-demo-s1-g1'))?.state === 'discarded',
    );
    // The replacement is ready once built and suspended; the lost stack never is again.
    const readyNames = async () =>
      (await env.store.pools.readyStacks('demo')).map((d) => d._id).sort();
    await waitFor('the replacement to be ready', async () =>
      (await readyNames()).includes('pool-demo-s1-g2'),
    );
    expect(await readyNames()).toEqual(['pool-demo-s0-g1', 'pool-demo-s1-g2', 'pool-demo-s2-g1']);
    await waitFor(
      "the lost stack's capacity to be released",
      async () => (await env.store.capacity.usage()).get('cloud-a') === 3,
    );
  });

  it('drains stacks beyond a smaller size, and grows again when the size grows', async () => {
    await env.stopWorker();
    await env.startWorker(withPool(env, '{ size: 1, checkEvery: 1s }', { capacity: 20 }));
    await waitFor(
      'the pool to drain to 1 stack holding 1 slot',
      async () =>
        (await livePoolStacks(env)).length === 1 &&
        (await env.store.capacity.usage()).get('cloud-a') === 1,
    );
    expect(await poolStatus(env)).toMatchObject({ target: 1, ready: 1, deficit: 0 });
    await env.stopWorker();
    await env.startWorker();
    await waitForPool(env, 3);
    expect(await livePoolStacks(env)).toHaveLength(3);
  });
});
