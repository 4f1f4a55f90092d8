import { z } from 'zod';
import { poolLimitOf } from '../../pools/headroom';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';

const providersSchema = z.object({
  providers: z.array(
    z.object({
      name: z.string(),
      region: z.string(),
      capacity: z
        .number()
        .int()
        .meta({ description: 'max concurrent stacks; -1 unlimited, 0 disabled' }),
      used: z
        .number()
        .int()
        .meta({ description: 'stacks from first create attempt until deleted' }),
      queued: z.number().int().meta({ description: 'labs waiting with this as first provider' }),
      pooled: z
        .number()
        .int()
        .meta({ description: 'of used: warm pool stacks, building or ready, not yet claimed' }),
      poolLimit: z
        .number()
        .int()
        .nullable()
        .meta({ description: 'most slots pools may hold here (capacity minus learner headroom)' }),
    }),
  ),
});

/** Providers with their capacity: configuration plus the slot and queue collections. */
export function providerRoutes(api: ApiServices): AnyRoute[] {
  return [
    defineRoute({
      operationId: 'listProviders',
      method: 'get',
      path: '/v1/providers',
      summary: 'Providers, their capacity, use and queue (admin)',
      tag: 'providers',
      access: 'admin',
      responses: [{ status: 200, description: 'providers', schema: providersSchema }],
      errors: [],
      async handle(koa) {
        const { capacity } = api.ctx.store;
        const [used, queued, pooled] = await api.deps.mongo('read capacity', () =>
          Promise.all([
            capacity.usage(),
            capacity.queuedCounts(),
            api.ctx.store.pools.heldByProvider(),
          ]),
        );
        koa.body = {
          providers: api.ctx.config.providers.map((p) => ({
            name: p.name,
            region: p.region,
            capacity: p.capacity,
            used: used.get(p.name) ?? 0,
            queued: queued.get(p.name) ?? 0,
            pooled: pooled.get(p.name) ?? 0,
            poolLimit: poolLimitOf(p.capacity),
          })),
        };
      },
    }),
  ];
}
