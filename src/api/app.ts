import Router from '@koa/router';
import Koa from 'koa';
import { accessLog } from './access-log';
import { catalogRoutes } from './catalog';
import { heartbeatCors } from './cors';
import type { ApiContext } from './context';
import { errorMiddleware } from './error-middleware';
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
  app.use(errorMiddleware(ctx.logger));

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
