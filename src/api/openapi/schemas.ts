import { z } from 'zod';

/** Every error answer: `{error: {code, message, details?}}`. */
export const errorSchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.unknown().optional().meta({
        description: 'for 400: {field, in, problems}; for 429: {scope: token, lab or learner}',
      }),
    }),
  })
  .meta({ id: 'Error' });
