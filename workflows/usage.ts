/**
 * Usage accounting: the one rule for what a lab's time counts as, shared by the ledger the
 * projection activity writes, its rebuild from the audit trail, the reports and the limits the
 * lab workflow enforces. Pure, so workflow-safe.
 *
 * A lab's time is cut into intervals by its audit events: from one event to the next the lab is
 * in the state the first one entered. Time with a stack up (built, running, or in an action on
 * it) is running time; time in `suspended` is suspended time; `queued`, `failed` and `deleted`
 * cost nothing. Running time is charged to the learner unless staff started it (a retry) and
 * the learner has not been back since: that part is recorded, but not counted against limits.
 */
import type { LabState } from './state';

export type UsageKind = 'running' | 'suspended';

const KIND_OF: Record<LabState, UsageKind | null> = {
  queued: null,
  launching: 'running',
  ready: 'running',
  suspending: 'running',
  suspended: 'suspended',
  resuming: 'running',
  resetting: 'running',
  deleting: 'running',
  deleted: null,
  failed: null,
};

/** What time in `state` counts as (null: nothing). */
export function usageKindOf(state: LabState): UsageKind | null {
  return KIND_OF[state];
}

/** Who running time is charged to. */
export type Charge = 'learner' | 'staff';

/** One lab's usage on one UTC day, in whole milliseconds (sums stay exact). */
export interface DayUsage {
  /** YYYY-MM-DD, UTC. */
  day: string;
  runningMs: number;
  suspendedMs: number;
  /** The part of runningMs charged to the learner (what limits count). */
  chargedMs: number;
}

const DAY_MS = 86_400_000;

/** The UTC day of an instant, YYYY-MM-DD. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The instant a UTC day (YYYY-MM-DD) begins. */
export function startOfDay(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

/** The UTC day `n` days before `day`. */
export function daysBefore(day: string, n: number): string {
  return dayOf(startOfDay(day) - n * DAY_MS);
}

/**
 * Where a reader's open interval starts: the lab's last event, or where its ledger has counted
 * to when that is later. recordTransition writes the ledger before the projection, so a reader
 * in between sees the previous event there and would count the closed interval twice.
 */
export function openSince(lastEventAt: number, countedTo: number | null | undefined): number {
  return Math.max(lastEventAt, countedTo ?? -Infinity);
}

/**
 * The usage of `[from, to)` spent in `state`, cut at UTC midnights: one entry per day touched,
 * none for a state that costs nothing or an empty interval.
 */
export function usageOfInterval(
  state: LabState,
  from: number,
  to: number,
  charge: Charge,
): DayUsage[] {
  const kind = usageKindOf(state);
  if (kind === null || !(to > from)) return [];
  const days: DayUsage[] = [];
  for (let start = from; start < to;) {
    const end = Math.min(to, startOfDay(dayOf(start)) + DAY_MS);
    const ms = Math.round(end) - Math.round(start);
    days.push({
      day: dayOf(start),
      runningMs: kind === 'running' ? ms : 0,
      suspendedMs: kind === 'suspended' ? ms : 0,
      chargedMs: kind === 'running' && charge === 'learner' ? ms : 0,
    });
    start = end;
  }
  return days;
}

/** Adds `b` into `a` (same day). */
export function addUsage(a: DayUsage, b: Omit<DayUsage, 'day'>): DayUsage {
  return {
    day: a.day,
    runningMs: a.runningMs + b.runningMs,
    suspendedMs: a.suspendedMs + b.suspendedMs,
    chargedMs: a.chargedMs + b.chargedMs,
  };
}

/** What the interval an audit event closes needs: the previous event's time, state and charge. */
export interface OpenInterval {
  /** Epoch ms of the event that opened it. */
  since: number;
  state: LabState;
  charge: Charge;
}

/**
 * The usage of a lab's audit trail, in order (by seq): each event closes the interval the one
 * before it opened. The last event's interval is still open and is not counted.
 */
export function usageOfTrail(
  events: ReadonlyArray<{ at: number; to: LabState; charge?: Charge }>,
): DayUsage[] {
  const byDay = new Map<string, DayUsage>();
  for (let i = 1; i < events.length; i++) {
    const prev = events[i - 1]!;
    for (const d of usageOfInterval(prev.to, prev.at, events[i]!.at, prev.charge ?? 'learner')) {
      const known = byDay.get(d.day);
      byDay.set(d.day, known ? addUsage(known, d) : d);
    }
  }
  return [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day));
}

/** A usage limit's verdict for one lab at one instant (what the API shows as `lab.usage`). */
export interface UsageVerdict {
  /** Charged running time in the limit's window, up to the instant asked about. */
  usedMs: number;
  /** The limit plus the extra time staff granted in the window. */
  limitMs: number;
  breach: 'warn' | 'block' | 'suspend';
  /** Fraction of limitMs at which the warning goes out. */
  warnAt: number;
  /** "course", or "<N>d" (the last N UTC days, today included). */
  window: string;
  /** The first day the window counts (null: the whole course). */
  windowStart: string | null;
  /** Which configured limit this is (its index in `usageLimits`), for the audit trail. */
  limitIndex: number;
}

export const isExceeded = (v: Pick<UsageVerdict, 'usedMs' | 'limitMs'>) => v.usedMs >= v.limitMs;

/**
 * Whether a verdict refuses a launch or a resume: `block` and `suspend` do once the allowance is
 * used up; `warn` never does.
 */
export const refusesStart = (v: UsageVerdict) => v.breach !== 'warn' && isExceeded(v);

/**
 * For a lab that keeps running (charged to the learner): when, from `now`, its warning and its
 * limit are reached. Past instants mean "already".
 */
export function usageDeadlines(
  v: UsageVerdict,
  now: number,
): { warnAt: number; reachedAt: number } {
  return {
    warnAt: now + v.limitMs * v.warnAt - v.usedMs,
    reachedAt: now + v.limitMs - v.usedMs,
  };
}

/** A span for people: "2h 5m", "45s" (whole seconds, rounded down). */
export function formatSpan(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return parts.join(' ');
}
