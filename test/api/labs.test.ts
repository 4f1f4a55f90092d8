import { idleSlackFor } from '../../workflows/policy';
import { eventually, startApiEnv, type ApiEnv } from './api-env';

const COURSE = 'course-v1:OpenCraft+Linux101+2026';
type Lab = Record<string, unknown> & { id: string; state: string; heartbeatToken?: string };

describe('labs API: launch, read, long-poll, actions, connection, list', () => {
  let t: ApiEnv;
  beforeAll(async () => {
    t = await startApiEnv({ idleTimeout: '1h', maxLifetime: '30d' });
    await t.lab.startWorker();
  });
  afterAll(() => t.close());

  const launch = (learnerId: string, lab = 'demo') =>
    t.service.post<Lab>('/v1/labs', { courseId: COURSE, learnerId, lab });
  const waitForState = (id: string, state: string, timeoutMs = 30_000) =>
    eventually(
      `${id} ${state}`,
      async () => {
        const res = await t.service.get<Lab>(`/v1/labs/${id}`);
        return res.data.state === state ? res.data : undefined;
      },
      timeoutMs,
    );

  it('launches: 202 with the lab and a heartbeat token, then 200 once ready', async () => {
    const first = await launch('anon-launch');
    expect(first.status).toBe(202);
    expect(first.data).toMatchObject({
      id: expect.stringMatching(/^lab_[a-z2-7]{26}$/),
      courseId: COURSE,
      learnerId: 'anon-launch',
      lab: 'demo',
      state: expect.stringMatching(/^(queued|launching)$/),
      heartbeatToken: expect.stringMatching(/^hb1\./),
      outputs: {},
      error: null,
      suspendAt: null,
    });
    const ready = await waitForState(first.data.id, 'ready');
    expect(ready).toMatchObject({
      provider: 'cloud-a',
      stack: { name: `demo-${first.data.id.slice(4)}-g1`, status: 'CREATE_COMPLETE' },
      outputs: { public_ip: '192.0.2.10' },
      progress: null,
    });
    expect(Object.keys(ready).sort()).toEqual(
      [
        'id',
        'courseId',
        'learnerId',
        'lab',
        'state',
        'provider',
        'stack',
        'outputs',
        'progress',
        'error',
        'createdAt',
        'updatedAt',
        'lastActivityAt',
        'suspendAt',
        'deleteAt',
        'fromPool',
        'statusReason',
      ].sort(),
    );
    // suspendAt = lastActivityAt + idleTimeout (1h) + idleSlack (twice the heartbeat flush):
    // when the workflow suspends; deleteAt = life start + maxLifetime (30d).
    const last = Date.parse(ready.lastActivityAt as string);
    const idleSlack = idleSlackFor(t.lab.config.api.heartbeatFlush);
    expect(Date.parse(ready.suspendAt as string) - last).toBe(3_600_000 + idleSlack);
    expect(Date.parse(ready.deleteAt as string)).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    const again = await launch('anon-launch');
    expect(again.status).toBe(200);
    expect(again.data.id).toBe(first.data.id);
    expect(again.data.state).toBe('ready');
  });

  it('50 concurrent launches of one lab return one id and make one stack', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, () => launch('anon-herd')));
    expect(answers.map((a) => a.status).filter((s) => s !== 200 && s !== 202)).toEqual([]);
    const ids = new Set(answers.map((a) => a.data.id));
    expect(ids.size).toBe(1);
    const [id] = [...ids] as [string];
    await waitForState(id, 'ready');
    expect(await t.lab.liveStacks(id)).toHaveLength(1);
    // The API coalesces them: at most two launches of a lab are outstanding (one sent, one
    // queued behind it), so 50 clicks cost the lab's history fewer signals than clicks (each
    // signal is answered in milliseconds, so those far enough apart each send one).
    const history = await t.lab.client.workflow.getHandle(id).fetchHistory();
    const launches = (history.events ?? []).filter(
      (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'launch',
    );
    expect(launches.length).toBeGreaterThan(0);
    expect(launches.length).toBeLessThan(50);
  });

  it('long-poll answers when the state changes, and after N seconds when nothing does', async () => {
    const { data: lab } = await launch('anon-poll');
    const ready = await waitForState(lab.id, 'ready');
    const started = Date.now();
    const idle = await t.service.get<Lab>(`/v1/labs/${lab.id}?wait=1`);
    expect(idle.status).toBe(200);
    expect(idle.data.state).toBe('ready');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);

    const waiting = t.service.get<Lab>(`/v1/labs/${lab.id}?wait=30`);
    const suspend = await t.service.post<Lab>(`/v1/labs/${lab.id}/suspend`);
    expect(suspend.status).toBe(202);
    const changed = await waiting;
    expect(changed.status).toBe(200);
    expect(changed.data.state).not.toBe(ready.state);
  });

  it('suspend, reset and delete answer 202 with the lab; 409 where the state refuses (never for a repeated delete)', async () => {
    const { data: lab } = await launch('anon-actions');
    await waitForState(lab.id, 'ready');
    // retry is only for failed labs (and admin only).
    const retry = await t.admin.post(`/v1/labs/${lab.id}/retry`);
    expect(retry.status).toBe(409);
    expect(retry.data.error.code).toBe('invalid_state');

    const reset = await t.service.post<Lab>(`/v1/labs/${lab.id}/reset`);
    expect(reset.status).toBe(202);
    expect(reset.data.id).toBe(lab.id);
    const fresh = await eventually('reset to g2', async () => {
      const r = await t.service.get<Lab>(`/v1/labs/${lab.id}`);
      const stack = r.data.stack as { name: string } | null;
      return r.data.state === 'ready' && stack?.name.endsWith('-g2') ? r.data : undefined;
    });
    expect(fresh.state).toBe('ready');

    const del = await t.admin.delete<Lab>(`/v1/labs/${lab.id}`);
    expect(del.status).toBe(202);
    await waitForState(lab.id, 'deleted');
    for (const [method, path] of [
      ['post', '/suspend'],
      ['post', '/reset'],
    ] as const) {
      const res = await t.service.request({ method, url: `/v1/labs/${lab.id}${path}` });
      expect({ path, status: res.status }).toEqual({ path, status: 409 });
    }
    // DELETE is idempotent: the deleted lab answers with itself.
    const again = await t.service.delete<Lab>(`/v1/labs/${lab.id}`);
    expect({ status: again.status, state: again.data.state }).toEqual({
      status: 202,
      state: 'deleted',
    });
    const heartbeat = await t.service.post(`/v1/labs/${lab.id}/heartbeat`);
    expect(heartbeat.status).toBe(409);
    // Still answers GET for audit; a new launch starts a new life under the same id.
    expect((await t.service.get<Lab>(`/v1/labs/${lab.id}`)).data.deleteAt).toBeNull();
    const relaunch = await launch('anon-actions');
    expect(relaunch.status).toBe(202);
    expect(relaunch.data.id).toBe(lab.id);
    expect(relaunch.data.state).not.toBe('deleted');
    // The new life's projection replaces the deleted one's (its seq starts above it).
    const ready = await waitForState(lab.id, 'ready');
    expect(ready).toMatchObject({ state: 'ready', error: null });
    expect((await t.service.post(`/v1/labs/${lab.id}/heartbeat`)).status).toBe(204);
  });

  it('retries a failed lab (admin): 202, and the lab fails again for a broken template', async () => {
    const { data: lab } = await launch('anon-broken', 'broken');
    const failed = await waitForState(lab.id, 'failed', 45_000);
    expect(failed.error).toMatchObject({ code: expect.any(String) });
    expect(failed.provider).toBeNull();
    expect((await t.service.post(`/v1/labs/${lab.id}/retry`)).status).toBe(403);
    const retry = await t.admin.post<Lab>(`/v1/labs/${lab.id}/retry`);
    expect(retry.status).toBe(202);
    expect((await t.service.get(`/v1/labs/${lab.id}/connection`)).status).toBe(409);
  });

  it('serves the connection with decrypted secrets to a service token only', async () => {
    const { data: lab } = await launch('anon-connect');
    const notReady = await t.service.get(`/v1/labs/${lab.id}/connection`);
    if (notReady.status !== 200) expect(notReady.status).toBe(409);
    await waitForState(lab.id, 'ready');
    const res = await t.service.get(`/v1/labs/${lab.id}/connection`);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.data).toEqual({
      protocol: 'ssh',
      host: '192.0.2.10',
      port: 22,
      username: 'learner',
      secrets: { password: expect.any(String) },
    });
    expect(res.data.secrets.password.length).toBeGreaterThan(0);
    expect((await t.admin.get(`/v1/labs/${lab.id}/connection`)).status).toBe(403);
    expect((await t.service.get(`/v1/labs/lab_${'a'.repeat(26)}/connection`)).status).toBe(404);
  });

  it('lists labs newest first, with filters and a stable cursor (admin)', async () => {
    const course = 'course-v1:OpenCraft+Paging+2026';
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.service.post<Lab>('/v1/labs', {
        courseId: course,
        learnerId: `anon-page-${i}`,
        lab: 'demo',
      });
      ids.push(res.data.id);
    }
    await eventually('projections written', async () => {
      const r = await t.admin.get('/v1/labs', { params: { courseId: course, limit: 500 } });
      return r.data.labs.length === 5 || undefined;
    });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await t.admin.get('/v1/labs', { params: { courseId: course, limit: 2, cursor } });
      expect(res.status).toBe(200);
      expect(res.data.labs.length).toBeLessThanOrEqual(2);
      seen.push(...res.data.labs.map((l: Lab) => l.id));
      cursor = res.data.nextCursor ?? undefined;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect([...seen].sort()).toEqual([...ids].sort());
    const all = await t.admin.get('/v1/labs', { params: { courseId: course } });
    const created = all.data.labs.map((l: Lab) => Date.parse(l.createdAt as string));
    expect(created).toEqual([...created].sort((a, b) => b - a));
    expect(all.data.labs.map((l: Lab) => l.id)).toEqual(seen);

    const one = await t.admin.get('/v1/labs', {
      params: { courseId: course, learnerId: 'anon-page-3', lab: 'demo' },
    });
    expect(one.data.labs.map((l: Lab) => l.id)).toEqual([ids[3]]);
    const byState = await t.admin.get('/v1/labs', { params: { state: 'deleted', limit: 500 } });
    expect(byState.data.labs.every((l: Lab) => l.state === 'deleted')).toBe(true);
    expect((await t.service.get('/v1/labs')).status).toBe(403);
    const bad = await t.admin.get('/v1/labs', { params: { cursor: 'bm90LWEtY3Vyc29y' } });
    expect(bad.status).toBe(400);
    expect(bad.data.error.details.field).toBe('cursor');
  });

  it('shows providers with capacity, use and queue, and the catalog', async () => {
    const res = await t.admin.get('/v1/providers');
    expect(res.status).toBe(200);
    expect(res.data.providers).toEqual([
      {
        name: 'cloud-a',
        region: 'RegionOne',
        capacity: -1,
        used: expect.any(Number),
        queued: 0,
        pooled: 0,
        poolLimit: null,
      },
    ]);
    expect(res.data.providers[0].used).toBeGreaterThan(0);
    expect((await t.service.get('/v1/providers')).status).toBe(403);
    const catalog = await t.service.get('/v1/catalog');
    expect(catalog.status).toBe(200);
    expect(catalog.data.labs).toContainEqual({
      name: 'demo',
      idleTimeout: 3600,
      deleteAfter: 14 * 86_400,
      maxLifetime: 30 * 86_400,
      launchTimeout: 60,
      checks: [],
    });
    // A lab's checks are listed by name, title and weight; their scripts never leave the server.
    expect(catalog.data.labs).toContainEqual(
      expect.objectContaining({
        name: 'shell',
        checks: [
          { name: 'notes', title: 'notes.txt says hello', weight: 1 },
          { name: 'project', title: 'a project folder', weight: 2 },
        ],
      }),
    );
    expect((await t.admin.get('/v1/catalog')).status).toBe(200);
  });
});
