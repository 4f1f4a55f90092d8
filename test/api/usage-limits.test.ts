import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config';
import type { LedgerLine } from '../../src/store';
import { stackNameFor } from '../../workflows/policy';
import { startLabEnv, type LabEnv } from '../support/lab-env';
import { pace } from '../support/wait';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { eventually, startApiEnv, type ApiEnv } from './api-env';

const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const WARN = 'course-v1:Org+Warn+2026';
const BLOCK = 'course-v1:Org+Block+2026';
const SUSPEND = 'course-v1:Org+Suspend+2026';
const FREE = 'course-v1:Org+Free+2026';

interface Usage {
  usedSeconds: number;
  limitSeconds: number;
  remainingSeconds: number;
  breach: string;
  exceeded: boolean;
  window: string;
}
interface Lab {
  id: string;
  state: string;
  heartbeatToken: string;
  statusReason: string | null;
  usage?: Usage;
}

/** What this test counts as running and suspended time, written out here on purpose. */
const RUNNING = ['launching', 'ready', 'suspending', 'resuming', 'resetting', 'deleting'];

/**
 * Usage limits (issue 20) on the real servers, at second scale: a `warn` limit of 3 s, a `block`
 * one of 3 s, a `suspend` one of 4 s (each for its own course), grants, a staff retry that is not
 * charged, and the ledger against the audit trail and its rebuild.
 */
