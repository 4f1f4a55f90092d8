import type { Middleware } from 'koa';

const HEARTBEAT_PATH = /^\/v1\/labs\/[^/]+\/heartbeat$/;

/**
 * CORS for the one route a learner's browser calls directly: `POST /v1/labs/{id}/heartbeat`
 * (the XBlock's heartbeat client, on the LMS's origin). Its `Authorization` header makes the
 * browser send an `OPTIONS` preflight first, answered here. Every other route stays same-origin:
 * browsers never hold service or admin tokens. The token is a bearer header, not a cookie, so
 * credentials are never allowed and `"*"` is safe to configure.
 */
export function heartbeatCors(origins: readonly string[]): Middleware {
  const anyOrigin = origins.includes('*');
  const allowed = new Set(origins);
  return async (koa, next) => {
    const origin = koa.get('Origin');
    if (!origin || !HEARTBEAT_PATH.test(koa.path)) return next();
    koa.vary('Origin');
    if (!anyOrigin && !allowed.has(origin)) return next();
    koa.set('Access-Control-Allow-Origin', anyOrigin ? '*' : origin);
    if (koa.method !== 'OPTIONS') return next();
    koa.set('Access-Control-Allow-Methods', 'POST');
    koa.set('Access-Control-Allow-Headers', 'Authorization, Content-Type');
    koa.set('Access-Control-Max-Age', '600');
    koa.status = 204;
  };
}
