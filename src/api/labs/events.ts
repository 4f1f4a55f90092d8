import type { LabEvent } from '../../store';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';
import { requireLab } from './actions';
import { labEventsQuery, labEventsSchema, labIdParams } from './schema';

/** The audit trail of a lab's lifecycle, newest first: what `labctl show` prints. */
export function labEventsRoute(api: ApiServices): AnyRoute {
  return defineRoute({
    operationId: 'listLabEvents',
    method: 'get',
    path: '/v1/labs/{id}/events',
    summary: "The lab's recent lifecycle events (audit trail), newest first",
    tag: 'labs',
    access: 'labs',
    params: labIdParams,
    query: labEventsQuery,
    responses: [{ status: 200, description: 'recent events', schema: labEventsSchema }],
    errors: [404],
    async handle(koa, { params, query }) {
      await requireLab(api, params.id);
      const events = await api.deps.mongo('read events', () =>
        api.ctx.store.events.recent(params.id, query.limit),
      );
      koa.body = { events: events.map(presentEvent) };
    },
  });
}

function presentEvent(event: LabEvent) {
  return {
    at: event.at.toISOString(),
    from: event.from,
    to: event.to,
    generation: event.generation,
    provider: event.provider,
    reason: event.reason,
    error: event.error,
  };
}
