import fc from 'fast-check';
import type { AxiosResponse } from 'axios';
import { HeartbeatTokens } from '../../src/api/auth/heartbeat-token';
import type { AnyRoute } from '../../src/api/route';
import { labIdFor } from '../../src/temporal/ids';
import { SECRETS_KEY } from '../support/lab-env';
import { ADMIN_TOKEN, SERVICE_TOKEN, eventually, startApiEnv, type ApiEnv } from '../api/api-env';

/**
 * Property-based fuzzing of every route of the real app (issue 9): generated paths, query
 * strings, bodies and headers. Seeded and bounded, so a failure replays and the suite stays
 * short. Properties: never a 5xx, never a hang, every 4xx is `{error: {code, message}}` (a 400
 * names the field), and invalid input reaches neither Temporal nor Heat.
 */

const SEED = 20260709;
const COURSE = 'course-v1:Org+Fuzz+2026';
const YEAR = 365 * 86_400_000;
const LAB_ID = /^lab_[a-z2-7]{26}$/;
const CATALOG = new Set(['demo', 'broken', 'shell']);

interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** Sent as is (already serialised). */
  data?: string;
  /** Why this request is invalid (property 1), for the failure message. */
  why?: string;
}

const printable = fc.constantFrom(
  ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)),
);
/** Header values: printable ASCII only (anything else is refused by the HTTP client itself). */
const headerValue = fc.string({ unit: printable, maxLength: 80 });
const anyText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: printable, maxLength: 40 }),
);
const neverLaunchedId = fc.stringMatching(/^[a-z2-7]{26}$/).map((s) => `lab_${s}`);
/** Not a lab id, and not a segment that URL normalisation turns into another route. */
const badId = anyText.filter((s) => s.length > 0 && !LAB_ID.test(s) && s !== '.' && s !== '..');
const courseKey = fc
  .tuple(fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/), fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/))
  .map(([org, course]) => `course-v1:${org}+${course}+2026`);
const jsonText = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v));
const malformedJson = fc.oneof(
  fc.constantFrom('{"courseId":', '{', '[1,', '{"a":1}}', 'nul', "{'a':1}", '\u0000'),
  anyText.filter((s) => {
    if (s.trim() === '') return false;
    try {
      JSON.parse(s);
      return false;
    } catch {
      return true;
    }
  }),
);
const extraHeaders = fc.dictionary(
  fc.oneof(
    fc.constantFrom(
      'X-Forwarded-For',
      'X-Forwarded-Proto',
      'X-Forwarded-Host',
      'X-Request-Id',
      'Accept',
      'Accept-Encoding',
      'Origin',
      'Cookie',
    ),
    fc.stringMatching(/^X-[A-Za-z0-9-]{1,16}$/),
  ),
  headerValue,
  { maxKeys: 4 },
);
const queryPairs = fc.array(
  fc.tuple(
    fc.oneof(
      fc.constantFrom('wait', 'limit', 'cursor', 'state', 'courseId', 'learnerId', 'lab'),
      anyText,
    ),
    fc.oneof(
      anyText,
      fc.integer({ min: -5, max: 600 }).map(String),
      fc.constantFrom('ready', 'failed', '0', '1', ''),
    ),
  ),
  { maxLength: 4 },
);

const toQuery = (pairs: Array<[string, string]>): string =>
  pairs.length === 0 ? '' : '?' + new URLSearchParams(pairs).toString();

