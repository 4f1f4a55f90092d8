import { WorkflowNotFoundError } from '@temporalio/client';
import { request } from 'node:http';
import { HeartbeatTokens } from '../../src/api/auth/heartbeat-token';
import { labIdFor } from '../../src/temporal/ids';
import { SECRETS_KEY } from '../support/lab-env';
import { ADMIN_TOKEN, SERVICE_TOKEN, startApiEnv, type ApiEnv } from './api-env';

const COURSE = 'course-v1:Org+Auth+2026';
const YEAR = 365 * 86_400_000;

describe('auth matrix, bad input, rate limits', () => {
  let t: ApiEnv;
  let labA: string;
  let labB: string;
  let tokenA: string;
  let tokenB: string;
  beforeAll(async () => {
    t = await startApiEnv({}, { rateLimit: { perSecond: 1000, burst: 1000 } });
    await t.lab.startWorker();
    const a = await t.service.post('/v1/labs', {
      courseId: COURSE,
      learnerId: 'anon-a',
      lab: 'demo',
    });
    const b = await t.admin.post('/v1/labs', {
      courseId: COURSE,
      learnerId: 'anon-b',
      lab: 'demo',
    });
    [labA, tokenA, labB, tokenB] = [
      a.data.id,
      a.data.heartbeatToken,
      b.data.id,
      b.data.heartbeatToken,
    ];
    await t.lab.waitForState(labA, 'ready');
  });
  afterAll(() => t.close());

  it('answers each token on each route as DESIGN says (401, 403, or success)', async () => {
    const tampered = tokenA.slice(0, -2) + (tokenA.endsWith('AA') ? 'BB' : 'AA');
    const expired = new HeartbeatTokens([SECRETS_KEY], () => Date.now() - 2 * YEAR).issue(
      labA,
      YEAR,
    );
    const otherKey = new HeartbeatTokens([{ id: 'x', key: Buffer.alloc(32, 7) }]).issue(labA, YEAR);
    const tokens: Record<string, string | null> = {
      none: null,
      unknown: 'not-a-configured-token',
      service: SERVICE_TOKEN,
      admin: ADMIN_TOKEN,
      heartbeatA: tokenA,
      heartbeatB: tokenB,
      tampered,
      expired,
      otherKey,
    };
    const launchBody = { courseId: COURSE, learnerId: 'anon-a', lab: 'demo' };
    const routes: Array<[string, string, unknown, Record<string, number>]> = [
      ['post', '/v1/labs', launchBody, { service: 200, admin: 200, heartbeatA: 403 }],
      ['get', `/v1/labs/${labA}`, undefined, { service: 200, admin: 200, heartbeatA: 403 }],
      [
        'post',
        `/v1/labs/${labA}/heartbeat`,
        undefined,
        { service: 204, admin: 204, heartbeatA: 204, heartbeatB: 403 },
      ],
      [
        'post',
        `/v1/labs/${labB}/heartbeat`,
        undefined,
        { service: 204, admin: 204, heartbeatA: 403, heartbeatB: 204 },
      ],
      [
        'get',
        `/v1/labs/${labA}/connection`,
        undefined,
        { service: 200, admin: 403, heartbeatA: 403 },
      ],
      ['post', `/v1/labs/${labA}/retry`, undefined, { service: 403, admin: 409, heartbeatA: 403 }],
      ['get', '/v1/labs', undefined, { service: 403, admin: 200, heartbeatA: 403 }],
      ['get', '/v1/providers', undefined, { service: 403, admin: 200, heartbeatA: 403 }],
      ['get', '/v1/catalog', undefined, { service: 200, admin: 200, heartbeatA: 403 }],
    ];
    const got: string[] = [];
    const want: string[] = [];
    for (const [method, url, data, expected] of routes) {
      for (const [name, token] of Object.entries(tokens)) {
        const res = await t.as(token).request({ method, url, data });
        got.push(`${method} ${url} ${name} ${res.status}`);
        want.push(
          `${method} ${url} ${name} ${expected[name] ?? (name === 'heartbeatB' ? 403 : 401)}`,
        );
        if (res.status === 401) expect(res.headers['www-authenticate']).toBe('Bearer');
      }
    }
    expect(got).toEqual(want);
    for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json'])
      expect((await t.http.get(url)).status).toBe(200);
  });

  it('checks auth, then permission, then input', async () => {
    const bad = { courseId: 1 };
    expect((await t.http.post('/v1/labs', bad)).status).toBe(401);
    expect((await t.as(tokenA).post('/v1/labs', bad)).status).toBe(403);
    expect((await t.service.post('/v1/labs', bad)).status).toBe(400);
    expect((await t.admin.get('/v1/labs/nope/connection')).status).toBe(403);
    expect((await t.service.get('/v1/labs/nope/connection')).status).toBe(400);
    expect((await t.as(tokenA).post('/v1/labs/nope/heartbeat')).status).toBe(403);
    for (const header of ['Basic abc', 'Bearer', 'Bearer a b', `bearer ${SERVICE_TOKEN}`])
      expect((await t.http.get('/v1/catalog', { headers: { Authorization: header } })).status).toBe(
        401,
      );
  });

  it('refuses bad input naming the field, and none of it reaches Temporal or Heat', async () => {
    const counts = await t.lab.emulator.admin.requestCounts();
    const ok = { courseId: COURSE, learnerId: 'anon-bad', lab: 'demo' };
    const long = 'x'.repeat(256);
    const cases: Array<[string, unknown, number, string | null, string?]> = [
      ['courseId missing', { learnerId: 'l', lab: 'demo' }, 400, 'courseId'],
      ['courseId a number', { ...ok, courseId: 7 }, 400, 'courseId'],
      ['courseId not a course key', { ...ok, courseId: 'Linux 101' }, 400, 'courseId'],
      ['courseId with a missing run', { ...ok, courseId: 'course-v1:Org+Course' }, 400, 'courseId'],
      ['learnerId empty', { ...ok, learnerId: '' }, 400, 'learnerId'],
      ['learnerId with a space', { ...ok, learnerId: 'a b' }, 400, 'learnerId'],
      ['learnerId with a control character', { ...ok, learnerId: 'a\u0000b' }, 400, 'learnerId'],
      ['learnerId too long', { ...ok, learnerId: long }, 400, 'learnerId'],
      ['lab a number', { ...ok, lab: 42 }, 400, 'lab'],
      ['unknown field', { ...ok, admin: true }, 400, 'admin'],
      ['body an array', [ok], 400, null],
      ['unknown lab name', { ...ok, lab: 'no-such-lab' }, 422, 'lab'],
      ['malformed JSON', '{"courseId":', 400, null, 'application/json'],
      ['not JSON', 'courseId=x', 415, null, 'application/x-www-form-urlencoded'],
      ['over 64 KiB', { ...ok, pad: 'x'.repeat(70_000) }, 413, null],
    ];
    for (const [what, data, status, field, type] of cases) {
      const res = await t.service.post('/v1/labs', type ? String(data) : data, {
        headers: { 'Content-Type': type ?? 'application/json' },
        transformRequest: type ? [(d: unknown) => d] : undefined,
      });
      expect({ what, status: res.status }).toEqual({ what, status });
      expect(res.data.error).toMatchObject({
        code: expect.any(String),
        message: expect.any(String),
      });
      if (field !== null)
        expect({ what, field: res.data.error.details.field }).toEqual({ what, field });
      const body = (data ?? {}) as Record<string, unknown>;
      const id = labIdFor(String(body.courseId), String(body.learnerId), String(body.lab));
      const describe = await t.lab.client.workflow
        .getHandle(id)
        .describe()
        .catch((e: unknown) => e);
      expect({ what, notStarted: describe instanceof WorkflowNotFoundError }).toEqual({
        what,
        notStarted: true,
      });
    }
    expect(await postChunked(`${t.url}/v1/labs`, 80_000)).toBe(413);
    const queries: Array<[string, string, string]> = [
      ['lab id upper case', `/v1/labs/lab_${'A'.repeat(26)}`, 'id'],
      ['lab id short', '/v1/labs/lab_abc', 'id'],
      ['wait over 60', `/v1/labs/${labA}?wait=61`, 'wait'],
      ['wait not a number', `/v1/labs/${labA}?wait=soon`, 'wait'],
      ['unknown query field', `/v1/labs/${labA}?verbose=1`, 'verbose'],
      ['limit 0', '/v1/labs?limit=0', 'limit'],
      ['limit 501', '/v1/labs?limit=501', 'limit'],
      ['unknown state', '/v1/labs?state=sleeping', 'state'],
    ];
    for (const [what, url, field] of queries) {
      const res = await t.admin.get(url);
      expect({ what, status: res.status, field: res.data.error?.details?.field }).toEqual({
        what,
        status: 400,
        field,
      });
    }
    const actionBody = await t.service.post(`/v1/labs/${labA}/suspend`, { force: true });
    expect(actionBody.status).toBe(400);
    expect(actionBody.data.error.details.field).toBe('force');
    expect((await t.lab.status(labA)).state).toBe('ready');
    expect(await t.lab.emulator.admin.requestCounts()).toEqual(counts);
  });

  it('accepts Open edX course keys in current, CCX and legacy forms', async () => {
    for (const courseId of [
      'course-v1:edX+DemoX.1+2T2026',
      'ccx-v1:edX+DemoX+2026+ccx@3',
      'edX/DemoX/2026',
    ]) {
      const res = await t.service.post('/v1/labs', {
        courseId,
        learnerId: 'anon-keys',
        lab: 'demo',
      });
      expect({ courseId, status: res.status }).toEqual({ courseId, status: 202 });
    }
  });

  it('404 for unknown routes and ids never launched', async () => {
    expect((await t.service.get('/v1/nothing')).data.error.code).toBe('not_found');
    const never = `lab_${'c'.repeat(26)}`;
    expect((await t.service.get(`/v1/labs/${never}`)).status).toBe(404);
    expect((await t.service.post(`/v1/labs/${never}/reset`)).status).toBe(404);
    expect((await t.service.delete(`/v1/labs/${never}`)).status).toBe(404);
  });

  it('rate-limits each service or admin token with Retry-After, never heartbeats', async () => {
    const limited = await startApiEnv({}, { rateLimit: { perSecond: 1, burst: 3 } }, t.lab);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await limited.service.get('/v1/catalog')).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      const refused = await limited.service.get('/v1/catalog');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(refused.data.error.code).toBe('rate_limited');
      // Another token has its own bucket; heartbeats are never limited.
      expect((await limited.admin.get('/v1/catalog')).status).toBe(200);
      for (let i = 0; i < 10; i++)
        expect((await limited.service.post(`/v1/labs/${labA}/heartbeat`)).status).toBe(204);
    } finally {
      await limited.close();
    }
  });
});

/** A body without Content-Length (chunked), as a streaming client sends: the limit holds too. */
function postChunked(url: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { Authorization: `Bearer ${SERVICE_TOKEN}`, 'Content-Type': 'application/json' },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    for (let sent = 0; sent < bytes; sent += 16_384) req.write(Buffer.alloc(16_384, 32));
    req.end();
  });
}
