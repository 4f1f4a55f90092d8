import { z } from 'zod';
import { dateTime, labIdParams } from '../labs/schema';

/** Request and response schemas of the check routes (docs/api.md "Checks"). */

export const CHECK_ID_PATTERN = /^chk_[0-9a-f]{32}$/;

export const checkParams = labIdParams.extend({
  checkId: z
    .string()
    .regex(CHECK_ID_PATTERN, 'must be chk_ followed by 32 hex digits')
    .meta({ description: 'check run id' }),
});

export const runChecksBody = z
  .strictObject({
    names: z
      .array(z.string().min(1))
      .min(1, 'must name at least one check')
      .optional()
      .meta({ description: "a subset of the lab's checks; all of them when absent" }),
  })
  .optional();

export const getCheckQuery = z.strictObject({
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(30)
    .optional()
    .meta({ description: 'seconds to wait for the run to finish' }),
});

export const listChecksQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(50).default(20),
});

export const checkRunSchema = z
  .object({
    id: z.string(),
    labId: z.string(),
    state: z.enum(['running', 'passed', 'failed', 'error']).meta({
      description:
        'passed: every check passed; failed: the scripts ran, some failed; error: the checks could not run (no grade)',
    }),
    startedAt: dateTime,
    finishedAt: dateTime.nullable(),
    score: z.object({ earned: z.number(), possible: z.number() }),
    results: z.array(
      z.object({
        name: z.string(),
        title: z.string(),
        passed: z.boolean(),
        timedOut: z.boolean(),
        hint: z.string().nullable().meta({
          description: "the script's FAIL: lines, else its stderr (at most 4 KiB)",
        }),
      }),
    ),
    error: z.string().nullable().meta({ description: 'why the checks could not run' }),
  })
  .meta({ id: 'CheckRun' });

export const checkRunListSchema = z.object({ checks: z.array(checkRunSchema) });

export type CheckRunView = z.output<typeof checkRunSchema>;
