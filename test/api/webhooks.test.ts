import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config';
import { EVENT_TYPES, type EventType } from '../../workflows/events';
import { labctl } from '../support/labctl';
import { startLabEnv, type LabEnv } from '../support/lab-env';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { ADMIN_TOKEN, eventually, startApiEnv, type ApiEnv } from './api-env';

/** A Standard Webhooks secret: whsec_ and 32 random-looking bytes in base64. */
const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const VERIFY_PY = join(__dirname, '../../docs/webhooks/verify_webhook.py');
const COURSE = 'course-v1:Org+Hooks101+2026';
type Lab = { id: string; state: string; heartbeatToken: string; deleteAt: string | null };
type Delivery = { id: string; eventId: string; type: EventType; state: string; attempts: number };

/**
 * Events and webhooks (issue 19) on the real servers: the demo lab goes idle after 5 s (warned
 * 2.5 s before) and is deleted 8 s after its suspend (warned 4 s before); deliveries are retried
 * 200 ms apart instead of the Standard Webhooks schedule.
 */
describe('lifecycle events: signed webhooks and warnings', () => {
  let lab: LabEnv;
  let t: ApiEnv;
  let receiver: WebhookReceiver;

  const typesOf = (labId: string) => receiver.of(labId).map((r) => r.event.type);
  /** Distinct events of a lab, in arrival order (a retry repeats an id). */
  const eventsOf = (labId: string) => {
    const seen = new Set<string>();
    return receiver.of(labId).filter((r) => !seen.has(r.id) && seen.add(r.id));
  };
  const waitForEvent = (labId: string, type: EventType, count = 1, timeoutMs = 30_000) =>
    eventually(
      `${count} ${type} of ${labId}`,
      async () => {
        const found = eventsOf(labId).filter((r) => r.event.type === type);
        return found.length >= count ? found : undefined;
      },
      timeoutMs,
    );
  const launch = async (learnerId: string): Promise<Lab> => {
    const res = await t.service.post<Lab>('/v1/labs', { courseId: COURSE, learnerId, lab: 'demo' });
    expect([200, 202]).toContain(res.status);
    return res.data;
  };
  const deliveries = async (labId: string): Promise<Delivery[]> =>
    (
      await t.admin.get<{ deliveries: Delivery[] }>('/v1/webhooks/deliveries', {
        params: { labId },
      })
    ).data.deliveries;

  beforeAll(async () => {
    receiver = await startWebhookReceiver(SECRET);
    lab = await startLabEnv({ idleTimeout: '5s', deleteAfter: '8s' });
    const demo = lab.config.labs.demo!;
    const config: Config = {
      ...lab.config,
      webhooks: [
        {
          name: 'course',
          url: receiver.url,
          secrets: [SECRET],
          events: [...EVENT_TYPES],
          labs: ['demo'],
        },
      ],
      webhookDelivery: { retrySchedule: [200, 200, 200], timeout: 3_000, internalHosts: [] },
      labs: {
        ...lab.config.labs,
        demo: { ...demo, notifications: { suspendWarning: 2_500, deleteWarning: 4_000 } },
      },
    };
    await lab.startWorker(config);
    t = await startApiEnv({}, {}, { ...lab, config }, 0, { metricsRefresh: 200 });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await lab?.close();
    await receiver?.close();
  });

  it('tells the course of a whole life, signed, warned before the suspend and the deletion', async () => {
    const { id } = await launch('anon-life');
    await waitForEvent(id, 'lab.deleted', 1, 60_000);
    expect(eventsOf(id).map((r) => r.event.type)).toEqual([
      'lab.ready',
      'lab.suspend_warning',
      'lab.suspended',
      'lab.delete_warning',
      'lab.deleted',
    ]);
    for (const r of receiver.of(id)) {
      expect(r.verified).toBe(true);
      expect(r.event).toMatchObject({
        id: r.id,
        version: 1,
        data: { labId: id, courseId: COURSE, learnerId: 'anon-life', lab: 'demo' },
      });
      // A thin payload: never the stack's outputs (the demo lab's password among them).
      expect(r.body).not.toMatch(/password|outputs|secret/i);
    }
    const [ready, warning, suspended, deleteWarning] = eventsOf(id).map((r) => r.event);
    expect(ready!.data).toMatchObject({ state: 'ready', suspendAt: expect.any(String) });
    // Warned 2.5 s before the suspend it announced, and that is when the suspend came.
    expect(warning!.data.suspendAt).toBe(ready!.data.suspendAt);
    const lead = Date.parse(warning!.data.suspendAt!) - Date.parse(warning!.occurredAt);
    expect(lead).toBeGreaterThan(1_500);
    expect(lead).toBeLessThanOrEqual(2_500);
    expect(Date.parse(suspended!.occurredAt)).toBeGreaterThanOrEqual(
      Date.parse(warning!.data.suspendAt!),
    );
    expect(suspended!.data.deleteAt).toBe(deleteWarning!.data.deleteAt);

    // The few lines of Python an Open edX plugin would use accept the same request.
    const first = receiver.of(id)[0]!;
    const python = execFileSync('python3', [VERIFY_PY], {
      input: JSON.stringify({
        secret: SECRET,
        headers: {
          'webhook-id': first.id,
          'webhook-timestamp': first.timestamp,
          'webhook-signature': first.signature,
        },
        body: first.body,
      }),
    });
    expect(python.toString().trim()).toBe('valid');

    // Staff see the deliveries (API, labctl) and the metrics count them.
    const listed = await deliveries(id);
    expect(listed.map((d) => [d.type, d.state, d.attempts]).reverse()).toEqual(
      eventsOf(id).map((r) => [r.event.type, 'sent', 1]),
    );
    const table = await labctl(['deliveries', '--lab', id], {
      LABCTL_URL: t.url,
      LABCTL_TOKEN: ADMIN_TOKEN,
    });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/lab\.delete_warning\s+\S+\s+sent\s+1/);
    // A whole life with events, for the replay test (test/workflow/durability.test.ts).
    if (process.env.LABS_RECORD_HISTORIES)
      writeFileSync(
        join(__dirname, '../fixtures/histories/lab-v8-lifecycle-events.json'),
        historyToJSON(await lab.client.workflow.getHandle(id).fetchHistory()),
      );
    await eventually('the metrics to count sent deliveries', async () => {
      const metrics = (await t.http.get<string>('/metrics')).data;
      const sent = /labs_webhook_deliveries\{state="sent"\} (\d+)/.exec(metrics);
      return sent && Number(sent[1]) >= 5;
    });
  }, 90_000);

  it('retries a failing endpoint with the same webhook-id until it answers 200', async () => {
    receiver.answer = (r, earlier) =>
      r.event.data.learnerId === 'anon-retry' && earlier.length < 2 ? 500 : 200;
    const { id } = await launch('anon-retry');
    const [ready] = await waitForEvent(id, 'lab.ready');
    await eventually('the delivery to be sent', async () =>
      (await deliveries(id)).find((d) => d.eventId === ready!.id && d.state === 'sent'),
    );
    const attempts = receiver.of(id).filter((r) => r.id === ready!.id);
    expect(attempts.map((r) => r.answered)).toEqual([500, 500, 200]);
    expect(attempts.every((r) => r.verified && r.body === attempts[0]!.body)).toBe(true);
    expect((await deliveries(id)).find((d) => d.eventId === ready!.id)).toMatchObject({
      state: 'sent',
      attempts: 3,
    });
    if (process.env.LABS_RECORD_HISTORIES)
      writeFileSync(
        join(__dirname, '../fixtures/histories/webhook-v1-retried-delivery.json'),
        historyToJSON(
          await lab.client.workflow.getHandle(`webhook:course:${ready!.id}`).fetchHistory(),
        ),
      );
  }, 60_000);

  it('stops delivering an event to an endpoint that answers 410 Gone', async () => {
    receiver.answer = (r) => (r.event.data.learnerId === 'anon-gone' ? 410 : 200);
    const { id } = await launch('anon-gone');
    const [ready] = await waitForEvent(id, 'lab.ready');
    const deliveryId = `webhook:course:${ready!.id}`;
    // The delivery workflow has ended: nothing more can be sent for this event.
    expect(await lab.client.workflow.getHandle(deliveryId).result()).toBe('gone');
    expect(receiver.received.filter((r) => r.id === ready!.id)).toHaveLength(1);
    expect((await deliveries(id)).find((d) => d.id === deliveryId)).toMatchObject({
      state: 'gone',
      attempts: 1,
    });
  }, 60_000);

  it('warns of a suspend once, and again when the learner came back and left again', async () => {
    receiver.answer = () => 200;
    const lab1 = await launch('anon-back');
    const [first] = await waitForEvent(lab1.id, 'lab.suspend_warning');
    // The learner sees the warning and comes back: the suspend it announced no longer applies.
    const beat = t.as(lab1.heartbeatToken);
    expect((await beat.post(`/v1/labs/${lab1.id}/heartbeat`)).status).toBe(204);
    const warnings = await waitForEvent(lab1.id, 'lab.suspend_warning', 2);
    await waitForEvent(lab1.id, 'lab.suspended');
    expect(Date.parse(warnings[1]!.event.data.suspendAt!)).toBeGreaterThan(
      Date.parse(first!.event.data.suspendAt!),
    );
    expect(typesOf(lab1.id).filter((type) => type === 'lab.suspend_warning')).toHaveLength(2);
    expect(eventsOf(lab1.id).map((r) => r.event.type)).toEqual([
      'lab.ready',
      'lab.suspend_warning',
      'lab.suspend_warning',
      'lab.suspended',
    ]);
  }, 60_000);

  it('sends no delete warning for a lab relaunched before its deadline', async () => {
    const { id } = await launch('anon-relaunch');
    const [suspended] = await waitForEvent(id, 'lab.suspended');
    const firstDeadline = suspended!.event.data.deleteAt;
    // Back within the 4 s before the warning is due: the lab resumes.
    await launch('anon-relaunch');
    await waitForEvent(id, 'lab.resumed');
    // It idles again: a new suspend, a new deadline, and its warning.
    const [, again] = await waitForEvent(id, 'lab.suspended', 2);
    const [warning] = await waitForEvent(id, 'lab.delete_warning');
    expect(warning!.event.data.deleteAt).toBe(again!.event.data.deleteAt);
    expect(
      eventsOf(id).filter(
        (r) => r.event.type === 'lab.delete_warning' && r.event.data.deleteAt === firstDeadline,
      ),
    ).toEqual([]);
  }, 60_000);
});
