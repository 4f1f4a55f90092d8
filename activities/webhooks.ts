import { Context } from '@temporalio/activity';
import type { DeliveryDocument, DeliveryState, DeliveryUpdate } from '../src/store';
import { sendWebhook } from '../src/webhooks/send';
import type { LabEvent } from '../workflows/events';
import type { ActivityDeps } from './context';

/** The longest a Retry-After may push an attempt back (the schedule's own longest pause). */
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;
/** How often an attempt in flight tells Temporal its worker is alive (a dead one is replaced fast). */
const HEARTBEAT_EVERY_MS = 2_000;

export interface DeliveryInput {
  deliveryId: string;
  endpoint: string;
  event: LabEvent;
}

/** What the delivery workflow does next: stop (the delivery's final state) or wait and try again. */
export type AttemptVerdict =
  { state: Exclude<DeliveryState, 'pending'> } | { state: 'pending'; nextAttemptInMs: number };

/** The delivery's document as its first attempt records it. */
function openingOf(input: DeliveryInput, update: DeliveryUpdate, at: Date): DeliveryDocument {
  return {
    _id: input.deliveryId,
    endpoint: input.endpoint,
    eventId: input.event.id,
    type: input.event.type,
    labId: input.event.data.labId,
    courseId: input.event.data.courseId,
    ...update,
    createdAt: new Date(Date.parse(input.event.occurredAt)),
    updatedAt: at,
    event: input.event,
  };
}

/**
 * Webhook deliveries: each (event, endpoint) pair is a delivery workflow
 * (workflows/webhook-delivery.ts) whose activities are these. The endpoint's URL and secrets are
 * read from the configuration at each attempt (a rotated secret or a moved URL applies to
 * deliveries already pending); the event itself never changes between attempts.
 */
export function createWebhookActivities(deps: ActivityDeps) {
  const now = () => deps.now?.() ?? new Date();
  const endpointNamed = (name: string) => deps.config.webhooks.find((w) => w.name === name);

  return {
    /**
     * One attempt: POSTs the event, signed, and records the outcome (the first attempt inserts
     * the delivery's document: one write per attempt, which is what a storm of deliveries costs
     * FerretDB). The pause before the next attempt is the configured schedule's (a longer
     * Retry-After wins); after its last pause the delivery has failed. A failure to send is an
     * outcome, never a thrown error; only a failure to record it is retried by Temporal.
     */
    async attemptDelivery(input: DeliveryInput & { attempt: number }): Promise<AttemptVerdict> {
      const { retrySchedule } = deps.config.webhookDelivery;
      const pauseMs =
        input.attempt <= retrySchedule.length ? retrySchedule[input.attempt - 1]! : null;
      const write = (update: DeliveryUpdate, at: Date) =>
        input.attempt === 1
          ? deps.store.deliveries.open(openingOf(input, update, at))
          : deps.store.deliveries.update(input.deliveryId, update, at);
      const endpoint = endpointNamed(input.endpoint);
      if (!endpoint) {
        await write(
          {
            state: 'gone',
            attempts: input.attempt - 1,
            lastStatus: null,
            lastError: `endpoint "${input.endpoint}" is no longer in the configuration`,
            nextAttemptAt: null,
            sentAt: null,
          },
          now(),
        );
        return { state: 'gone' };
      }
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      let result;
      try {
        result = await sendWebhook(
          endpoint,
          { id: input.event.id, timestamp: now(), body: JSON.stringify(input.event) },
          { timeoutMs: deps.config.webhookDelivery.timeout },
        );
      } finally {
        clearInterval(beat);
      }
      const at = now();
      const verdict: AttemptVerdict =
        result.outcome === 'delivered'
          ? { state: 'sent' }
          : result.outcome === 'gone'
            ? { state: 'gone' }
            : pauseMs === null
              ? { state: 'failed' }
              : {
                  state: 'pending',
                  nextAttemptInMs: Math.max(
                    pauseMs,
                    Math.min(result.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS),
                  ),
                };
      await write(
        {
          state: verdict.state,
          attempts: input.attempt,
          lastStatus: result.status,
          lastError: result.error,
          nextAttemptAt:
            verdict.state === 'pending' ? new Date(at.getTime() + verdict.nextAttemptInMs) : null,
          sentAt: verdict.state === 'sent' ? at : null,
        },
        at,
      );
      const log = verdict.state === 'sent' ? deps.logger.debug : deps.logger.warn;
      log.call(
        deps.logger,
        {
          deliveryId: input.deliveryId,
          attempt: input.attempt,
          status: result.status,
          error: result.error,
          state: verdict.state,
          ms: result.durationMs,
        },
        'webhook delivery attempt',
      );
      return verdict;
    },
  };
}
