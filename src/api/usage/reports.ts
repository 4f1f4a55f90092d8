/**
 * GET /v1/reports/usage: a course's (or every course's) lab time over a range of days, by lab,
 * learner or day, with what it cost. src/usage/report.ts computes and renders it; this reads the
 * store and negotiates JSON or CSV.
 */
import { z } from 'zod';
import { GROUP_BYS, reportCsv, usageReport, type UsageReport } from '../../usage/report';
import { dayOf, daysBefore, startOfDay } from '../../../workflows/usage';
import { badRequest } from '../errors';
import { courseIdSchema, dateTime } from '../labs/schema';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';

/** A report scans the ledger of a range of days and every lab of the course: more than 3 s's worth on a big FerretDB. */
const REPORT_DEADLINE_MS = 30_000;
/** The default range: the last 30 days, `to` included. */
const DEFAULT_DAYS = 30;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const day = z
  .string()
  .regex(DAY, 'must be a date YYYY-MM-DD')
  // 2026-02-30 matches the pattern (and parses, as 03-02): a real day reads back the same.
  // 2026-13-01 does not parse at all (NaN, which dayOf cannot format).
  .refine((d) => !DAY.test(d) || (Number.isFinite(startOfDay(d)) && dayOf(startOfDay(d)) === d), {
    message: 'must be a real date YYYY-MM-DD',
  });

const reportQuery = z.strictObject({
  courseId: courseIdSchema.optional().meta({ description: 'one course (default: every course)' }),
  from: day
    .optional()
    .meta({ description: `first day, UTC (default: ${DEFAULT_DAYS - 1} days before to)` }),
  to: day.optional().meta({ description: 'last day, UTC, included (default: today)' }),
  groupBy: z
    .enum(GROUP_BYS, { error: `must be ${GROUP_BYS.join(', ')}` })
    .default('lab')
    .meta({ description: 'one row per lab (name), learner or day' }),
});

const hours = (description: string) => z.number().meta({ description: `${description}, hours` });

const reportRowSchema = z
  .object({
    key: z.string().meta({ description: 'the lab name, learner id or day; "total" on the totals' }),
    runningHours: hours('stacks up (built, running, or in an action)'),
    suspendedHours: hours('stacks suspended'),
    chargedHours: hours('running time charged to learners (what usage limits count)'),
    staffHours: hours('running time staff started (a retry) that no learner came back to'),
    activeHours: hours('learners active in the lab (heartbeats)'),
    labs: z.number().int().meta({ description: 'distinct labs (lab ids)' }),
    learners: z.number().int().meta({ description: 'distinct learners' }),
    cost: z
      .object({
        currency: z.string(),
        estimated: z.number().meta({ description: 'at the catalog rates, running and suspended' }),
        alwaysOn: z.number().meta({ description: 'had the stacks never been suspended' }),
        saving: z.number().meta({ description: 'alwaysOn - estimated' }),
      })
      .nullable()
      .meta({
        description: 'null: no lab of the row has a cost, or they have different currencies',
      }),
    note: z.string().nullable().meta({ description: 'why the cost is missing or partial' }),
  })
  .meta({ id: 'UsageReportRow' });

const reportSchema = z
  .object({
    courseId: z.string().nullable().meta({ description: 'null: every course' }),
    from: z.string(),
    to: z.string(),
    groupBy: z.enum(GROUP_BYS),
    asOf: dateTime.meta({ description: 'labs still running are counted up to this instant' }),
    rows: z.array(reportRowSchema),
    total: reportRowSchema,
  })
  .meta({ id: 'UsageReport' });

const csvSchema = z.string().meta({
  contentMediaType: 'text/csv',
  description:
    'with Accept: text/csv. A header line (the first column named after groupBy), one line per row, then the "total" line',
});

export function reportRoutes(api: ApiServices): AnyRoute[] {
  const { store, config } = api.ctx;
  return [
    defineRoute({
      operationId: 'usageReport',
      method: 'get',
      path: '/v1/reports/usage',
      summary: 'Lab time and cost over a range of days, by lab, learner or day (JSON or CSV)',
      tag: 'usage',
      access: 'labs',
      query: reportQuery,
      responses: [
        { status: 200, description: 'the report', schema: reportSchema },
        { status: 200, description: 'the report', schema: csvSchema },
      ],
      errors: [],
      async handle(koa, { query }) {
        const asOf = Date.now();
        const to = query.to ?? dayOf(asOf);
        const from = query.from ?? daysBefore(to, DEFAULT_DAYS - 1);
        if (from > to) throw rangeError(from, to);

        const { courseId } = query;
        const [lines, open] = await api.deps.mongo(
          'read usage ledger',
          (d) =>
            Promise.all([
              store.usage.lines({ courseId, fromDay: from, toDay: to }, d),
              store.labs.usageRowsOf(courseId, d),
            ]),
          REPORT_DEADLINE_MS,
        );
        // Active time of the course's labs (the report keeps the labs it can name).
        const active = await api.deps.mongo(
          'read usage active time',
          (d) =>
            store.usage.activeOf(
              { ...(courseId !== undefined ? { courseId } : {}), fromDay: from, toDay: to },
              d,
            ),
          REPORT_DEADLINE_MS,
        );
        const report = usageReport({
          lines,
          open,
          active,
          labs: config.labs,
          from,
          to,
          asOf,
          groupBy: query.groupBy,
        });

        koa.vary('Accept');
        if (koa.accepts('application/json', 'text/csv') === 'text/csv') {
          koa.type = 'text/csv; charset=utf-8';
          koa.body = reportCsv(report);
          return;
        }
        koa.body = presentReport(courseId ?? null, report);
      },
    }),
  ];
}

/** Typed against the documented schema, so the two cannot drift. */
const presentReport = (
  courseId: string | null,
  report: UsageReport,
): z.output<typeof reportSchema> => ({
  courseId,
  ...report,
});

/** The same 400 as a field's (src/api/input.ts), naming `from`. */
function rangeError(from: string, to: string) {
  const message = `must be on or before to (${to})`;
  return badRequest(`invalid query field "from": ${message}; got ${from}`, {
    field: 'from',
    in: 'query',
    problems: [{ field: 'from', in: 'query', message }],
  });
}
