import type { PoolConfig, PoolWindow, Weekday } from '../config';

const MINUTE_MS = 60_000;
/** How far ahead the next change of target is looked for; beyond it the pool wakes to look again. */
const HORIZON_MS = 8 * 86_400_000;

const WEEKDAY_OF: Record<string, Weekday> = {
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
  Sun: 'sun',
};

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The weekday and "HH:MM" at instant `at` in `timeZone` (DST included, from the runtime's tz data). */
function localTime(at: number, timeZone: string): { day: Weekday; clock: string } {
  const parts = formatterFor(timeZone).formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return { day: WEEKDAY_OF[part('weekday')] ?? 'mon', clock: `${part('hour')}:${part('minute')}` };
}

function windowSizeAt(window: PoolWindow, at: number): number {
  const { day, clock } = localTime(at, window.timeZone);
  return window.days.includes(day) && clock >= window.from && clock < window.to ? window.size : 0;
}

/** The size the schedule asks for at instant `at`, ignoring warmup. */
function scheduledSizeAt(pool: PoolConfig, at: number): number {
  return pool.schedule.reduce((size, w) => Math.max(size, windowSizeAt(w, at)), pool.size);
}

/**
 * The pool's target at `at`: its base size, or the largest window that is open at any moment
 * from now until `warmup` from now, so stacks are built (and ready) before the class starts and
 * dropped when it ends. Windows are evaluated minute by minute (their bounds are whole minutes).
 */
export function poolTargetAt(pool: PoolConfig, at: number): number {
  const start = Math.floor(at / MINUTE_MS) * MINUTE_MS;
  let target = pool.size;
  if (pool.schedule.length === 0) return target;
  for (let i = 0; i <= Math.ceil(pool.warmup / MINUTE_MS); i++)
    target = Math.max(target, scheduledSizeAt(pool, start + i * MINUTE_MS));
  return target;
}

/** The target now, and when it next changes (null: not within the next 8 days, or no schedule). */
export function poolPlan(
  pool: PoolConfig,
  at: number,
): { target: number; nextChangeAt: number | null } {
  if (pool.schedule.length === 0) return { target: pool.size, nextChangeAt: null };
  const start = Math.floor(at / MINUTE_MS) * MINUTE_MS;
  const warmupMinutes = Math.ceil(pool.warmup / MINUTE_MS);
  const minutes = Math.ceil(HORIZON_MS / MINUTE_MS);
  const sizes: number[] = [];
  for (let i = 0; i <= minutes + warmupMinutes; i++)
    sizes.push(scheduledSizeAt(pool, start + i * MINUTE_MS));
  const targetAt = (i: number) => {
    let target = pool.size;
    for (let j = i; j <= i + warmupMinutes; j++) target = Math.max(target, sizes[j] ?? 0);
    return target;
  };
  const target = targetAt(0);
  for (let i = 1; i <= minutes; i++)
    if (targetAt(i) !== target) return { target, nextChangeAt: start + i * MINUTE_MS };
  return { target, nextChangeAt: null };
}
