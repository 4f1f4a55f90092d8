import Router from '@koa/router';
import type { ApiContext } from '../context';
import { withDeadline } from '../deadline';

/** Liveness and readiness: /readyz checks Temporal and Mongo for real and names what is down. */
export function healthRoutes(ctx: ApiContext): Router {
  const router = new Router();
  router.get('/healthz', (koa) => {
    koa.body = { status: 'ok' };
  });
  router.get('/readyz', async (koa) => {
    const checks = await Promise.all([
      check('temporal', () => ctx.temporal.client.connection.workflowService.getSystemInfo({})),
      check('mongodb', () => ctx.store.ping()),
    ]);
    const down = checks.filter((c) => !c.ok);
    koa.status = down.length === 0 ? 200 : 503;
    koa.body =
      down.length === 0
        ? { status: 'ready', checks: Object.fromEntries(checks.map((c) => [c.name, 'ok'])) }
        : {
            error: {
              code: 'unavailable',
              message: `not ready: ${down.map((c) => c.name).join(' and ')} unreachable`,
              details: Object.fromEntries(checks.map((c) => [c.name, c.ok ? 'ok' : c.error])),
            },
          };
  });
  return router;
}

async function check(
  name: string,
  probe: () => Promise<unknown>,
): Promise<{ name: string; ok: boolean; error?: string }> {
  try {
    await withDeadline(name, 2000, probe);
    return { name, ok: true };
  } catch (err) {
    return { name, ok: false, error: (err as Error).message };
  }
}
