import type { Middleware } from 'koa';
import { z } from 'zod';
import { LAB_STATES, type LabState } from '../../../workflows/state';
import { readPools } from '../pools';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';

/**
 * Request counts and latencies by route template (never the raw path: lab ids would make one
 * series per lab). Outermost middleware, so it sees the status the error renderer chose.
 */
export function requestMetrics(api: ApiServices): Middleware {
  return async (koa, next) => {
    const end = api.metrics.latency.startTimer();
    try {
      await next();
    } finally {
      const route = typeof koa.state.route === 'string' ? koa.state.route : 'unmatched';
      const labels = { route, method: koa.method, status: String(koa.status) };
      end(labels);
      api.metrics.requests.inc(labels);
    }
  };
}

export function metricsRoutes(api: ApiServices): AnyRoute[] {
  api.metrics.labsByState(() => countLabsByState(api));
  // Mongo down: null keeps the last known figures (the dependency error metric shows why).
  api.metrics.pools(() => readPools(api).catch(() => null));
  return [
    defineRoute({
      operationId: 'metrics',
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics',
      tag: 'operations',
      access: 'public',
      responses: [
        {
          status: 200,
          description: 'Prometheus text exposition format',
          schema: z.string().meta({ contentMediaType: 'text/plain' }),
        },
      ],
      errors: [],
      async handle(koa) {
        koa.type = api.metrics.registry.contentType;
        koa.body = await api.metrics.registry.metrics();
      },
    }),
  ];
}

/** On scrape, under the Mongo deadline; a failed count shows as the dependency error metric. */
async function countLabsByState(api: ApiServices): Promise<Map<LabState, number> | null> {
  const counts = new Map<LabState, number>();
  try {
    const rows = await api.deps.mongo('count labs by state', () =>
      api.ctx.store.labs.collection
        .aggregate<{ _id: LabState; n: number }>([{ $group: { _id: '$state', n: { $sum: 1 } } }])
        .toArray(),
    );
    for (const row of rows) if (LAB_STATES.includes(row._id)) counts.set(row._id, row.n);
  } catch {
    // A scrape still answers with the other metrics when Mongo is down.
    return null;
  }
  return counts;
}
