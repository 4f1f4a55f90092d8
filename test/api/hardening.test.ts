import { WorkflowNotFoundError } from '@temporalio/client';
import type { AxiosResponse } from 'axios';
import { createPoolActivities } from '../../activities/pools';
import { createProjectionActivities } from '../../activities/projection';
import { SecretBox } from '../../src/secrets/envelope';
import { labIdFor } from '../../src/temporal/ids';
import { pace } from '../support/wait';
import { SECRETS_KEY, type LabEnv } from '../support/lab-env';
import { eventually, startApiEnv, type ApiEnv } from './api-env';

/**
 * Issue 15, API side: DELETE is idempotent (4), names from requests never index the
 * configuration (8), one learner cannot throttle a site (9), a heartbeat token lives as long as
 * its lab (10), and a /metrics scrape never queries MongoDB (11).
 */

const COURSE = 'course-v1:Org+Hardening+2026';
type Lab = Record<string, unknown> & {
  id: string;
  state: string;
  heartbeatToken?: string;
  error?: { code: string; message: string };
};
type Answer = AxiosResponse<{ error?: { code: string } }>;

const launchWith = (t: ApiEnv, learnerId: string, lab = 'demo') =>
  t.service.post<Lab>('/v1/labs', { courseId: COURSE, learnerId, lab });

/** Read from MongoDB, not through the API: the test's own polling must not spend the lab's rate. */
const projectedState = async (t: ApiEnv, id: string): Promise<string | undefined> =>
  (await t.lab.store.labs.get(id))?.state;

const waitForProjection = (t: ApiEnv, id: string, state: string, timeoutMs = 30_000) =>
  eventually(
    `${id} ${state} in the projection`,
    async () => ((await projectedState(t, id)) === state ? true : undefined),
    timeoutMs,
  );

/** Sum of one metric's samples (optionally one labelled series) in the app's Prometheus text. */
async function metric(t: ApiEnv, series: string): Promise<number | undefined> {
  const text = (await t.http.get<string>('/metrics', { responseType: 'text' })).data;
  const lines = text.split('\n').filter((line) => line.startsWith(`${series} `));
  return lines.length === 0 ? undefined : Number(lines[0]!.split(' ').pop());
}

describe('DELETE is idempotent (issue 15 item 4)', () => {
  let t: ApiEnv;
  beforeAll(async () => {
    // Heat takes a while to delete, so the lab stays `deleting` long enough to be asked again.
    t = await startApiEnv({ emulator: { deleteDelayMs: 1_500 } });
    await t.lab.startWorker();
  });
  afterAll(() => t.close());

  it('answers 202 with the lab when it is already deleting or deleted, after its workflow ended too', async () => {
    const { data: lab } = await launchWith(t, 'anon-delete-twice');
    await t.lab.waitForState(lab.id, 'ready');
    expect((await t.service.delete<Lab>(`/v1/labs/${lab.id}`)).status).toBe(202);

    await waitForProjection(t, lab.id, 'deleting');
    const whileDeleting = await t.service.delete<Lab>(`/v1/labs/${lab.id}`);
    expect({ status: whileDeleting.status, state: whileDeleting.data.state }).toEqual({
      status: 202,
      state: 'deleting',
    });

    await waitForProjection(t, lab.id, 'deleted');
    const deleted = await t.service.delete<Lab>(`/v1/labs/${lab.id}`);
    expect({ status: deleted.status, id: deleted.data.id, state: deleted.data.state }).toEqual({
      status: 202,
      id: lab.id,
      state: 'deleted',
    });

    // The workflow of a deleted lab completes; the API still answers from what it knows.
    await eventually('the lab workflow to complete', async () => {
      const d = await t.lab.client.workflow.getHandle(lab.id).describe();
      return d.status.name === 'COMPLETED' || undefined;
    });
    const afterEnd = await t.admin.delete<Lab>(`/v1/labs/${lab.id}`);
    expect({ status: afterEnd.status, state: afterEnd.data.state }).toEqual({
      status: 202,
      state: 'deleted',
    });
    // The repeated DELETEs left nothing behind in Heat.
    expect(await t.lab.liveStacks(lab.id)).toEqual([]);
    // Never launched is still 404.
    expect((await t.service.delete(`/v1/labs/lab_${'e'.repeat(26)}`)).status).toBe(404);
  });
});

