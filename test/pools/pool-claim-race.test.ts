import { createPoolActivities } from '../../activities/pools';
import { TEMPLATES_DIR } from '../../src/config';
import type { HeatClient } from '../../src/openstack';
import { SecretBox } from '../../src/secrets/envelope';
import { poolWaker } from '../../src/temporal/pools';
import { SECRETS_KEY, startLabEnv, type LabEnv } from '../support/lab-env';
import { eventually, waitFor } from '../support/wait';
import { waitForPool } from './pool-env';

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/**
 * A lab that claims a pool stack deleted by hand inserts its claim, then asks Heat, then rejects
 * it. A pool that looked in between used to take the claim for a lab's and forget the stack: it
 * was never replaced and its capacity never released (seen as a CI failure of pool-claims).
 */
describe('a pool looking while a lab checks its claim', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({ capacity: 20, pool: '{ size: 1, checkEvery: 1h }' });
    await env.startWorker();
    await env.startPools();
    await waitForPool(env, 1);
  });
  afterAll(() => env.close());

  it('neither forgets nor takes back the stack until the lab has decided, then replaces it', async () => {
    // The pool's query says ready a moment before its record reaches Mongo.
    const [pooled] = await eventually('the ready pool stack to be recorded', async () => {
      const ready = await env.store.pools.readyStacks('demo');
      return ready.length > 0 ? ready : undefined;
    });
    const gone = pooled!._id;
    await env.emulator.admin.deleteStackByHand(gone);

    // The claimant's Heat lookup waits until the pool has looked.
    const asked = gate();
    const answer = gate();
    const heat = (provider: string): HeatClient => {
      const real = env.heat(provider);
      return new Proxy(real, {
        get: (target, key) =>
          key === 'findStack'
            ? async (id: string) => {
                asked.open();
                await answer.opened;
                return target.findStack(id);
              }
            : Reflect.get(target, key),
      });
    };
    const activities = createPoolActivities({
      config: env.config,
      store: env.store,
      heat,
      secretBox: new SecretBox([SECRETS_KEY]),
      logger: env.logger,
      templatesDir: TEMPLATES_DIR,
      wakeQueuedLab: async () => true,
      wakePool: poolWaker(env.client, env.taskQueue),
    });

    const claiming = activities.claimPoolStack({ labId: 'lab-race', lab: 'demo', generation: 1 });
    await asked.opened;
    const seen = await activities.checkPoolStacks({
      stacks: [{ stackName: gone, provider: pooled!.provider!, stack: pooled!.stack! }],
      askHeat: false,
    });
    expect(seen).toEqual({ claimed: [], lost: [] });
    await expect(
      activities.takeBackPoolStack({
        lab: 'demo',
        stackName: gone,
        provider: pooled!.provider!,
        stack: pooled!.stack!,
      }),
    ).rejects.toThrow(/checking pool stack/);
    answer.open();

    expect(await claiming).toBeNull();
    expect((await env.store.pools.claimOf(gone))?.claimant).toBe(`rejected:${gone}`);
    await waitFor(
      'the pool to discard the lost stack',
      async () => (await env.store.pools.get(gone))?.state === 'discarded',
    );
    expect(await env.store.capacity.holderOf(gone)).toBeNull();
    await waitForPool(env, 1);
    expect((await env.store.pools.readyStacks('demo')).map((d) => d._id)).not.toContain(gone);
  }, 90_000);
});
