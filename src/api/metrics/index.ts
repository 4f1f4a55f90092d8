import type { Middleware } from 'koa';
import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';

export { MetricsFigures } from './figures';

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
  return [
    defineRoute({
      operationId: 'metrics',
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics (database figures from a background refresh, never per scrape)',
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
