import Koa from 'koa';
import type { ApiContext } from './context';
import { ApiError } from './errors';
import { healthRoutes } from './health';

/** The Koa app: error rendering first, then one router per resource. */
export function createApp(ctx: ApiContext): Koa {
  const app = new Koa();
  app.proxy = true;
  app.use(async (koa, next) => {
    try {
      await next();
      if (koa.status === 404 && koa.body === undefined) {
        throw new ApiError(404, 'not_found', `no route ${koa.method} ${koa.path}`);
      }
    } catch (err) {
      const apiError =
        err instanceof ApiError ? err : new ApiError(500, 'internal', 'internal error');
      if (!(err instanceof ApiError))
        ctx.logger.error({ err, method: koa.method, path: koa.path }, 'unhandled error');
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
  const health = healthRoutes(ctx);
  app.use(health.routes()).use(health.allowedMethods());
  return app;
}