describe('names from requests never index the configuration (issue 15 item 8)', () => {
  let t: ApiEnv;
  beforeAll(async () => {
    t = await startApiEnv();
    await t.lab.startWorker();
  });
  afterAll(() => t.close());

  const inherited = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

  it.each(inherited)(
    'POST /v1/labs {lab: "%s"} is 422 unknown_lab and starts nothing',
    async (name) => {
      const res = await launchWith(t, 'anon-proto', name);
      expect({ status: res.status, code: res.data.error?.code }).toEqual({
        status: 422,
        code: 'unknown_lab',
      });
      const id = labIdFor(COURSE, 'anon-proto', name);
      await expect(t.lab.client.workflow.getHandle(id).describe()).rejects.toBeInstanceOf(
        WorkflowNotFoundError,
      );
    },
  );

  it('serves a stored lab whose name the catalog lacks (launched before this fix) without a policy', async () => {
    const id = labIdFor(COURSE, 'anon-old', 'toString');
    const at = new Date();
    await t.lab.store.labs.collection.insertOne({
      _id: id,
      courseId: COURSE,
      learnerId: 'anon-old',
      lab: 'toString',
      state: 'ready',
      generation: 1,
      provider: 'cloud-a',
      stack: null,
      outputs: {},
      progress: null,
      error: null,
      createdAt: at,
      updatedAt: at,
      lifeStartedAt: at,
      readyAt: at,
      suspendedAt: null,
      deletedAt: null,
      seq: 1,
    });
    const res = await t.service.get<Lab>(`/v1/labs/${id}`);
    expect({
      status: res.status,
      suspendAt: res.data.suspendAt,
      deleteAt: res.data.deleteAt,
    }).toEqual({ status: 200, suspendAt: null, deleteAt: null });
    const connection = await t.service.get(`/v1/labs/${id}/connection`);
    expect(connection.status).toBe(409);
  });

  it('the activities treat such a name as a lab that is not in the configuration', async () => {
    const deps = activityDeps(t.lab);
    const projection = createProjectionActivities(deps);
    const pools = createPoolActivities(deps);
    for (const name of inherited) {
      const labId = labIdFor(COURSE, 'anon-activity', name);
      await expect(projection.currentPolicy({ labId, lab: name })).resolves.toMatchObject({
        policy: null,
      });
      await expect(pools.currentPoolPlan({ lab: name })).resolves.toBeNull();
    }
    // A real lab still has its policy.
    const real = await projection.currentPolicy({
      labId: labIdFor(COURSE, 'x', 'demo'),
      lab: 'demo',
    });
    expect(real.policy).toMatchObject({ providers: ['cloud-a'] });
  });
});

function activityDeps(lab: LabEnv): Parameters<typeof createProjectionActivities>[0] {
  return {
    config: lab.config,
    store: lab.store,
    heat: lab.heat,
    secretBox: new SecretBox([SECRETS_KEY]),
    logger: lab.logger,
    templatesDir: '',
    wakeQueuedLab: async () => true,
    wakePool: async () => undefined,
  };
}

describe('one learner cannot throttle a whole site (issue 15 item 9)', () => {
  let t: ApiEnv;
  beforeAll(async () => {
    // The product's default limits: no override.
    t = await startApiEnv();
    await t.lab.startWorker();
  });
  afterAll(() => t.close());

  it("a learner's page in a loop is limited on their lab; every other learner goes on", async () => {
    const { data: looping } = await launchWith(t, 'anon-loop');
    let refused: Answer | undefined;
    for (let i = 0; i < 1_000 && !refused; i++) {
      const res: Answer = await t.service.get(`/v1/labs/${looping.id}`);
      if (res.status === 429) refused = res;
      else expect(res.status).toBe(200);
    }
    expect(refused?.data.error?.code).toBe('rate_limited');
    expect(Number(refused?.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    // The same service token, the next moment: another learner launches and reads their lab.
    const other = await launchWith(t, 'anon-classmate');
    expect([200, 202]).toContain(other.status);
    expect((await t.service.get(`/v1/labs/${other.data.id}`)).status).toBe(200);
    // Heartbeats are never refused for rate, even on the limited lab.
    expect((await t.service.post(`/v1/labs/${looping.id}/heartbeat`)).status).toBe(204);
  });

  it('a learner launching in a loop is limited; the class still launches', async () => {
    let refused: Answer | undefined;
    for (let i = 0; i < 1_000 && !refused; i++) {
      const res: Answer = await launchWith(t, 'anon-launch-loop');
      if (res.status === 429) refused = res;
      else expect([200, 202]).toContain(res.status);
    }
    expect(refused?.data.error?.code).toBe('rate_limited');
    const statuses = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => (await launchWith(t, `anon-class-${i}`)).status),
    );
    expect(statuses.every((s) => s === 200 || s === 202)).toBe(true);
  });

  it('keeps the configured ceiling per token across labs', async () => {
    const capped = await startApiEnv({}, {}, t.lab, 0, {
      rateLimit: {
        // A refill slower than any request under load: the fourth request finds the burst spent
        // (at 1/s, a loaded machine's 404s, which ask Temporal, took over a second each).
        perToken: { perSecond: 0.001, burst: 3 },
        perLab: { perSecond: 100, burst: 100 },
        perLearner: { perSecond: 100, burst: 100 },
      },
    });
    try {
      // Five labs, one request each (never launched: 404), one after the other.
      const statuses: number[] = [];
      for (const c of 'abcde')
        statuses.push((await capped.service.get(`/v1/labs/lab_${c.repeat(26)}`)).status);
      expect(statuses).toEqual([404, 404, 404, 429, 429]);
    } finally {
      await capped.close();
    }
  });
});

