import { startLabEnv, type LabEnv } from '../support/lab-env';
import { waitFor } from '../support/wait';
import { livePoolStacks, poolStatus, waitForPool } from './pool-env';

describe('a pool following its schedule', () => {
  // The activities' clock, moved by the test: a Monday in Paris (UTC+1 in March).
  let clock = Date.parse('2026-03-02T08:00:00+01:00');
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({
      capacity: 20,
      now: () => new Date(clock),
      pool: `{ size: 1, warmup: 10m, checkEvery: 1s, schedule: [{ days: [mon], from: "09:00", to: "10:00", timeZone: Europe/Paris, size: 4 }] }`,
    });
    await env.startWorker();
    await env.startPools();
  });
  afterAll(() => env.close());

  it('grows a warmup before the window opens and shrinks when it closes', async () => {
    await waitForPool(env, 1);
    expect((await poolStatus(env)).target).toBe(1);
    clock = Date.parse('2026-03-02T08:50:00+01:00');
    await waitForPool(env, 4);
    expect(await livePoolStacks(env)).toHaveLength(4);
    clock = Date.parse('2026-03-02T10:00:00+01:00');
    await waitFor(
      'the pool to shrink back to 1',
      async () => (await livePoolStacks(env)).length === 1,
    );
    expect(await poolStatus(env)).toMatchObject({ target: 1, ready: 1, deficit: 0 });
  }, 90_000);
});
