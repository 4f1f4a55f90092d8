/**
 * Usage limits' staff side: extra time for a learner (grants, audited: each grant is kept with
 * who gave it and why), and the ledger's rebuild from the audit trail. Reports: reports.ts.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { labNamed } from '../../config';
import type { UsageGrant } from '../../store';
import { rebuildLedger } from '../../usage/rebuild';
import { parseDuration } from '../../../workflows/duration';
import { unknownLab } from '../errors';
import { courseIdSchema, dateTime, labNameSchema, learnerIdSchema } from '../labs/schema';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';

/** A rebuild reads the whole audit trail: minutes on a large FerretDB, not an API deadline's 3 s. */
const REBUILD_DEADLINE_MS = 30 * 60_000;

const grantBody = z.strictObject({
  courseId: courseIdSchema,
  learnerId: learnerIdSchema,
  lab: labNameSchema
    .optional()
    .meta({ description: "only this lab's limits (default: every lab of the course)" }),
  extra: z
    .string()
    .refine((text) => (parseDuration(text) ?? 0) > 0, 'must be a duration such as 5h or 90m')
    .meta({ description: 'extra running time, e.g. "5h"' }),
  reason: z.string().trim().min(1, 'must say why').max(500, 'must be at most 500 characters'),
});

const grantSchema = z
  .object({
    id: z.string(),
    courseId: z.string(),
    learnerId: z.string(),
    lab: z.string().nullable(),
    extraSeconds: z.number().int(),
    reason: z.string(),
    grantedBy: z
      .string()
      .meta({ description: 'the admin token that gave it (its key, not the token)' }),
    at: dateTime,
  })
  .meta({ id: 'UsageGrant' });
const grantListSchema = z.object({ grants: z.array(grantSchema) });

const grantsQuery = z.strictObject({
  courseId: courseIdSchema,
  learnerId: learnerIdSchema.optional(),
});

const rebuildBody = z.strictObject({
  labId: z.string().min(1).optional().meta({ description: 'one lab only (default: every lab)' }),
});
const rebuildSchema = z.object({
  labs: z.number().int(),
  lines: z.number().int(),
  skipped: z
    .number()
    .int()
    .meta({ description: 'labs whose trail names no owner and whose projection is gone' }),
});

const presentGrant = (g: UsageGrant): z.output<typeof grantSchema> => ({
  id: g._id,
  courseId: g.courseId,
  learnerId: g.learnerId,
  lab: g.lab,
  extraSeconds: Math.floor(g.extraMs / 1000),
  reason: g.reason,
  grantedBy: g.grantedBy,
  at: g.at.toISOString(),
});

export function usageRoutes(api: ApiServices): AnyRoute[] {
  const { store, config, logger } = api.ctx;
  return [
    defineRoute({
      operationId: 'grantUsage',
      method: 'post',
      path: '/v1/usage/grants',
      summary: 'Give a learner extra lab time over their usage limits (admin, audited)',
      tag: 'usage',
      access: 'admin',
      body: grantBody,
      responses: [{ status: 201, description: 'the grant', schema: grantSchema }],
      errors: [422],
      async handle(koa, { body, principal }) {
        if (body.lab !== undefined && !labNamed(config, body.lab)) throw unknownLab(body.lab);
        const grant: UsageGrant = {
          _id: `grant_${randomUUID()}`,
          courseId: body.courseId,
          learnerId: body.learnerId,
          lab: body.lab ?? null,
          extraMs: parseDuration(body.extra)!,
          reason: body.reason,
          grantedBy:
            principal && principal.kind !== 'heartbeat'
              ? `${principal.kind}:${principal.key}`
              : 'unknown',
          at: new Date(),
        };
        await api.deps.mongo('grant usage', (d) => store.usage.grant(grant, d));
        logger.info(
          {
            grantId: grant._id,
            courseId: grant.courseId,
            learnerId: grant.learnerId,
            lab: grant.lab,
            extraMs: grant.extraMs,
            grantedBy: grant.grantedBy,
            reason: grant.reason,
          },
          'usage grant',
        );
        koa.status = 201;
        koa.body = presentGrant(grant);
      },
    }),
    defineRoute({
      operationId: 'listUsageGrants',
      method: 'get',
      path: '/v1/usage/grants',
      summary: "A course's usage grants, newest first, or one learner's (admin)",
      tag: 'usage',
      access: 'admin',
      query: grantsQuery,
      responses: [{ status: 200, description: 'grants', schema: grantListSchema }],
      errors: [],
      async handle(koa, { query }) {
        const grants = await api.deps.mongo('list usage grants', (d) =>
          store.usage.grantsOf(query, d),
        );
        koa.body = { grants: grants.map(presentGrant) };
      },
    }),
    defineRoute({
      operationId: 'rebuildUsage',
      method: 'post',
      path: '/v1/usage/rebuild',
      summary: 'Rebuild the usage ledger from the audit trail (admin; idempotent)',
      tag: 'usage',
      access: 'admin',
      body: rebuildBody,
      responses: [{ status: 200, description: 'what was rebuilt', schema: rebuildSchema }],
      errors: [],
      async handle(koa, { body }) {
        const result = await api.deps.mongo(
          'rebuild usage ledger',
          (d) => rebuildLedger(store, { ...(body.labId ? { labId: body.labId } : {}), ...d }),
          REBUILD_DEADLINE_MS,
        );
        logger.info({ ...result, labId: body.labId ?? null }, 'usage ledger rebuilt');
        koa.body = result;
      },
    }),
  ];
}
