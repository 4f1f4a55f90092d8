import { Context } from '@temporalio/activity';
import type { DeliveryState } from '../src/store';
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
    /** Records the delivery as pending and answers with the retry schedule it follows. */
    async openDelivery(input: DeliveryInput): Promise<{ schedule: number[] }> {
      const at = now();
      await deps.store.deliveries.open({
        _id: input.deliveryId,
        endpoint: input.endpoint,
        eventId: input.event.id,
        type: input.event.type,
        labId: input.event.data.labId,
        courseId: input.event.data.courseId,
        state: 'pending',
        attempts: 0,
        lastStatus: null,
        lastError: null,
        createdAt: at,
        updatedAt: at,
        nextAttemptAt: at,
        sentAt: null,
        event: input.event,
      });
      return { schedule: deps.config.webhookDelivery.retrySchedule };
    },

    /**
     * One attempt: POSTs the event, signed, and records the outcome. `pauseMs` is the schedule's
     * pause before the next attempt (null: this was the last). A failure to send is an outcome,
     * never a thrown error; only a failure to record it is retried by Temporal.
     */
    async attemptDelivery(
      input: DeliveryInput & { attempt: number; pauseMs: number | null },
    ): Promise<AttemptVerdict> {
      const endpoint = endpointNamed(input.endpoint);
      if (!endpoint) {
        await deps.store.deliveries.update(
          input.deliveryId,
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
            : input.pauseMs === null
              ? { state: 'failed' }
              : {
                  state: 'pending',
                  nextAttemptInMs: Math.max(
                    input.pauseMs,
                    Math.min(result.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS),
                  ),
                };
      await deps.store.deliveries.update(
        input.deliveryId,
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
