import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { authorize, type Access, type Principal } from './auth/principal';
import { parseInput, readJsonBody } from './input';
import type { ApiServices } from './services';

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** null on public routes. */
  principal: Principal | null;
}

/**
 * One route: what the router mounts and what /openapi.json describes, from the same object, so
 * the document cannot drift from the routes. The zod schemas are the only validation.
 */
export interface RouteSpec<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
> {
  operationId: string;
  method: 'get' | 'post' | 'delete';
  /** OpenAPI form: /v1/labs/{id}. */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  /** Heartbeats are coalesced instead of limited (DESIGN: never refused for rate). */
  rateLimited?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * A route without a body schema refuses a non-empty body (400), except when it ignores the
   * body: heartbeats from navigator.sendBeacon arrive with a text/plain body we have no use for.
   */
  ignoreBody?: boolean;
  responses: Array<{ status: number; description: string; schema?: z.ZodType }>;
  /** Error statuses besides those that follow from access and inputs (401/403/429/400/413/415/503). */
  errors: number[];
  handle(koa: Context, input: RouteInput<Out<P>, Out<Q>, Out<B>>): Promise<void> | void;
}

export type AnyRoute = RouteSpec<
  z.ZodType | undefined,
  z.ZodType | undefined,
  z.ZodType | undefined
>;

export function defineRoute<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(spec: RouteSpec<P, Q, B>): AnyRoute {
  return spec as unknown as AnyRoute;
}

const NO_BODY = z.strictObject({});

export const koaPath = (openApiPath: string): string =>
  openApiPath.replace(/\{(\w+)\}/g, (_, name: string) => `:${name}`);

/**
 * Mounts routes with their checks in DESIGN's order: auth (401), rate limit (429), permission
 * (403), input (400/413/415); handlers then check existence (404) and state (409).
 */
export function mountRoutes(router: Router, routes: AnyRoute[], api: ApiServices): void {
  for (const route of routes) {
    router[route.method](route.operationId, koaPath(route.path), async (koa) => {
      koa.state.route = route.path;
      const principal =
        route.access === 'public' ? null : api.auth.authenticate(koa.get('Authorization'));
      if (principal && principal.kind !== 'heartbeat' && route.rateLimited !== false) {
        try {
          api.limiter.take(principal.key);
        } catch (err) {
          api.metrics.rateLimited.inc();
          throw err;
        }
      }
      if (principal) authorize(route.access, principal, koa.params.id);
      const params = route.params ? parseInput(route.params, koa.params, 'params') : undefined;
      const query = route.query ? parseInput(route.query, koa.query, 'query') : undefined;
      let body: unknown;
      if (route.body) body = parseInput(route.body, await readJsonBody(koa), 'body');
      else if (!route.ignoreBody && route.method !== 'get') {
        // No body expected: nothing, or an empty JSON object (what many clients send on a POST).
        const given = await readJsonBody(koa);
        if (given !== undefined) parseInput(NO_BODY, given, 'body');
      }
      await route.handle(koa, { params, query, body, principal });
    });
  }
}
