import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';

const seconds = (description: string) =>
  z.number().meta({ description: `${description}, seconds` });

const catalogSchema = z.object({
  labs: z.array(
    z.object({
      name: z.string(),
      idleTimeout: seconds('suspended after this long without a heartbeat'),
      deleteAfter: seconds('deleted after this long suspended'),
      maxLifetime: seconds('deleted this long after launch').nullable(),
      launchTimeout: seconds('failed when not ready within this'),
      checks: z
        .array(
          z.object({
            name: z.string(),
            title: z.string(),
            weight: z.number().meta({ description: 'its share of the score' }),
          }),
        )
        .meta({ description: 'the graded checks of the lab (their scripts stay on the server)' }),
    }),
  ),
});

const toSeconds = (ms: number): number => ms / 1000;

/** The labs an authoring tool (the XBlock's studio view) may offer, with their timeouts. */
export function catalogRoutes(api: ApiServices): AnyRoute[] {
  return [
    defineRoute({
      operationId: 'getCatalog',
      method: 'get',
      path: '/v1/catalog',
      summary: 'The lab catalog with its timeouts (service or admin)',
      tag: 'catalog',
      access: 'labs',
      responses: [{ status: 200, description: 'the catalog', schema: catalogSchema }],
      errors: [],
      handle(koa) {
        koa.body = {
          labs: Object.values(api.ctx.config.labs).map((lab) => ({
            name: lab.name,
            idleTimeout: toSeconds(lab.idleTimeout),
            deleteAfter: toSeconds(lab.deleteAfter),
            maxLifetime: lab.maxLifetime === undefined ? null : toSeconds(lab.maxLifetime),
            launchTimeout: toSeconds(lab.launchTimeout),
            checks: lab.checks.map(({ name, title, weight }) => ({ name, title, weight })),
          })),
        };
      },
    }),
  ];
}