describe('usage limits: warn, block, suspend, grants and the ledger', () => {
  let lab: LabEnv;
  let t: ApiEnv;
  let receiver: WebhookReceiver;

  const launch = (courseId: string, learnerId: string) =>
    t.service.post<Lab & { error?: { code: string; message: string; details: Usage } }>(
      '/v1/labs',
      { courseId, learnerId, lab: 'demo' },
    );
  const get = async (id: string) => (await t.service.get<Lab>(`/v1/labs/${id}`)).data;
  const reach = (id: string, state: string, timeoutMs = 30_000) =>
    eventually(
      `${id} ${state}`,
      async () => ((await get(id)).state === state ? get(id) : undefined),
      timeoutMs,
    );
  const reasons = async (id: string) =>
    (await lab.store.events.collection.find({ labId: id }).toArray()).map((e) => e.reason);
  const ledgerOf = async (labId: string) =>
    (await lab.store.usage.ledger.find({ labId }).toArray()).sort((a, b) =>
      a._id.localeCompare(b._id),
    );
  const sum = (lines: LedgerLine[], field: 'runningMs' | 'suspendedMs' | 'chargedMs') =>
    lines.reduce((s, l) => s + l[field], 0);
  /** Running and suspended ms of a lab from its audit trail, by this test's own reading of it. */
  const fromTrail = async (labId: string) => {
    const events = (await lab.store.events.collection.find({ labId }).toArray()).sort(
      (a, b) => Number(a._id.split(':').pop()) - Number(b._id.split(':').pop()),
    );
    let running = 0;
    let suspended = 0;
    for (let i = 1; i < events.length; i++) {
      const ms = events[i]!.at.getTime() - events[i - 1]!.at.getTime();
      if (RUNNING.includes(events[i - 1]!.to)) running += ms;
      if (events[i - 1]!.to === 'suspended') suspended += ms;
    }
    return { running, suspended };
  };

  beforeAll(async () => {
    receiver = await startWebhookReceiver(SECRET);
    lab = await startLabEnv({ idleTimeout: '1h' });
    const config: Config = {
      ...lab.config,
      usageLimits: [
        {
          scope: 'lab',
          courses: [WARN],
          labs: null,
          limit: 3_000,
          window: 'course',
          breach: 'warn',
          warnAt: 0.5,
        },
        {
          scope: 'course',
          courses: [BLOCK],
          labs: ['demo'],
          limit: 3_000,
          window: '30d',
          breach: 'block',
          warnAt: 0.8,
        },
        {
          scope: 'lab',
          courses: [SUSPEND],
          labs: null,
          limit: 4_000,
          window: 'course',
          breach: 'suspend',
          warnAt: 0.8,
        },
      ],
      webhooks: [
        {
          name: 'usage',
          url: receiver.url,
          secrets: [SECRET],
          events: ['usage.limit_warning', 'usage.limit_reached'],
          labs: null,
        },
      ],
      webhookDelivery: { retrySchedule: [200], timeout: 3_000, internalHosts: [] },
    };
    await lab.startWorker(config);
    t = await startApiEnv({}, {}, { ...lab, config });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await lab?.close();
    await receiver?.close();
  });

  it('warn: the lab keeps running, is flagged, and the course hears of it', async () => {
    const { data } = await launch(WARN, 'anon-warn');
    expect(data.usage).toMatchObject({ limitSeconds: 3, breach: 'warn', window: 'course' });
    const types = () => receiver.of(data.id).map((r) => r.event.type);
    await eventually(
      'the usage events',
      async () => types().includes('usage.limit_reached'),
      30_000,
    );
    expect([...new Set(types())]).toEqual(['usage.limit_warning', 'usage.limit_reached']);
    const reached = receiver.of(data.id).find((r) => r.event.type === 'usage.limit_reached')!;
    expect(reached.verified).toBe(true);
    expect(reached.event.data).toMatchObject({
      labId: data.id,
      usage: { limitSeconds: 3, breach: 'warn', window: 'course' },
    });
    const now = await get(data.id);
    expect(now.state).toBe('ready');
    expect(now.usage).toMatchObject({ exceeded: true, remainingSeconds: 0, breach: 'warn' });
    expect(now.usage!.usedSeconds).toBeGreaterThanOrEqual(3);
    expect(await reasons(data.id)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^usage warning: /),
        expect.stringMatching(/^usage limit reached: .* \(warn\)$/),
      ]),
    );
    // A warn limit never refuses.
    expect((await launch(WARN, 'anon-warn')).status).toBe(200);
  }, 60_000);

  it('block: refuses the launch with the numbers and the resume, until staff grant more', async () => {
    const { data } = await launch(BLOCK, 'anon-block');
    await reach(data.id, 'ready');
    // Used up while running: the lab goes on (block stops only starts).
    const used = await eventually('the limit to be used up', async () => {
      const l = await get(data.id);
      return l.usage?.exceeded ? l : undefined;
    });
    expect(used).toMatchObject({ state: 'ready', usage: { breach: 'block', window: '30d' } });
    expect((await t.service.post(`/v1/labs/${data.id}/suspend`)).status).toBe(202);
    await reach(data.id, 'suspended');

    const refused = await launch(BLOCK, 'anon-block');
    expect(refused.status).toBe(403);
    expect(refused.data.error).toMatchObject({
      code: 'usage_limit',
      message: expect.stringMatching(/^lab time used up: \d+s of 3s in the last 30 days/),
      details: { breach: 'block', exceeded: true, limitSeconds: 3, remainingSeconds: 0 },
    });
    // The learner's page keeps sending heartbeats: the workflow refuses to resume, and says why.
    expect((await t.as(data.heartbeatToken).post(`/v1/labs/${data.id}/heartbeat`)).status).toBe(
      204,
    );
    // The heartbeat counts as learner-active time, by course (what the usage report reads).
    await t.api.services.heartbeats.flush();
    expect(await lab.store.usage.active.find({ labId: data.id }).toArray()).toEqual([
      expect.objectContaining({ courseId: BLOCK, activeMs: 30_000 }),
    ]);
    await eventually('the refusal in the audit trail', async () =>
      (await reasons(data.id)).some((r) => r.startsWith('resume refused: usage limit reached')),
    );
    expect(await get(data.id)).toMatchObject({
      state: 'suspended',
      statusReason: expect.stringMatching(/^usage limit reached/),
    });

    const grant = { courseId: BLOCK, learnerId: 'anon-block', extra: '1h', reason: 'exam week' };
    expect((await t.service.post('/v1/usage/grants', grant)).status).toBe(403);
    const bad = await t.admin.post('/v1/usage/grants', { ...grant, extra: 'soon' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.data)).toContain('extra');
    const given = await t.admin.post('/v1/usage/grants', grant);
    expect(given.status).toBe(201);
    expect(given.data).toMatchObject({ extraSeconds: 3600, reason: 'exam week', lab: null });
    const listed = await t.admin.get('/v1/usage/grants', { params: { courseId: BLOCK } });
    expect(listed.data.grants).toHaveLength(1);

    const again = await launch(BLOCK, 'anon-block');
    expect(again.status).toBe(202);
    const back = await reach(data.id, 'ready');
    expect(back.usage).toMatchObject({ exceeded: false, limitSeconds: 3603 });
    if (process.env.LABS_RECORD_HISTORIES) {
      await t.service.delete(`/v1/labs/${data.id}`);
      await reach(data.id, 'deleted');
      writeFileSync(
        join(__dirname, '../fixtures/histories/lab-v10-usage-block-grant.json'),
        historyToJSON(await lab.client.workflow.getHandle(data.id).fetchHistory()),
      );
    }
  }, 90_000);

  it('suspend: suspends the running lab when the limit is reached, and resumes after a grant', async () => {
    const { data } = await launch(SUSPEND, 'anon-suspend');
    await reach(data.id, 'ready');
    const suspended = await reach(data.id, 'suspended', 30_000);
    expect(suspended.usage).toMatchObject({ exceeded: true, breach: 'suspend' });
    expect(await reasons(data.id)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^usage limit reached: \d+s of 4s used$/)]),
    );
    expect(receiver.of(data.id).map((r) => r.event.type)).toContain('usage.limit_reached');
    const refused = await launch(SUSPEND, 'anon-suspend');
    expect(refused.status).toBe(403);
    expect(refused.data.error?.details).toMatchObject({ breach: 'suspend', exceeded: true });

    // A grant for this lab only: 30 s more.
    const given = await t.admin.post('/v1/usage/grants', {
      courseId: SUSPEND,
      learnerId: 'anon-suspend',
      lab: 'demo',
      extra: '30s',
      reason: 'lost time to a network outage',
    });
    expect(given.status).toBe(201);
    expect((await launch(SUSPEND, 'anon-suspend')).status).toBe(202);
    const back = await reach(data.id, 'ready');
    expect(back.usage).toMatchObject({ exceeded: false, limitSeconds: 34 });
  }, 90_000);

  it('charges a staff retry to staff until the learner is back, and the ledger matches the trail and its rebuild', async () => {
    const id = lab.labId({ courseId: FREE, learnerId: 'anon-staff' });
    await lab.emulator.admin.failNextCreate({
      stackName: stackNameFor('demo', id, 1),
      reason: 'Quota exceeded for instances (injected)',
    });
    expect((await launch(FREE, 'anon-staff')).data.id).toBe(id);
    await reach(id, 'failed');
    expect((await t.admin.post(`/v1/labs/${id}/retry`)).status).toBe(202);
    await reach(id, 'ready');
    await pace(1_500); // staff's running time
    // The learner opens the unit: from here the running time is theirs.
    expect((await launch(FREE, 'anon-staff')).status).toBe(200);
    await eventually('the learner to be charged again', async () =>
      (await reasons(id)).some((r) => r.startsWith('the learner is back')),
    );
    await pace(1_000); // the learner's running time
    expect((await t.service.post(`/v1/labs/${id}/suspend`)).status).toBe(202);
    await reach(id, 'suspended');

    // A short course of two more learners, closed by deleting every lab.
    const other = (await launch(FREE, 'anon-other')).data.id;
    await reach(other, 'ready');
    await pace(500);
    expect((await t.service.post(`/v1/labs/${other}/suspend`)).status).toBe(202);
    await reach(other, 'suspended');
    await pace(500);
    for (const labId of [id, other]) {
      expect((await t.service.delete(`/v1/labs/${labId}`)).status).toBe(202);
      await reach(labId, 'deleted');
    }

    const staffLines = await ledgerOf(id);
    const staffMs = sum(staffLines, 'runningMs') - sum(staffLines, 'chargedMs');
    expect(staffMs).toBeGreaterThanOrEqual(1_500);
    expect(sum(staffLines, 'chargedMs')).toBeGreaterThanOrEqual(1_000);
    for (const labId of [id, other]) {
      const trail = await fromTrail(labId);
      const lines = await ledgerOf(labId);
      expect({ running: sum(lines, 'runningMs'), suspended: sum(lines, 'suspendedMs') }).toEqual(
        trail,
      );
    }

    // The course's report (per learner) says the same, in hours.
    const report = await t.service.get<{
      rows: Array<{ key: string; runningHours: number; suspendedHours: number }>;
    }>('/v1/reports/usage', { params: { courseId: FREE, groupBy: 'learner' } });
    expect(report.status).toBe(200);
    for (const [learner, labId] of [
      ['anon-staff', id],
      ['anon-other', other],
    ] as const) {
      const trail = await fromTrail(labId);
      const row = report.data.rows.find((r) => r.key === learner)!;
      // Hours to 4 decimals, as the report gives them.
      const hours = (ms: number) => Math.round(ms / 360) / 10_000;
      expect([row.runningHours, row.suspendedHours]).toEqual([
        hours(trail.running),
        hours(trail.suspended),
      ]);
    }

    // The ledger is derived data: rebuilt from the audit trail, it is the same, twice over.
    const before = [...(await ledgerOf(id)), ...(await ledgerOf(other))];
    await lab.store.usage.ledger.deleteMany({ labId: { $in: [id, other] } });
    for (let i = 0; i < 2; i++) {
      const rebuilt = await t.admin.post('/v1/usage/rebuild', {});
      expect(rebuilt.status).toBe(200);
      expect(rebuilt.data.skipped).toBe(0);
      expect([...(await ledgerOf(id)), ...(await ledgerOf(other))]).toEqual(before);
    }
    expect((await t.service.post('/v1/usage/rebuild', {})).status).toBe(403);
    // The retention sweep took the beginning of a trail: a rebuild keeps what it can no longer tell.
    const trail = await lab.store.events.collection
      .find({ labId: other })
      .sort({ at: 1 })
      .toArray();
    await lab.store.events.collection.deleteMany({
      _id: { $in: trail.slice(0, 2).map((e) => e._id) },
    });
    const partial = await t.admin.post('/v1/usage/rebuild', { labId: other });
    expect(partial.data).toMatchObject({ labs: 1, skipped: 0 });
    expect([...(await ledgerOf(id)), ...(await ledgerOf(other))]).toEqual(before);
    if (process.env.LABS_RECORD_HISTORIES)
      writeFileSync(
        join(__dirname, '../fixtures/histories/lab-v10-usage-staff-retry.json'),
        historyToJSON(await lab.client.workflow.getHandle(id).fetchHistory()),
      );
  }, 120_000);
});
