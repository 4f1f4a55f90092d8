import { z } from 'zod';
import { DELIVERY_STATES, type DeliveryDocument } from '../../store';
import { EVENT_TYPES } from '../../../workflows/events';
import { dateTime } from '../labs/schema';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';

/** Webhook deliveries (issue 19): what went out to the course team's endpoints, and what is stuck. */
const listDeliveriesQuery = z.strictObject({
  labId: z.string().min(1).optional(),
  state: z.enum(DELIVERY_STATES).optional(),
  endpoint: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

const deliverySchema = z.object({
  id: z.string().meta({ description: 'webhook:<endpoint>:<event id> (its delivery workflow id)' }),
  endpoint: z.string(),
  eventId: z.string().meta({ description: 'the webhook-id header, the same on every attempt' }),
  type: z.enum(EVENT_TYPES),
  labId: z.string(),
  courseId: z.string(),
  state: z.enum(DELIVERY_STATES).meta({
    description:
      'pending: an attempt is due; sent: answered 2xx; failed: the retry schedule ran out; gone: answered 410 (or the endpoint left the configuration)',
  }),
  attempts: z.number().int(),
  lastStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  createdAt: dateTime,
  nextAttemptAt: dateTime.nullable(),
  sentAt: dateTime.nullable(),
});
export type DeliveryView = z.output<typeof deliverySchema>;
const deliveryListSchema = z.object({ deliveries: z.array(deliverySchema) });

function presentDelivery(doc: DeliveryDocument): z.output<typeof deliverySchema> {
  return {
    id: doc._id,
    endpoint: doc.endpoint,
    eventId: doc.eventId,
    type: doc.type,
    labId: doc.labId,
    courseId: doc.courseId,
    state: doc.state,
    attempts: doc.attempts,
    lastStatus: doc.lastStatus,
    lastError: doc.lastError,
    createdAt: doc.createdAt.toISOString(),
    nextAttemptAt: doc.nextAttemptAt?.toISOString() ?? null,
    sentAt: doc.sentAt?.toISOString() ?? null,
  };
}

export function webhookRoutes(api: ApiServices): AnyRoute[] {
  return [
    defineRoute({
      operationId: 'listWebhookDeliveries',
      method: 'get',
      path: '/v1/webhooks/deliveries',
      summary: 'Webhook deliveries, newest first, by lab, state or endpoint (admin)',
      tag: 'webhooks',
      access: 'admin',
      query: listDeliveriesQuery,
      responses: [{ status: 200, description: 'deliveries', schema: deliveryListSchema }],
      errors: [],
      async handle(koa, { query }) {
        const docs = await api.deps.mongo('list webhook deliveries', (deadline) =>
          api.ctx.store.deliveries.list(query, query.limit, deadline),
        );
        koa.body = { deliveries: docs.map(presentDelivery) };
      },
    }),
  ];
}
