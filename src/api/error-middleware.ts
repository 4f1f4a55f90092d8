import type { Middleware } from 'koa';
import type { Logger } from '../log';
import { ApiError, errorBody } from './errors';

/**
 * Renders every error as `{ error: { code, message, details? } }` with its status and headers,
 * and the router's bare 404 and 405 the same way. An error that is not an ApiError is logged
 * and answered as a 500 that says nothing more.
 */
export function errorMiddleware(logger: Logger): Middleware {
  return async (koa, next) => {
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
        logger.error(
          { err, method: koa.method, route: koa.state.route as unknown, labId: koa.params?.id },
          'unhandled error',
        );
      koa.status = apiError.status;
      for (const [name, value] of Object.entries(apiError.headers ?? {})) koa.set(name, value);
      koa.body = errorBody(apiError);
    }
  };
}
