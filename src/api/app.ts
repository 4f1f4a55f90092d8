import Router from '@koa/router';
import Koa from 'koa';
import { accessLog } from './access-log';
import { catalogRoutes } from './catalog';
import { heartbeatCors } from './cors';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { healthRoutes } from './health';
import { labRoutes } from './labs';
import { MetricsFigures, metricsRoutes, requestMetrics } from './metrics';
import { openApiRoutes } from './openapi';
import { poolRoutes } from './pools';
import { providerRoutes } from './providers';
import { mountRoutes, type AnyRoute } from './route';
import { createServices, type ApiOptions, type ApiServices } from './services';

export type { ApiOptions } from './services';

export interface LabsApi {
  app: Koa;
  /** Every route, as mounted and as /openapi.json describes them. */
  routes: AnyRoute[];
  router: Router;
  services: ApiServices;
  /** Answers every waiting long-poll now (before the server closes, so it need not wait). */
  endLongPolls(): void;
  /** Ends long-polls and flushes coalesced heartbeats; call before closing the store. */
  close(): Promise<void>;
}

const API_VERSION = '1.0.0';

/** The Koa app: request metrics, error rendering, then one route table for every resource. */
export function createApp(ctx: ApiContext, options: ApiOptions = {}): LabsApi {
  const services = createServices(ctx, options);
  const app = new Koa();
  app.proxy = true;
  app.use(requestMetrics(services));
  app.use(accessLog(ctx.logger));
  app.use(heartbeatCors(ctx.config.api.corsOrigins ?? []));
  app.use(async (koa, next) => {
    try {
      await next();
      if (koa.status === 404 && koa.body === undefined)
        throw new ApiError(404, 'not_found', `no route ${koa.method} ${koa.path}`);
      if (koa.status === 405 && koa.body === undefined)
        throw new ApiError(
          405,
          'method_not_allowed',
          `${koa.method} is not allowed on ${koa.path}`,
        );
    } catch (err) {
      const apiError =
        err instanceof ApiError ? err : new ApiError(500, 'internal', 'internal error');
      // Never the headers: they carry tokens.
      if (!(err instanceof ApiError))
        ctx.logger.error(
          { err, method: koa.method, route: koa.state.route as unknown, labId: koa.params?.id },
          'unhandled error',
        );
      koa.status = apiError.status;
      for (const [name, value] of Object.entries(apiError.headers ?? {})) koa.set(name, value);
      koa.body = {
        error: {
          code: apiError.code,
          message: apiError.message,
          ...(apiError.details !== undefined ? { details: apiError.details } : {}),
        },
      };
    }
  });

  // Started with the app and stopped by close(): /metrics answers from these, never from Mongo.
  const figures = new MetricsFigures(services, ctx.config.api.metricsRefresh);
  figures.start();

  const routes: AnyRoute[] = [
    ...healthRoutes(services),
    ...metricsRoutes(services),
    ...labRoutes(services),
    ...providerRoutes(services),
    ...poolRoutes(services),
    ...catalogRoutes(services),
  ];
  routes.push(...openApiRoutes(() => routes, API_VERSION));
  const router = new Router();
  mountRoutes(router, routes, services);
  app.use(router.routes()).use(router.allowedMethods());

  return {
    app,
    routes,
    router,
    services,
    endLongPolls: () => services.watcher.close(),
    async close() {
      services.watcher.close();
      await Promise.all([services.heartbeats.close(), figures.stop()]);
    },
  };
}
