import { startApiEnv, type ApiEnv } from '../api/api-env';
import { eventually } from '../support/wait';
import { waitForPool } from './pool-env';

describe('warm pools through the API', () => {
  let env: ApiEnv;
  beforeAll(async () => {
    env = await startApiEnv({ capacity: 20, pool: '{ size: 2, checkEvery: 1h }' });
    await env.lab.startWorker();
    await env.lab.startPools();
    await waitForPool(env.lab, 2);
  });
  afterAll(() => env.close());

  it('shows pools to admins only, and what pools hold on each provider', async () => {
    expect((await env.service.get('/v1/pools')).status).toBe(403);
    const pools = await env.admin.get('/v1/pools');
    expect(pools.status).toBe(200);
    expect(pools.data.pools).toEqual([
      {
        lab: 'demo',
        size: 2,
        baseSize: 2,
        ready: 2,
        building: 0,
        deficit: 0,
        claims: 0,
        misses: 0,
        refillSeconds: expect.any(Number),
      },
    ]);
    const providers = await env.admin.get('/v1/providers');
    expect(providers.data.providers).toEqual([
      expect.objectContaining({ name: 'cloud-a', capacity: 20, used: 2, pooled: 2, poolLimit: 18 }),
    ]);
  });

  it('launches a new learner on a pool stack, says so, and counts claims and misses', async () => {
    // The pool may not refill before the third launch looks: exactly two claims, one miss.
    await env.lab.emulator.admin.setCreateDelay(2000);
    const launches = await Promise.all(
      [1, 2, 3].map((i) =>
        env.service.post('/v1/labs', {
          courseId: 'course-v1:Org+Pool+2026',
          learnerId: `anon-api-${i}`,
          lab: 'demo',
        }),
      ),
    );
    expect(launches.map((l) => l.status)).toEqual([202, 202, 202]);
    const labs = await Promise.all(
      launches.map((l) =>
        eventually(`lab ${l.data.id} ready`, async () => {
          const lab = await env.service.get(`/v1/labs/${l.data.id}`);
          return lab.data.state === 'ready' ? lab.data : undefined;
        }),
      ),
    );
    expect(labs.map((l) => l.fromPool).sort()).toEqual([false, true, true]);
    const metrics = await eventually('pool metrics', async () => {
      const text = (await env.http.get('/metrics')).data as string;
      return text.includes('labs_pool_claims_total{lab="demo"} 2') ? text : undefined;
    });
    expect(metrics).toContain('labs_pool_misses_total{lab="demo"} 1');
    expect(metrics).toMatch(/labs_pool_refill_seconds\{lab="demo"\} \d/);
    expect((await env.admin.get('/v1/pools')).data.pools[0]).toMatchObject({
      claims: 2,
      misses: 1,
    });
  });
});
