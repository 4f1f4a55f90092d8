import { z } from 'zod';
import { poolTargetAt } from '../../pools/schedule';
import type { PoolSummary } from '../../store';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';

const poolsSchema = z.object({
  pools: z.array(
    z.object({
      lab: z.string(),
      size: z.number().int().meta({ description: 'target now: the base size or an open window' }),
      baseSize: z.number().int(),
      ready: z.number().int().meta({ description: 'built, suspended, waiting for a learner' }),
      building: z.number().int(),
      deficit: z.number().int().meta({ description: 'stacks missing to reach size' }),
      claims: z.number().int().meta({ description: 'launches that got a pool stack, ever' }),
      misses: z.number().int().meta({ description: 'launches that found the pool empty, ever' }),
      refillSeconds: z
        .number()
        .nullable()
        .meta({ description: 'median build time of the last 20 pool stacks' }),
    }),
  ),
});

export type PoolView = z.output<typeof poolsSchema>['pools'][number];

/** Every lab's warm pool as Mongo records it, with its target from the current configuration. */
export async function readPools(api: ApiServices, at = Date.now()): Promise<PoolView[]> {
  const pooled = Object.values(api.ctx.config.labs).filter((lab) => lab.pool);
  const summaries = await api.deps.mongo('read pools', () =>
    Promise.all(pooled.map((lab) => api.ctx.store.pools.summary(lab.name))),
  );
  return pooled.map((lab, i) =>
    presentPool(summaries[i]!, lab.pool!.size, poolTargetAt(lab.pool!, at)),
  );
}

function presentPool(summary: PoolSummary, baseSize: number, size: number): PoolView {
  const sorted = [...summary.refillSeconds].sort((a, b) => a - b);
  return {
    lab: summary.lab,
    size,
    baseSize,
    ready: summary.ready,
    building: summary.building,
    deficit: Math.max(0, size - summary.ready - summary.building),
    claims: summary.claims,
    misses: summary.misses,
    refillSeconds: sorted.length === 0 ? null : sorted[Math.floor(sorted.length / 2)]!,
  };
}

export function poolRoutes(api: ApiServices): AnyRoute[] {
  return [
    defineRoute({
      operationId: 'listPools',
      method: 'get',
      path: '/v1/pools',
      summary: 'Warm pools: size, ready and building stacks, claims and misses (admin)',
      tag: 'providers',
      access: 'admin',
      responses: [{ status: 200, description: 'pools', schema: poolsSchema }],
      errors: [],
      async handle(koa) {
        koa.body = { pools: await readPools(api) };
      },
    }),
  ];
}
