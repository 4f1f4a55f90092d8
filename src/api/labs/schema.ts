import { z } from 'zod';
import { usageSchema } from '../usage/view';
import { LAB_STATES } from '../../../workflows/state';
import { LAB_ID_PATTERN } from '../../temporal/ids';

/**
 * Request and response schemas of the labs resource: the only validation of lab input, and
 * the source of /openapi.json.
 */

export const dateTime = z.string().meta({ format: 'date-time' });

/** Open edX opaque-keys' ALLOWED_ID_CHARS (ASCII): letters, digits, _ - ~ . : */
const keyPart = '[A-Za-z0-9_~.:-]+';
/**
 * `course-v1:Org+Course+Run` (current Open edX keys), `ccx-v1:Org+Course+Run+ccx@N` (custom
 * courses), and the legacy `Org/Course/Run` that older course runs still carry.
 */
export const COURSE_ID_PATTERN = new RegExp(
  `^(?:course-v1:${keyPart}\\+${keyPart}\\+${keyPart}|ccx-v1:${keyPart}\\+${keyPart}\\+${keyPart}\\+ccx@\\d+|${keyPart}/${keyPart}/${keyPart})$`,
);
/** Open edX anonymous user ids are hex; anything printable without spaces is accepted. */
const LEARNER_ID_PATTERN = /^[^\s\p{Cc}]+$/u;

export const courseIdSchema = z
  .string()
  .max(255)
  .regex(COURSE_ID_PATTERN, 'must be an Open edX course key such as course-v1:Org+Course+Run')
  .meta({ examples: ['course-v1:OpenCraft+Linux101+2026'] });
export const learnerIdSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(LEARNER_ID_PATTERN, 'must have no whitespace or control characters')
  .meta({ description: "Open edX's anonymous user id" });
export const labNameSchema = z
  .string()
  .min(1)
  .max(64)
  .meta({ description: 'a lab of the catalog' });

export const launchBody = z.strictObject({
  courseId: courseIdSchema,
  learnerId: learnerIdSchema,
  lab: labNameSchema,
});

export const labIdParams = z.strictObject({
  id: z
    .string()
    .regex(LAB_ID_PATTERN, 'must be lab_ followed by 26 characters a-z, 2-7')
    .meta({ description: 'lab id: also the lab workflow id in Temporal UI' }),
});

export const getLabQuery = z.strictObject({
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(60)
    .optional()
    .meta({ description: 'seconds to wait for a change of state or progress' }),
});

export const labStateSchema = z.enum(LAB_STATES);

export const listLabsQuery = z.strictObject({
  courseId: z.string().min(1).max(255).optional(),
  learnerId: z.string().min(1).max(255).optional(),
  lab: z.string().min(1).max(64).optional(),
  state: labStateSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z
    .string()
    .max(512)
    .regex(/^[A-Za-z0-9_-]+$/, 'must be a nextCursor from a previous page')
    .optional(),
});

export const labSchema = z
  .object({
    id: z.string(),
    courseId: z.string(),
    learnerId: z.string(),
    lab: z.string(),
    state: labStateSchema,
    provider: z.string().nullable(),
    stack: z
      .object({ id: z.string(), name: z.string(), status: z.string(), statusReason: z.string() })
      .nullable(),
    outputs: z.record(z.string(), z.unknown()).meta({ description: 'non-secret stack outputs' }),
    progress: z
      .object({ done: z.number().int(), total: z.number().int() })
      .nullable()
      .meta({ description: 'top-level resources completed while a stack is built' }),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    createdAt: dateTime,
    updatedAt: dateTime,
    lastActivityAt: dateTime.nullable(),
    suspendAt: dateTime.nullable().meta({ description: 'when a ready lab is suspended if idle' }),
    deleteAt: dateTime
      .nullable()
      .meta({ description: 'when the lab is deleted if nothing changes' }),
    fromPool: z.boolean().meta({
      description: "the lab's stack was claimed from the lab's warm pool (resumed, not created)",
    }),
    statusReason: z.string().nullable().meta({
      description:
        'why a stack action is held up, for staff (e.g. "resume of ...: Heat unavailable since 12:03:10 UTC, retrying"); null when nothing is',
    }),
    usage: usageSchema
      .optional()
      .meta({ description: 'present when a usage limit applies (GET of one lab, launch)' }),
  })
  .meta({ id: 'Lab' });
export type LabView = z.output<typeof labSchema>;

export const launchedLabSchema = labSchema
  .extend({
    heartbeatToken: z.string().meta({
      description:
        "Bearer token for POST /v1/labs/{id}/heartbeat of this lab only (learner's browser)",
    }),
  })
  .meta({ id: 'LaunchedLab' });

export const labListSchema = z.object({
  labs: z.array(labSchema),
  nextCursor: z.string().nullable(),
});

export const connectionSchema = z.object({
  protocol: z.string(),
  host: z.string().nullable(),
  port: z.number().int().nullable(),
  username: z.string().nullable(),
  secrets: z
    .record(z.string(), z.string())
    .meta({ description: 'secret stack outputs, decrypted' }),
});

export const labEventsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(20),
});

export const labEventsSchema = z
  .object({
    events: z.array(
      z.object({
        at: dateTime,
        from: labStateSchema.nullable().meta({ description: 'null for the first event of a life' }),
        to: labStateSchema,
        generation: z.number().int().meta({ description: 'stack generation (1 for the first)' }),
        provider: z.string().nullable(),
        reason: z.string(),
        error: z.object({ code: z.string(), message: z.string() }).nullable(),
      }),
    ),
  })
  .meta({ id: 'LabEvents' });
