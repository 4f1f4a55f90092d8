import { createApp } from '../../src/api/app';
import { createLogger } from '../../src/log';
import { pace } from '../support/wait';
import { eventually, metricSum, startApiEnv, testEnvironment, type ApiEnv } from './api-env';

type Lab = { id: string; state: string; heartbeatToken: string; lastActivityAt: string | null };

describe('heartbeats: coalesced, keep a lab ready, resume a suspended one', () => {
  let t: ApiEnv;
  beforeAll(async () => {
    t = await startApiEnv({ idleTimeout: '2s', heartbeatFlush: '100ms' });
    await t.lab.startWorker();
  });
  afterAll(() => t.close());

  const launch = async (learnerId: string): Promise<Lab> =>
    (
      await t.service.post<Lab>('/v1/labs', {
        courseId: 'course-v1:Org+Beats+2026',
        learnerId,
        lab: 'demo',
      })
    ).data;
  const signalsIn = async (labId: string) =>
    (await t.lab.client.workflow.getHandle(labId).fetchHistory()).events?.filter(
      (e) => e.workflowExecutionSignaledEventAttributes,
    ).length ?? 0;

  it('keeps a lab ready past idleTimeout with no Temporal call, then a suspended lab resumes', async () => {
    const lab = await launch('anon-beat');
    const ready = await t.lab.waitForState(lab.id, 'ready');
    const beat = t.as(lab.heartbeatToken);
    // The learner stays active for 3x idleTimeout (2 s).
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      expect((await beat.post(`/v1/labs/${lab.id}/heartbeat`)).status).toBe(204);
      expect((await t.lab.status(lab.id)).state).toBe('ready');
      await pace(250);
    }
    expect((await t.lab.status(lab.id)).readyAt).toBe(ready.readyAt);
    expect(await signalsIn(lab.id)).toBe(0);
    const view = (await t.service.get<Lab>(`/v1/labs/${lab.id}`)).data;
    expect(Date.parse(view.lastActivityAt!)).toBeGreaterThan(Date.now() - 2_000);

    await t.lab.waitForState(lab.id, 'suspended', 20_000);
    await eventually('projection suspended', async () => {
      const r = await t.service.get<Lab>(`/v1/labs/${lab.id}`);
      return r.data.state === 'suspended' || undefined;
    });
    const sentBefore = await metricSum(t, 'labs_api_heartbeat_signals_total');
    // The learner is back: heartbeats (many) on the suspended lab send one signal and resume it.
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => beat.post(`/v1/labs/${lab.id}/heartbeat`)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(204));
    await t.lab.waitForState(lab.id, 'ready', 20_000);
    expect(await signalsIn(lab.id)).toBe(1);
    expect(await metricSum(t, 'labs_api_heartbeat_signals_total')).toBe(sentBefore + 1);
  });

  it('coalesces a burst into one write per lab per flush', async () => {
    const lab = await launch('anon-burst');
    const beat = t.as(lab.heartbeatToken);
    await t.api.services.heartbeats.flush();
    const receivedBefore = await metricSum(t, 'labs_api_heartbeats_received_total');
    const writesBefore = await metricSum(t, 'labs_api_heartbeat_writes_total');
    const burstStarted = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => beat.post(`/v1/labs/${lab.id}/heartbeat`)),
    );
    expect(answers.every((a) => a.status === 204)).toBe(true);
    await t.api.services.heartbeats.flush();
    const flushIntervals = Math.ceil((Date.now() - burstStarted) / 100);
    expect(await metricSum(t, 'labs_api_heartbeats_received_total')).toBe(receivedBefore + 200);
    const writes = (await metricSum(t, 'labs_api_heartbeat_writes_total')) - writesBefore;
    // One write per flush interval (100 ms) at most, however many heartbeats: 200 of them in
    // well under a second on a quiet machine, longer on a loaded one.
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThanOrEqual(flushIntervals + 1);
    expect(await t.lab.store.activity.lastActivityAt(lab.id)).not.toBeNull();
  });

  it('404 for a lab never launched; 400 for a malformed id; never 429', async () => {
    const unknown = await t.service.post(`/v1/labs/lab_${'b'.repeat(26)}/heartbeat`);
    expect(unknown.status).toBe(404);
    const malformed = await t.service.post('/v1/labs/lab_NOPE/heartbeat');
    expect(malformed.status).toBe(400);
    expect(malformed.data.error.details.field).toBe('id');
    // A sendBeacon body (text/plain) is ignored rather than refused.
    const lab = await launch('anon-beacon');
    const beacon = await t
      .as(lab.heartbeatToken)
      .post(`/v1/labs/${lab.id}/heartbeat`, 'ping', { headers: { 'Content-Type': 'text/plain' } });
    expect(beacon.status).toBe(204);
  });

  it('flushes pending heartbeats when the API closes', async () => {
    const lab = await launch('anon-close');
    // A second API process with a flush interval that never comes: only close() writes.
    const api = createApp({
      config: { ...t.lab.config, api: { ...t.lab.config.api, heartbeatFlush: 3_600_000 } },
      env: testEnvironment(),
      store: t.lab.store,
      temporal: { client: t.lab.client, taskQueue: t.lab.taskQueue },
      logger: createLogger('silent', 'api-test'),
    });
    await t.api.services.heartbeats.flush();
    const before = (await t.lab.store.activity.lastActivityAt(lab.id))?.getTime() ?? 0;
    const server = api.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const address = server.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${address.port}/v1/labs/${lab.id}/heartbeat`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${lab.heartbeatToken}` },
    });
    expect(res.status).toBe(204);
    expect((await t.lab.store.activity.lastActivityAt(lab.id))?.getTime() ?? 0).toBe(before);
    await new Promise((r) => server.close(r));
    await api.close();
    expect((await t.lab.store.activity.lastActivityAt(lab.id))!.getTime()).toBeGreaterThan(before);
  });
});
