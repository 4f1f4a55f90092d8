/**
 * One lifecycle event's delivery to one webhook endpoint: a short workflow per (event, endpoint)
 * started by the lab workflow with a deterministic id (events.ts deliveryIdOf), so a replay or a
 * retried start never sends the event again as a new one. Attempts follow the Standard Webhooks
 * schedule (immediately, then 5 s, 5 min ... 24 h; a longer Retry-After is honoured) until the
 * endpoint answers 2xx, answers 410 Gone, or the schedule ends. A slow or dead endpoint costs
 * this workflow time, never the lab's.
 */
import { proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { LabEvent } from './events';

/**
 * An attempt heartbeats while it waits for the endpoint, so one on a worker that died is retried
 * within seconds; failing to record an outcome (Mongo down) is retried until it is recorded.
 */
const deliveries = proxyActivities<Activities>({
  startToCloseTimeout: '3m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

export interface WebhookDeliveryInput {
  version: 1;
  endpoint: string;
  event: LabEvent;
}

export async function webhookDeliveryWorkflow(
  input: WebhookDeliveryInput,
): Promise<'sent' | 'failed' | 'gone'> {
  const delivery = {
    deliveryId: workflowInfo().workflowId,
    endpoint: input.endpoint,
    event: input.event,
  };
  for (let attempt = 1; ; attempt++) {
    const verdict = await deliveries.attemptDelivery({ ...delivery, attempt });
    if (verdict.state !== 'pending') return verdict.state;
    await sleep(verdict.nextAttemptInMs);
  }
}
