import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { authorize, type Access, type Principal } from './auth/principal';
import { parseInput, readJsonBody } from './input';
import type { RateSubject } from './rate-limit';
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
  /**
   * The lab and learner a request is about, for their own buckets under a service token. Default:
   * the lab of the path's `{id}`; routes that name none are held by the token's ceiling only.
   */
  rateSubject?: (input: { params: Out<P>; body: Out<B> }) => RateSubject;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * A route without a body schema refuses a non-empty body (400), except when it ignores the
   * body: heartbeats from navigator.sendBeacon arrive with a text/plain body we have no use for.
   */
  ignoreBody?: boolean;
  /**
   * A schema's media type is application/json unless its meta says `contentMediaType`. Several
   * entries with one status are one answer in as many media types: the handler picks one by the
   * request's Accept (`koa.accepts`), and the document lists each under that status's content.
   */
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

const isLabPath = (params: unknown): params is { id: string } =>
  typeof (params as { id?: unknown } | undefined)?.id === 'string';

/**
 * Mounts routes with their checks in DESIGN's order: auth (401), the token's rate ceiling (429),
 * permission (403), input (400/413/415), then under a service token the lab's and learner's
 * own rates (429: they need the input that names them); handlers then check existence (404)
 * and state (409).
 */
export function mountRoutes(router: Router, routes: AnyRoute[], api: ApiServices): void {
  for (const route of routes) {
    router[route.method](route.operationId, koaPath(route.path), async (koa) => {
      koa.state.route = route.path;
      const principal =
        route.access === 'public' ? null : api.auth.authenticate(koa.get('Authorization'));
      const limited = route.rateLimited !== false;
      if (principal && principal.kind !== 'heartbeat' && limited)
        api.limiter.takeToken(principal.key);
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
      // A lab's and a learner's buckets are charged once the request has named them validly.
      if (principal?.kind === 'service' && limited) {
        const subject =
          route.rateSubject?.({ params, body }) ??
          (isLabPath(params) ? { labId: params.id } : undefined);
        if (subject) api.limiter.takeSubject(principal.key, subject);
      }
      await route.handle(koa, { params, query, body, principal });
    });
  }
}
