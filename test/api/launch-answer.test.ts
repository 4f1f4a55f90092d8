import { performance } from 'node:perf_hooks';
import { pace } from '../support/wait';
import { eventually, metricSum, startApiEnv, type ApiEnv } from './api-env';

const COURSE = 'course-v1:Org+Fast101+2026';
type Lab = { id: string; state: string; heartbeatToken: string };

/**
 * Issue 22: a launch is answered as soon as Temporal has durably taken it (signal-with-start),
 * from what the API knows, never after a workflow task: a worker that is down or busy does not
 * make the learner wait for the answer.
 */
describe('launch answers without waiting for the worker', () => {
  let t: ApiEnv;
  const launch = (learnerId: string) =>
    t.service.post<Lab>('/v1/labs', { courseId: COURSE, learnerId, lab: 'demo' });

  beforeAll(async () => {
    t = await startApiEnv();
  }, 120_000);
  afterAll(() => t?.close());

  it('answers 202 queued at once with no worker running, and the lab is built once one runs', async () => {
    await t.lab.stopWorker();
    const started = performance.now();
    const first = await launch('anon-no-worker');
    const again = await launch('anon-no-worker');
    const elapsed = performance.now() - started;
    expect([first.status, again.status]).toEqual([202, 202]);
    expect(first.data).toMatchObject({ state: 'queued', heartbeatToken: expect.any(String) });
    expect(again.data.id).toBe(first.data.id);
    // Two answers with no worker at all: an update would have waited out the API's deadline.
    expect(elapsed).toBeLessThan(3_000);

    await t.lab.startWorker();
    await eventually('the lab to be ready', async () => {
      const { data } = await t.service.get<Lab>(`/v1/labs/${first.data.id}`);
      return data.state === 'ready' || undefined;
    });
    // One workflow, one stack, however many launches reached it before the worker did.
    expect(await t.lab.liveStacks(first.data.id)).toHaveLength(1);
    const ready = await launch('anon-no-worker');
    expect(ready.status).toBe(200);
    expect(ready.data.state).toBe('ready');
  }, 90_000);

  it('asks Temporal once, not once a heartbeat, about a launched lab the worker has not projected yet', async () => {
    await t.lab.stopWorker();
    try {
      await heartbeatsOfAnUnprojectedLab();
    } finally {
      await t.lab.startWorker();
    }
  }, 60_000);

  /** With the worker stopped: a new lab's heartbeats, and how often they asked Temporal. */
  async function heartbeatsOfAnUnprojectedLab(): Promise<void> {
    const { data: lab } = await launch('anon-unprojected');
    expect(lab.state).toBe('queued');
    const beat = t.as(lab.heartbeatToken);
    const before = await metricSum(t, 'labs_api_heartbeat_workflow_lookups_total');
    // A class's heartbeats while a busy worker has not reached the lab: all accepted, and the
    // one lookup's answer is shared.
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => beat.post(`/v1/labs/${lab.id}/heartbeat`)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(204));
    expect((await metricSum(t, 'labs_api_heartbeat_workflow_lookups_total')) - before).toBe(1);
    // The learner's next heartbeat, past the state TTL (600 ms at this test's 100 ms flush; 30 s
    // at the default, the XBlock's heartbeat interval): still no second lookup.
    await pace(1_000);
    expect((await beat.post(`/v1/labs/${lab.id}/heartbeat`)).status).toBe(204);
    expect((await metricSum(t, 'labs_api_heartbeat_workflow_lookups_total')) - before).toBe(1);
  }

  it('resumes a suspended lab on launch, answering with the state it is in', async () => {
    const { data: lab } = await launch('anon-resume');
    await eventually(
      'ready',
      async () =>
        (await t.service.get<Lab>(`/v1/labs/${lab.id}`)).data.state === 'ready' || undefined,
    );
    expect((await t.service.post(`/v1/labs/${lab.id}/suspend`)).status).toBe(202);
    await eventually(
      'suspended',
      async () =>
        (await t.service.get<Lab>(`/v1/labs/${lab.id}`)).data.state === 'suspended' || undefined,
    );
    const back = await launch('anon-resume');
    expect(back.status).toBe(202);
    expect(['suspended', 'resuming', 'ready']).toContain(back.data.state);
    await eventually(
      'ready again',
      async () =>
        (await t.service.get<Lab>(`/v1/labs/${lab.id}`)).data.state === 'ready' || undefined,
    );
  }, 60_000);
});
