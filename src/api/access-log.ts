import type { Middleware } from 'koa';
import type { Logger } from '../log';
import { LAB_ID_PATTERN } from '../temporal/ids';

/** Routes polled by machines (probes, scrapers, browsers' heartbeats) log at debug, not info. */
const QUIET_ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/v1/labs/{id}/heartbeat']);

/**
 * One line per request: method, route template, status, duration, and the lab id when the
 * path names a lab (with workflowId, by createLogger). Never headers, query strings or bodies:
 * they carry bearer tokens and learners' data.
 */
export function accessLog(logger: Logger): Middleware {
  return async (koa, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const route = typeof koa.state.route === 'string' ? koa.state.route : 'unmatched';
      const params = koa.params as Record<string, string> | undefined;
      const labId =
        params?.id !== undefined && LAB_ID_PATTERN.test(params.id) ? params.id : undefined;
      const fields = {
        method: koa.method,
        route,
        status: koa.status,
        ms: Number((process.hrtime.bigint() - started) / 1_000_000n),
        ...(labId ? { labId } : {}),
      };
      if (QUIET_ROUTES.has(route) && koa.status < 500) logger.debug(fields, 'request');
      else logger.info(fields, 'request');
    }
  };
}
