import { createLogger } from '../../src/log';
import { CapturedLog } from '../support/captured-log';
import { ADMIN_TOKEN, SERVICE_TOKEN, eventually, startApiEnv, type ApiEnv } from '../api/api-env';

const EMULATOR_PASSWORD = 'emulator-password-7f3c9a1e55';
const BAD_TOKEN = 'not-a-real-token-0123456789abcdef';

describe('logs: JSON lines with lab and workflow ids, and never a secret or a token', () => {
  const log = new CapturedLog();
  let t: ApiEnv;
  beforeAll(async () => {
    t = await startApiEnv({
      logger: createLogger('debug', 'labs', log),
      password: EMULATOR_PASSWORD,
    });
    await t.lab.startWorker();
  });
  afterAll(() => t?.close());

  it('runs a whole lab life through the API and finds no secret in any log line', async () => {
    const launched = await t.service.post('/v1/labs', {
      courseId: 'course-v1:Org+Logs101+2026',
      learnerId: 'anon-logs-1',
      lab: 'demo',
    });
    expect([200, 202]).toContain(launched.status);
    const { id, heartbeatToken } = launched.data as { id: string; heartbeatToken: string };
    const ready = () =>
      eventually(`${id} ready`, async () => {
        const res = await t.service.get(`/v1/labs/${id}?wait=5`);
        return (res.data as { state: string }).state === 'ready' || undefined;
      });
    await ready();

    const beat = await t.as(heartbeatToken).post(`/v1/labs/${id}/heartbeat`);
    expect(beat.status).toBe(204);
    const connection = await t.service.get(`/v1/labs/${id}/connection`);
    expect(connection.status).toBe(200);
    const secret = (connection.data as { secrets: Record<string, string> }).secrets.password;
    expect(secret).toEqual(expect.any(String));
    expect(secret!.length).toBeGreaterThanOrEqual(8);

    // Refused requests (a bad token, a heartbeat token elsewhere) are where tokens leak first.
    expect((await t.as(BAD_TOKEN).get(`/v1/labs/${id}`)).status).toBe(401);
    expect((await t.as(heartbeatToken).get(`/v1/labs/${id}`)).status).toBe(403);
    expect((await t.admin.get(`/v1/labs/${id}/events`)).status).toBe(200);
    expect(
      (await t.admin.get('/v1/labs', { params: { courseId: 'course-v1:Org+Logs101+2026' } }))
        .status,
    ).toBe(200);

    expect((await t.admin.post(`/v1/labs/${id}/suspend`)).status).toBe(202);
    await eventually(`${id} suspended`, async () => {
      const res = await t.admin.get(`/v1/labs/${id}?wait=5`);
      return (res.data as { state: string }).state === 'suspended' || undefined;
    });
    expect((await t.service.post(`/v1/labs/${id}/reset`)).status).toBe(202);
    await ready();
    expect((await t.service.delete(`/v1/labs/${id}`)).status).toBe(202);
    await eventually(`${id} deleted`, async () => {
      const res = await t.admin.get(`/v1/labs/${id}?wait=5`);
      return (res.data as { state: string }).state === 'deleted' || undefined;
    });

    const text = log.text;
    const lines = text.split('\n').filter((l) => l.length > 0);
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    // The activities' transitions and the API's requests are both here.
    expect(records.some((r) => r.msg === 'lab transition' && r.to === 'ready')).toBe(true);
    expect(records.some((r) => r.msg === 'request' && r.route === '/v1/labs/{id}/connection')).toBe(
      true,
    );
    for (const r of records) {
      if (r.labId !== undefined || r.workflowId !== undefined) {
        expect(r.labId).toBe(r.workflowId);
      }
      if (r.msg === 'lab transition') expect(r.labId).toBe(id);
    }
    expect(records.filter((r) => r.labId === id).length).toBeGreaterThan(10);

    for (const [what, value] of Object.entries({
      secret: secret!,
      SERVICE_TOKEN,
      ADMIN_TOKEN,
      heartbeatToken,
      BAD_TOKEN,
      EMULATOR_PASSWORD,
    })) {
      expect({ what, found: text.includes(value) }).toEqual({ what, found: false });
    }
  });
});
