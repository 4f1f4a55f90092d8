/**
 * What the API says about a learner's usage limits: the lab object's `usage`, and the 403 that
 * refuses a launch once a `block` or `suspend` limit is used up. The rule is src/usage/verdict.ts,
 * the one the lab workflow asks too.
 */
import { z } from 'zod';
import type { LabDocument } from '../../store';
import { limitsFor, shownVerdict, usageVerdicts, type UsageSubject } from '../../usage/verdict';
import {
  formatSpan,
  isExceeded,
  refusesStart,
  type OpenInterval,
  type UsageVerdict,
} from '../../../workflows/usage';
import type { LabState } from '../../../workflows/state';
import { ApiError } from '../errors';
import type { ApiServices } from '../services';

export const usageSchema = z
  .object({
    usedSeconds: z.number().int().meta({ description: 'charged running time in the window' }),
    limitSeconds: z
      .number()
      .int()
      .meta({ description: 'the limit plus the extra time staff granted in the window' }),
    remainingSeconds: z.number().int(),
    breach: z.enum(['warn', 'block', 'suspend']).meta({
      description:
        'what happens once used up: warn (events only), block (no launch or resume), suspend (also suspended while running)',
    }),
    exceeded: z.boolean(),
    window: z.string().meta({ description: '"course", or "<N>d": the last N UTC days' }),
    windowStart: z.string().nullable().meta({ description: 'first day counted (null: all)' }),
  })
  .meta({
    id: 'LabUsage',
    description: "the learner's standing against the tightest usage limit of this lab",
  });
export type UsageView = z.output<typeof usageSchema>;

export function presentUsage(v: UsageVerdict): UsageView {
  return {
    usedSeconds: Math.floor(v.usedMs / 1000),
    limitSeconds: Math.floor(v.limitMs / 1000),
    remainingSeconds: Math.max(0, Math.floor((v.limitMs - v.usedMs) / 1000)),
    breach: v.breach,
    exceeded: isExceeded(v),
    window: v.window,
    windowStart: v.windowStart,
  };
}

/** The interval a lab's projection says is still open (not in the ledger yet). */
export function openIntervalOf(doc: LabDocument | null): OpenInterval | null {
  return doc?.lastEventAt
    ? { since: doc.lastEventAt.getTime(), state: doc.state, charge: doc.charge ?? 'learner' }
    : null;
}

function verdictsOf(api: ApiServices, subject: UsageSubject, doc: LabDocument | null) {
  return api.deps.mongo('read usage', (deadline) =>
    usageVerdicts(
      api.ctx.store.usage,
      api.ctx.config,
      subject,
      Date.now(),
      openIntervalOf(doc),
      deadline,
    ),
  );
}

/** A lab's `usage` (undefined: no limit applies, and nothing was read). */
export async function usageOfLab(
  api: ApiServices,
  subject: UsageSubject,
  doc: LabDocument | null,
): Promise<UsageView | undefined> {
  if (limitsFor(api.ctx.config, subject).length === 0) return undefined;
  const shown = shownVerdict(await verdictsOf(api, subject, doc));
  return shown ? presentUsage(shown) : undefined;
}

/** States in which a launch starts nothing (the lab is up or on its way up). */
const STARTING_NOTHING: readonly LabState[] = [
  'queued',
  'launching',
  'ready',
  'resuming',
  'resetting',
];

/**
 * Refuses a launch that would start or resume a lab past a `block` or `suspend` limit (403
 * usage_limit, with the numbers). A launch of a lab already up is answered as always.
 */
export async function refuseIfUsedUp(
  api: ApiServices,
  subject: UsageSubject,
  labId: string,
): Promise<void> {
  if (limitsFor(api.ctx.config, subject).length === 0) return;
  const doc = await api.deps.mongo('read lab', (d) => api.ctx.store.labs.get(labId, d));
  if (doc && STARTING_NOTHING.includes(doc.state)) return;
  const refusing = shownVerdict((await verdictsOf(api, subject, doc)).filter(refusesStart));
  if (refusing) throw usageLimitReached(refusing);
}

export function usageLimitReached(v: UsageVerdict): ApiError {
  const where =
    v.windowStart === null ? 'in this course' : `in the last ${v.window.slice(0, -1)} days`;
  return new ApiError(
    403,
    'usage_limit',
    `lab time used up: ${formatSpan(v.usedMs)} of ${formatSpan(v.limitMs)} ${where} (usage limit ${v.limitIndex + 1}, ${v.breach}); staff can grant more (POST /v1/usage/grants)`,
    presentUsage(v),
  );
}
