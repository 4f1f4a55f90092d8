/**
 * A learner's standing against the usage limits that apply to one of their labs: the one rule
 * the API (a launch's 403, `lab.usage`) and the lab workflow (its warning, its suspend, a refused
 * resume) both ask, through `usageVerdicts`.
 */
import type { Config, UsageLimitConfig } from '../config/types';
import type { QueryOptions } from '../store/deadlines';
import type { UsageStore } from '../store/usage';
import {
  dayOf,
  openSince,
  daysBefore,
  isExceeded,
  startOfDay,
  usageKindOf,
  type OpenInterval,
  type UsageVerdict,
} from '../../workflows/usage';

export interface UsageSubject {
  courseId: string;
  learnerId: string;
  lab: string;
}

/** The limits (with their index in `usageLimits`) that apply to a lab of a course. */
export function limitsFor(
  config: Pick<Config, 'usageLimits'>,
  subject: Pick<UsageSubject, 'courseId' | 'lab'>,
): Array<{ limit: UsageLimitConfig; index: number }> {
  return config.usageLimits.flatMap((limit, index) =>
    (limit.courses === null || limit.courses.includes(subject.courseId)) &&
    (limit.labs === null || limit.labs.includes(subject.lab))
      ? [{ limit, index }]
      : [],
  );
}

/** Whether any limit may apply to a lab (of some course): what a lab's policy carries. */
export function mayLimit(config: Pick<Config, 'usageLimits'>, lab: string): boolean {
  return config.usageLimits.some((l) => l.labs === null || l.labs.includes(lab));
}

/** The first day a window counts at `at` (null: the whole course). */
export function windowStartOf(window: string, at: number): string | null {
  const days = /^(\d+)d$/.exec(window);
  return days ? daysBefore(dayOf(at), Number(days[1]) - 1) : null;
}

/**
 * Every limit's verdict for a lab at `at`: the learner's charged running time in the limit's
 * scope and window (the ledger, plus the lab's interval still open when it is charged running
 * time), against the limit plus what staff granted in the window.
 */
export async function usageVerdicts(
  usage: UsageStore,
  config: Pick<Config, 'usageLimits'>,
  subject: UsageSubject,
  at: number,
  open: OpenInterval | null,
  options?: QueryOptions,
): Promise<UsageVerdict[]> {
  return Promise.all(
    limitsFor(config, subject).map(async ({ limit, index }) => {
      const windowStart = windowStartOf(limit.window, at);
      const scoped = {
        learnerId: subject.learnerId,
        ...(limit.scope !== 'site' ? { courseId: subject.courseId } : {}),
        ...(limit.scope === 'lab' ? { lab: subject.lab } : {}),
      };
      const [ledger, grantedMs] = await Promise.all([
        usage.charged({ ...scoped, fromDay: windowStart }, subject, options),
        usage.grantedMs(
          {
            learnerId: subject.learnerId,
            courseId: limit.scope === 'site' ? null : subject.courseId,
            lab: subject.lab,
            since: windowStart ? new Date(startOfDay(windowStart)) : null,
          },
          options,
        ),
      ]);
      return {
        usedMs:
          ledger.chargedMs + openChargedMs(notCounted(open, ledger.countedTo), windowStart, at),
        limitMs: limit.limit + grantedMs,
        breach: limit.breach,
        warnAt: limit.warnAt,
        window: limit.window,
        windowStart,
        limitIndex: index,
      };
    }),
  );
}

/** The part of the open interval the ledger has not counted (`openSince`). */
function notCounted(open: OpenInterval | null, countedTo: number | null): OpenInterval | null {
  return open && { ...open, since: openSince(open.since, countedTo) };
}

/** The charged running ms of the lab's open interval inside the window, up to `at`. */
function openChargedMs(open: OpenInterval | null, windowStart: string | null, at: number): number {
  if (!open || open.charge !== 'learner' || usageKindOf(open.state) !== 'running') return 0;
  const from = Math.max(open.since, windowStart ? startOfDay(windowStart) : -Infinity);
  return Math.max(0, at - from);
}

const SEVERITY = { suspend: 2, block: 1, warn: 0 } as const;

/**
 * The verdict a lab shows: the most severe limit already used up, else the one with the least
 * time left (null: no limit applies).
 */
export function shownVerdict(verdicts: UsageVerdict[]): UsageVerdict | null {
  let shown: UsageVerdict | null = null;
  for (const v of verdicts) {
    if (!shown) shown = v;
    else if (isExceeded(v) !== isExceeded(shown)) shown = isExceeded(v) ? v : shown;
    else if (isExceeded(v)) shown = SEVERITY[v.breach] > SEVERITY[shown.breach] ? v : shown;
    else shown = v.limitMs - v.usedMs < shown.limitMs - shown.usedMs ? v : shown;
  }
  return shown;
}