describe('the heartbeat token lives as long as its lab (issue 15 item 10)', () => {
  let t: ApiEnv;
  beforeAll(async () => {
    // The lab ends by maxLifetime 3 s after launch; Heat then takes 3 s to delete its stack.
    t = await startApiEnv({ maxLifetime: '3s', emulator: { deleteDelayMs: 3_000 } });
    await t.lab.startWorker();
  });
  afterAll(() => t.close());

  it('answers 204 past maxLifetime until the lab is deleted, then 409, never 401', async () => {
    const { data: lab } = await launchWith(t, 'anon-lifetime');
    const beat = t.as(lab.heartbeatToken!);
    const answers: Array<{ status: number; state?: string; afterExpiry: boolean }> = [];
    const tokenExpiry = Number(lab.heartbeatToken!.split('.')[2]) * 1000;
    await eventually(
      'the lab to be deleted',
      async () => {
        const status = (await beat.post(`/v1/labs/${lab.id}/heartbeat`)).status;
        const state = await projectedState(t, lab.id);
        answers.push({ status, state, afterExpiry: Date.now() > tokenExpiry });
        await pace(100);
        return state === 'deleted' || undefined;
      },
      45_000,
    );
    // Before the lab is deleted, every heartbeat is accepted: never a 401, never a 409.
    expect(answers.filter((a) => a.status !== 204 && a.state !== 'deleted')).toEqual([]);
    await eventually('409 once deleted', async () => {
      const res = await beat.post(`/v1/labs/${lab.id}/heartbeat`);
      answers.push({ status: res.status, state: 'deleted', afterExpiry: true });
      return res.status === 409 || undefined;
    });
    expect(answers.filter((a) => a.status !== 204 && a.status !== 409)).toEqual([]);
    // The token's own expiry passed while the lab was still there, and it was still accepted.
    expect(answers.some((a) => a.afterExpiry && a.status === 204)).toBe(true);
  });
});

describe('/metrics never queries MongoDB on a scrape (issue 15 item 11)', () => {
  let t: ApiEnv;
  beforeAll(async () => {
    t = await startApiEnv({}, {}, undefined, 0, { metricsRefresh: 200 });
    await t.lab.startWorker();
  });
  afterAll(() => t.close());

  it('keeps labs_by_state current from a background refresh', async () => {
    const { data: lab } = await launchWith(t, 'anon-metrics');
    await t.lab.waitForState(lab.id, 'ready');
    await eventually('labs_by_state to count the ready lab', async () => {
      const ready = await metric(t, 'labs_by_state{state="ready"}');
      return (ready ?? 0) >= 1 || undefined;
    });
  });

  it('answers scrapes from its cache: no MongoDB query however many scrapes', async () => {
    // An API of its own (no other refresher on its database) whose refresh will not come again
    // during the test: it refreshed once when it started.
    const quiet = await startApiEnv({}, {}, undefined, 0, { metricsRefresh: 3_600_000 });
    const aggregate = jest.spyOn(quiet.lab.store.labs.collection, 'aggregate');
    try {
      await eventually('the first refresh', async () =>
        (await metric(quiet, 'labs_by_state{state="ready"}')) === undefined ? undefined : true,
      );
      aggregate.mockClear();
      const scrapes = await Promise.all(
        Array.from({ length: 20 }, () => quiet.http.get('/metrics', { responseType: 'text' })),
      );
      expect(scrapes.every((s) => s.status === 200)).toBe(true);
      expect(aggregate).not.toHaveBeenCalled();
    } finally {
      aggregate.mockRestore();
      await quiet.close();
    }
  });
});
