import { z } from 'zod';
import { withDeadline } from '../../util/deadline';
import { errorSchema } from '../openapi/schemas';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';

const readySchema = z.object({
  status: z.literal('ready'),
  checks: z.record(z.string(), z.literal('ok')),
});

/** Liveness and readiness: /readyz checks Temporal and Mongo for real and names what is down. */
export function healthRoutes(api: ApiServices): AnyRoute[] {
  const { ctx } = api;
  return [
    defineRoute({
      operationId: 'healthz',
      method: 'get',
      path: '/healthz',
      summary: 'Liveness',
      tag: 'operations',
      access: 'public',
      responses: [
        { status: 200, description: 'alive', schema: z.object({ status: z.literal('ok') }) },
      ],
      errors: [],
      handle(koa) {
        koa.body = { status: 'ok' };
      },
    }),
    defineRoute({
      operationId: 'readyz',
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: Temporal and MongoDB reachable',
      tag: 'operations',
      access: 'public',
      responses: [
        { status: 200, description: 'ready', schema: readySchema },
        { status: 503, description: 'not ready: details name what is down', schema: errorSchema },
      ],
      errors: [],
      async handle(koa) {
        const checks = await Promise.all([
          check('temporal', () =>
            // A gRPC deadline too, so a dead server leaves no call retrying behind the answer.
            ctx.temporal.client.withDeadline(Date.now() + 2000, () =>
              ctx.temporal.client.connection.workflowService.getSystemInfo({}),
            ),
          ),
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
      },
    }),
  ];
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