describe('fuzzing the API: generated requests to every route', () => {
  let t: ApiEnv;
  let routes: AnyRoute[];
  let labA: string;
  let tokenA: string;
  let badTokens: string[];
  beforeAll(async () => {
    t = await startApiEnv({}, { rateLimit: { perSecond: 100_000, burst: 100_000 } });
    await t.lab.startWorker();
    const launched = await t.service.post('/v1/labs', {
      courseId: COURSE,
      learnerId: 'anon-fuzz-a',
      lab: 'demo',
    });
    labA = launched.data.id;
    tokenA = launched.data.heartbeatToken;
    await t.lab.waitForState(labA, 'ready');
    routes = t.api.routes;
    badTokens = [
      tokenA.slice(0, -2) + (tokenA.endsWith('AA') ? 'BB' : 'AA'),
      new HeartbeatTokens([SECRETS_KEY], () => Date.now() - 2 * YEAR).issue(labA, YEAR),
      new HeartbeatTokens([{ id: 'x', key: Buffer.alloc(32, 7) }]).issue(labA, YEAR),
      `${SERVICE_TOKEN}x`,
      ADMIN_TOKEN.slice(1),
    ];
  });
  afterAll(() => t?.close());

  const send = (r: FuzzRequest): Promise<AxiosResponse> =>
    t.http.request({
      method: r.method,
      url: r.url,
      headers: r.headers,
      data: r.data,
      // Bodies are sent exactly as generated; a hang fails instead of waiting for jest.
      transformRequest: [(d: unknown) => d],
      transformResponse: [(d: string) => d],
      responseType: 'text',
      timeout: 10_000,
    });

  /** The 4xx contract: `{error: {code, message}}`, a 400 naming its field (or null: the body). */
  const checkAnswer = (r: FuzzRequest, res: AxiosResponse): void => {
    const where = `${r.method} ${r.url} ${r.why ?? ''} -> ${res.status} ${String(res.data).slice(0, 300)}`;
    if (res.status >= 500) throw new Error(`5xx: ${where}`);
    if (res.status < 400) return;
    let body: { error?: { code?: unknown; message?: unknown; details?: { field?: unknown } } };
    try {
      body = JSON.parse(String(res.data));
    } catch {
      throw new Error(`4xx without a JSON body: ${where}`);
    }
    const { error } = body;
    if (
      typeof error?.code !== 'string' ||
      error.code === '' ||
      typeof error.message !== 'string' ||
      error.message === ''
    )
      throw new Error(`4xx without {error: {code, message}}: ${where}`);
    if (res.status === 400 && !(error.details && 'field' in error.details))
      throw new Error(`400 without details.field: ${where}`);
    if (res.status === 401 && res.headers['www-authenticate'] !== 'Bearer')
      throw new Error(`401 without WWW-Authenticate: ${where}`);
  };

  const pathOf = (route: AnyRoute, id: string): string =>
    route.path.replace('{id}', encodeURIComponent(id));
  const readsBody = (route: AnyRoute): boolean =>
    route.method !== 'get' && route.ignoreBody !== true;

  /** A request to `route` made invalid in at least one way that applies to it. */
  const invalidRequest = (route: AnyRoute): fc.Arbitrary<FuzzRequest> => {
    const kinds: string[] = [];
    if (route.access !== 'public') kinds.push('auth');
    if (route.params) kinds.push('id');
    if (route.query) kinds.push('query');
    if (readsBody(route)) kinds.push('body');
    const validToken = fc.constantFrom(
      route.access === 'admin' ? ADMIN_TOKEN : SERVICE_TOKEN,
      ...(route.access === 'heartbeat' ? [tokenA] : []),
    );
    const forbiddenToken: string[] = [
      ...(route.access === 'heartbeat' ? [] : [tokenA]),
      ...(route.access === 'admin' ? [SERVICE_TOKEN] : []),
      ...(route.access === 'service' ? [ADMIN_TOKEN] : []),
    ];
    const badAuth = fc.oneof(
      fc.constant(null),
      fc.constantFrom(...badTokens, ...forbiddenToken).map((tok) => `Bearer ${tok}`),
      headerValue,
      fc.stringMatching(/^[A-Za-z0-9._~+/-]{1,60}$/).map((tok) => `Bearer ${tok}`),
    );
    const goodId = fc.constantFrom(labA);
    const goodQuery = fc.constant<Array<[string, string]>>([]);
    const knownQueryKeys = new Set([
      'wait',
      'limit',
      'cursor',
      'state',
      'courseId',
      'learnerId',
      'lab',
    ]);
    const badQuery = fc.oneof(
      fc
        .tuple(
          anyText.filter((k) => k !== '' && !knownQueryKeys.has(k)),
          anyText,
        )
        .map(([k, v]): Array<[string, string]> => [[k, v]]),
      fc.constantFrom(
        ...(route.path === '/v1/labs'
          ? ['limit=0', 'limit=501', 'state=sleeping', 'cursor=*', 'limit=1&limit=2']
          : route.path.endsWith('/events')
            ? ['limit=0', 'limit=201', 'limit=x']
            : ['wait=61', 'wait=-1', 'wait=soon', 'wait=1.5']
        ).map((q) => [...new URLSearchParams(q).entries()]),
      ),
    );
    const goodBody = fc.constant<{ data?: string; type?: string }>(
      route.path === '/v1/labs' && route.method === 'post'
        ? {
            data: JSON.stringify({ courseId: COURSE, learnerId: 'anon-fuzz-a', lab: 'demo' }),
            type: 'application/json',
          }
        : {},
    );
    const badBody = fc.oneof(
      fc
        .tuple(
          fc.record({
            courseId: fc.oneof(courseKey, anyText),
            learnerId: anyText,
            lab: fc.oneof(fc.constant('demo'), anyText),
          }),
          anyText.filter((k) => !['courseId', 'learnerId', 'lab'].includes(k)),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .map(([obj, key, value]) => ({
          data: JSON.stringify({ ...obj, [key]: value }),
          type: 'application/json',
        })),
      malformedJson.map((data) => ({ data, type: 'application/json' })),
      fc
        .tuple(jsonText, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'a/b'))
        .map(([data, type]) => ({ data, type })),
      fc
        .constantFrom('[]', '[{}]', '1', '"demo"', 'null', 'true')
        .map((data) => ({ data, type: 'application/json' })),
    );
    return fc
      .record({
        kind: fc.constantFrom(...kinds),
        extra: extraHeaders,
        badAuth,
        validToken,
        badId,
        goodId,
        goodQuery,
        badQuery,
        goodBody,
        badBody,
      })
      .map((g) => {
        const auth =
          g.kind === 'auth'
            ? g.badAuth
            : route.access === 'public'
              ? null
              : `Bearer ${g.validToken}`;
        const id = g.kind === 'id' ? g.badId : g.goodId;
        const query = g.kind === 'query' ? g.badQuery : g.goodQuery;
        const body = g.kind === 'body' ? g.badBody : g.goodBody;
        const headers: Record<string, string> = { ...g.extra };
        if (auth !== null) headers.Authorization = auth;
        if (body.type) headers['Content-Type'] = body.type;
        return {
          method: route.method.toUpperCase(),
          url: pathOf(route, id) + toQuery(query),
          headers,
          data: body.data,
          why: `(invalid ${g.kind})`,
        };
      });
  };

  /** Anything at all, on ids never launched (and launches of labs not in the catalog). */
  const anyRequest = (route: AnyRoute): fc.Arbitrary<FuzzRequest> =>
    fc
      .record({
        method: fc.oneof(
          fc.constant(route.method.toUpperCase()),
          fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
        ),
        auth: fc
          .oneof(
            { weight: 4, arbitrary: fc.constantFrom(SERVICE_TOKEN, ADMIN_TOKEN, tokenA) },
            { weight: 1, arbitrary: fc.constantFrom(...badTokens) },
          )
          .map((token) => `Bearer ${token}`),
        rawAuth: fc.oneof(
          { weight: 5, arbitrary: fc.constant(null) },
          { weight: 1, arbitrary: headerValue },
        ),
        id: fc.oneof(neverLaunchedId, badId),
        query: queryPairs,
        extra: extraHeaders,
        body: fc.oneof(
          fc.constant(undefined),
          fc
            .record({
              courseId: fc.oneof(
                { weight: 3, arbitrary: courseKey },
                { weight: 1, arbitrary: anyText },
              ),
              learnerId: fc.oneof(
                { weight: 3, arbitrary: fc.stringMatching(/^[a-f0-9]{8,32}$/) },
                { weight: 1, arbitrary: anyText },
              ),
              lab: fc
                .oneof(fc.stringMatching(/^[a-z-]{1,20}$/), anyText)
                .filter((l) => !CATALOG.has(l)),
            })
            .map((b) => JSON.stringify(b)),
          jsonText,
          malformedJson,
        ),
        type: fc.oneof(
          { weight: 4, arbitrary: fc.constant('application/json') },
          { weight: 1, arbitrary: fc.constantFrom('text/plain', undefined) },
        ),
      })
      .map((g) => {
        const headers: Record<string, string> = { ...g.extra };
        // Mostly a real token, so requests get past auth to the inputs; sometimes any header.
        const auth = g.rawAuth ?? g.auth;
        if (auth !== '') headers.Authorization = auth;
        if (g.type && g.body !== undefined) headers['Content-Type'] = g.type;
        // HEAD answers carry no body to check.
        const method = g.method === 'HEAD' ? 'GET' : g.method;
        return {
          method,
          url: pathOf(route, g.id) + toQuery(g.query),
          headers,
          data: method === 'GET' ? undefined : g.body,
        };
      });

  const workflowIds = async (): Promise<string[]> => {
    const ids: string[] = [];
    for await (const w of t.lab.client.workflow.list({
      query: `TaskQueue = '${t.lab.taskQueue}'`,
    }))
      ids.push(w.workflowId);
    return ids.sort();
  };

  it('every route: a heartbeat token only for its own lab, bad tokens 401, roles 403', async () => {
    const otherLab = `lab_${'b'.repeat(26)}`;
    const got: string[] = [];
    const want: string[] = [];
    for (const route of routes.filter((r) => r.access !== 'public')) {
      for (const labId of route.params ? [labA, otherLab] : [labA]) {
        const url = pathOf(route, labId);
        const expected: Record<string, number> = {
          heartbeatA: route.access === 'heartbeat' && labId === labA ? 204 : 403,
          tampered: 401,
          expired: 401,
          otherKey: 401,
          ...(route.access === 'admin' ? { service: 403 } : {}),
          ...(route.access === 'service' ? { admin: 403 } : {}),
        };
        const tokens: Record<string, string> = {
          heartbeatA: tokenA,
          tampered: badTokens[0]!,
          expired: badTokens[1]!,
          otherKey: badTokens[2]!,
          service: SERVICE_TOKEN,
          admin: ADMIN_TOKEN,
        };
        for (const [name, status] of Object.entries(expected)) {
          const res = await t.as(tokens[name]!).request({ method: route.method, url });
          got.push(`${route.method} ${url} ${name} ${res.status}`);
          want.push(`${route.method} ${url} ${name} ${status}`);
        }
      }
    }
    expect(got).toEqual(want);
  });

  it("answers the same with or without a TLS proxy's X-Forwarded-* headers (docs/operations.md: Security)", async () => {
    const forwarded = {
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-For': '203.0.113.7, 10.0.0.1',
      'X-Forwarded-Host': 'labs.example.org',
    };
    const spoofed = {
      'X-Forwarded-Proto': 'gopher',
      'X-Forwarded-For': 'not-an-ip',
      'X-Forwarded-Host': '',
    };
    for (const [method, url, token] of [
      ['get', `/v1/labs/${labA}`, SERVICE_TOKEN],
      ['get', '/v1/catalog', SERVICE_TOKEN],
      ['get', '/v1/providers', ADMIN_TOKEN],
      ['get', `/v1/labs/${labA}/connection`, ADMIN_TOKEN],
      ['post', `/v1/labs/${labA}/heartbeat`, tokenA],
      ['get', '/healthz', null],
    ] as const) {
      const plain = await t.as(token).request({ method, url });
      for (const headers of [forwarded, spoofed]) {
        const res = await t.as(token).request({ method, url, headers });
        expect({ url, status: res.status }).toEqual({ url, status: plain.status });
        if (url !== `/v1/labs/${labA}`) expect(res.data).toEqual(plain.data);
      }
    }
  });

  it('invalid input on every route: a 4xx naming the problem, and nothing reaches Temporal or Heat', async () => {
    const heatBefore = await t.lab.emulator.admin.requestCounts();
    const routeArb = fc.constantFrom(...routes.filter((r) => r.access !== 'public'));
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        routeArb.chain((route) => invalidRequest(route)),
        async (r) => {
          const res = await send(r);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          checkAnswer(r, res);
          if (res.status < 400)
            throw new Error(
              `invalid input accepted: ${r.method} ${r.url} ${r.why} -> ${res.status}`,
            );
        },
      ),
      { seed: SEED, numRuns: 1000 },
    );
    // Every kind of refusal came up, not only the first check.
    for (const status of [400, 401, 403, 415]) expect(statuses.get(status)).toBeGreaterThan(0);
    expect(await t.lab.emulator.admin.requestCounts()).toEqual(heatBefore);
    expect((await t.lab.status(labA)).state).toBe('ready');
  }, 60_000);

  it('anything on every route (and unknown methods): never a 5xx or a hang, every 4xx shaped', async () => {
    const heatBefore = await t.lab.emulator.admin.requestCounts();
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes).chain((route) => anyRequest(route)),
        async (r) => {
          const res = await send(r);
          seen.add(`${res.status}`);
          checkAnswer(r, res);
        },
      ),
      { seed: SEED + 1, numRuns: 700 },
    );
    expect([...seen].some((s) => s.startsWith('2'))).toBe(true);
    for (const status of ['400', '401', '403', '404', '405', '422']) expect(seen).toContain(status);
    expect(await t.lab.emulator.admin.requestCounts()).toEqual(heatBefore);

    // No workflow was started by any of it: a launch made now is the only new one Temporal lists
    // (visibility is eventually consistent, so wait for it, then compare the whole list).
    const sentinel = await t.service.post('/v1/labs', {
      courseId: COURSE,
      learnerId: 'anon-fuzz-sentinel',
      lab: 'demo',
    });
    expect(sentinel.status).toBe(202);
    const ids = await eventually('the sentinel launch listed', async () => {
      const listed = await workflowIds();
      return listed.includes(sentinel.data.id) ? listed : undefined;
    });
    expect(ids).toEqual([labA, sentinel.data.id].sort());
    expect(labIdFor(COURSE, 'anon-fuzz-sentinel', 'demo')).toBe(sentinel.data.id);
  }, 120_000);
});
