import Router from '@koa/router';
import Koa from 'koa';
import type { Server } from 'node:http';
import { accessLog } from './access-log';
import { catalogRoutes } from './catalog';
import { checkRoutes } from './checks';
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
import { TerminalGateway, terminalRoutes } from './terminal';
import { webhookRoutes } from './webhooks';
import { usageRoutes } from './usage';
import { reportRoutes } from './usage/reports';

export type { ApiOptions } from './services';

export interface LabsApi {
  app: Koa;
  /** Every route, as mounted and as /openapi.json describes them. */
  routes: AnyRoute[];
  router: Router;
  services: ApiServices;
  /**
   * Serves the WebSocket routes (the browser terminal) on `server`, the HTTP server that serves
   * `app`: they arrive as the server's `upgrade` requests, which Koa never sees.
   */
  attach(server: Server): void;
  /**
   * Answers every waiting long-poll and closes every terminal session now (before the server
   * closes, so it need not wait for them).
   */
  endLongPolls(): void;
  /** Ends long-polls and terminals and flushes coalesced heartbeats; call before closing the store. */
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
    ...terminalRoutes(services),
    ...checkRoutes(services),
    ...providerRoutes(services),
    ...poolRoutes(services),
    ...webhookRoutes(services),
    ...usageRoutes(services),
    ...reportRoutes(services),
    ...catalogRoutes(services),
  ];
  routes.push(...openApiRoutes(() => routes, API_VERSION));
  const router = new Router();
  mountRoutes(router, routes, services);
  app.use(router.routes()).use(router.allowedMethods());
  const terminals = new TerminalGateway(services, options.terminal);
  const endLongPolls = () => {
    services.watcher.close();
    terminals.close();
  };

  return {
    app,
    routes,
    router,
    services,
    attach: (server) => terminals.attach(server),
    endLongPolls,
    async close() {
      endLongPolls();
      await Promise.all([services.heartbeats.close(), figures.stop()]);
    },
  };
}
