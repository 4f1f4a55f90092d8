import { join } from 'node:path';
import { labsYaml, startLabEnv, type LabEnv } from '../support/lab-env';
import { testServers } from '../support/servers';
import { eventually } from '../support/wait';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

/**
 * A worker killed (SIGKILL) while it delivers a webhook: the next worker delivers the same event,
 * with the same webhook-id, and no second event is made of it.
 */
describe('webhook delivery across a worker killed mid-delivery', () => {
  let lab: LabEnv;
  let receiver: WebhookReceiver;
  let worker: WorkerProcess | undefined;

  const startWorker = async () => {
    const yaml = `${labsYaml(lab.emulator.authUrl)}
webhooks:
  - { name: course, url: "${receiver.url}", secretEnv: LABS_WEBHOOK_SECRET, events: [lab.ready], labs: [demo] }
webhookDelivery: { retrySchedule: [1s, 1s, 1s], timeout: 60s }
`;
    worker = await startWorkerProcess({
      yaml,
      temporalAddress: testServers().temporalAddress,
      taskQueue: lab.taskQueue,
      mongoUri: `${testServers().mongoUri.replace(/\/?$/, '/')}${lab.store.labs.collection.dbName}`,
      emulatorPassword: 'pw',
      logFile: join(testServers().workDir, 'webhook-worker-kill.log'),
      env: { LABS_WEBHOOK_SECRET: SECRET },
    });
  };

  beforeAll(async () => {
    receiver = await startWebhookReceiver(SECRET);
    lab = await startLabEnv();
    await startWorker();
  }, 180_000);
  afterAll(async () => {
    await worker?.stop(1_000);
    await lab?.close();
    await receiver?.close();
  });

  it('delivers the event the killed worker was sending, once as one event', async () => {
    // The first attempt is never answered: the worker is killed while it waits.
    receiver.answer = (_r, earlier) => (earlier.length === 0 ? 'hold' : 200);
    const snapshot = await lab.launch({ learnerId: 'anon-kill' });
    const labId = snapshot.labId;
    const [held] = await eventually('the first attempt to arrive', async () => {
      const got = receiver.of(labId);
      return got.length > 0 ? got : undefined;
    });
    process.kill(worker!.pid, 'SIGKILL');
    await worker!.stop(0);
    worker = undefined;
    await startWorker();

    const store = lab.store.deliveries;
    const deliveryId = `webhook:course:${held!.id}`;
    const done = await eventually(
      'the delivery to be sent by the next worker',
      async () => {
        const doc = await store.get(deliveryId);
        return doc?.state === 'sent' ? doc : undefined;
      },
      90_000,
    );
    const attempts = receiver.of(labId);
    // The same message again (same id, same body), signed; no other event of the lab was made.
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(new Set(attempts.map((r) => r.id))).toEqual(new Set([held!.id]));
    expect(attempts.every((r) => r.verified && r.body === held!.body)).toBe(true);
    expect(attempts.at(-1)!.answered).toBe(200);
    expect(done).toMatchObject({ state: 'sent', eventId: held!.id, type: 'lab.ready' });
    expect(await lab.client.workflow.getHandle(deliveryId).result()).toBe('sent');
  }, 240_000);
});
