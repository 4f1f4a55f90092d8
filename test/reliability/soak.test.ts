import { startLabEnv, type LabEnv } from '../support/lab-env';
import { runSoak } from './soak';

/**
 * The chaos soak (issue 9). Short here; `npm run soak` runs the long one:
 * SOAK_LABS, SOAK_SECONDS, SOAK_SEED, SOAK_CAPACITY override the figures.
 */
const LONG = process.env.SOAK_LONG === '1';
const numberFrom = (name: string, fallback: number): number => {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : Number(raw);
};
const SEED = numberFrom('SOAK_SEED', LONG ? Date.now() % 2 ** 31 : 20260709);
const LABS = numberFrom('SOAK_LABS', LONG ? 200 : 30);
const SECONDS = numberFrom('SOAK_SECONDS', LONG ? 1800 : 20);
const CAPACITY = numberFrom('SOAK_CAPACITY', LONG ? Math.ceil(LABS / 3) : 10);
const PROVIDERS = ['cloud-a', 'cloud-b'];

describe('chaos soak: random labs under faults and worker restarts keep the invariants', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({
      providers: PROVIDERS,
      capacity: CAPACITY,
      idleTimeout: '3s',
      deleteAfter: '20s',
      policyRefresh: '1s',
    });
    await env.startWorker();
  });
  afterAll(() => env?.close());

  it(
    `seed ${SEED}: ${LABS} labs for ${SECONDS} s, no breach`,
    async () => {
      const result = await runSoak(env, {
        seed: SEED,
        labs: LABS,
        seconds: SECONDS,
        capacity: CAPACITY,
        providers: PROVIDERS,
        actors: LONG ? 6 : 3,
        restartEveryMs: LONG ? 30_000 : 7_000,
        log: (line) => process.stdout.write(`${line}\n`),
      });
      process.stdout.write(`${result.summary}\n`);
      for (const line of result.clientErrors) process.stdout.write(`client error: ${line}\n`);
      expect(result.breaches).toEqual([]);
    },
    (SECONDS + 300) * 1000,
  );
});
