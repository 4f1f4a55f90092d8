import { parseConfig } from '../../src/config';
import { labsYaml, startLabEnv, type LabEnv } from '../support/lab-env';
import { startApiEnv, type ApiEnv } from './api-env';

const LMS = 'https://lms.example.org';
const withOrigins = (origins: string) =>
  labsYaml('http://127.0.0.1:1/v3').replace(
    /^api: \{ (.*) \}$/m,
    (_, fields: string) => `api: { ${fields}, corsOrigins: ${origins} }`,
  );

describe('CORS: browsers of configured origins may send heartbeats, and nothing else', () => {
  let lab: LabEnv;
  let t: ApiEnv;
  let labId: string;
  let token: string;
  beforeAll(async () => {
    lab = await startLabEnv();
    await lab.startWorker();
    const config = { ...lab.config, api: { ...lab.config.api, corsOrigins: [LMS] } };
    t = await startApiEnv({}, {}, { ...lab, config });
    const launched = await t.service.post<{ id: string; heartbeatToken: string }>('/v1/labs', {
      courseId: 'course-v1:Org+Cors+2026',
      learnerId: 'anon-cors',
      lab: 'demo',
    });
    labId = launched.data.id;
    token = launched.data.heartbeatToken;
  });
  afterAll(async () => {
    await t.close();
    await lab.close();
  });

  const preflight = (origin: string, path = `/v1/labs/${labId}/heartbeat`) =>
    t.http.options(path, {
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization',
      },
    });

  it('answers the preflight of the heartbeat route for a configured origin', async () => {
    const r = await preflight(LMS);
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe(LMS);
    expect(r.headers['access-control-allow-methods']).toBe('POST');
    expect(r.headers['access-control-allow-headers']).toMatch(/Authorization/);
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
    expect(r.headers.vary).toMatch(/Origin/);
  });

  it('lets the browser read heartbeat answers, errors included', async () => {
    const beat = await t.as(token).post(`/v1/labs/${labId}/heartbeat`, undefined, {
      headers: { Origin: LMS },
    });
    expect(beat.status).toBe(204);
    expect(beat.headers['access-control-allow-origin']).toBe(LMS);
    const refused = await t.as('hb1.nonsense').post(`/v1/labs/${labId}/heartbeat`, undefined, {
      headers: { Origin: LMS },
    });
    expect(refused.status).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe(LMS);
  });

  it('says nothing to other origins, or on other routes', async () => {
    const other = await preflight('https://evil.example.com');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const beat = await t.as(token).post(`/v1/labs/${labId}/heartbeat`, undefined, {
      headers: { Origin: 'https://evil.example.com' },
    });
    expect(beat.status).toBe(204); // not a browser: CORS is only the browser's guard
    expect(beat.headers['access-control-allow-origin']).toBeUndefined();
    for (const path of [`/v1/labs/${labId}`, `/v1/labs/${labId}/connection`, '/v1/labs']) {
      const r = await preflight(LMS, path);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
      const get = await t.service.get(path, { headers: { Origin: LMS } });
      expect(get.headers['access-control-allow-origin']).toBeUndefined();
    }
  });

  it('takes origins, or "*", from the configuration, and refuses anything else', () => {
    const env = { EMULATOR_PASSWORD: 'x' };
    const parse = (origins: string) => parseConfig(withOrigins(origins), 'labs.yaml', env);
    expect(parse(`["${LMS}", "http://localhost:18000"]`).api.corsOrigins).toEqual([
      LMS,
      'http://localhost:18000',
    ]);
    expect(parse('["*"]').api.corsOrigins).toEqual(['*']);
    expect(
      parseConfig(labsYaml('http://127.0.0.1:1/v3'), 'labs.yaml', env).api.corsOrigins,
    ).toEqual([]);
    expect(() => parse(`["${LMS}/courses"]`)).toThrow(/api\.corsOrigins\.0.*must be an origin/s);
  });
});
