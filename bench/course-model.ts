/**
 * The simulated course behind the cost bench: when each learner works, drawn from a stated,
 * seeded model, and what that schedule costs under policies that need no orchestrator to
 * evaluate (always on, delete at session end, an ideal suspend exactly idleTimeout after the
 * last activity), computed from the same schedule the bench plays against the product.
 *
 * The model, in simulated minutes from the start of the course:
 * - a learner starts on a day of the first week (uniform) and works in sessions on separate
 *   days: in each of their weeks Poisson(sessionsPerWeek) sessions (at least one in the first),
 *   each starting at a uniform time between startHours.from and startHours.to;
 * - after each week a learner drops out with probability dropoutPerWeek;
 * - a session is workMinutes of work (log-normal), cut by Poisson(breaksPerHour per hour of
 *   work) breaks: a share short (log-normal: reading, coffee), the rest long (uniform: lunch,
 *   a meeting), longer than idleTimeout;
 * - the learner is active while working, and not during breaks or between sessions.
 */
import { logNormal, poisson, seeded, shuffle, uniform } from './random';

export const DAY_MINUTES = 1440;

export interface CourseModel {
  seed: number;
  learners: number;
  weeks: number;
  sessionsPerWeek: number;
  dropoutPerWeek: number;
  workMinutes: { median: number; sigma: number; min: number; max: number };
  breaksPerHour: number;
  shortBreakShare: number;
  shortBreakMinutes: { median: number; sigma: number };
  longBreakMinutes: { min: number; max: number };
  startHours: { from: number; to: number };
}

/** The model's parameters apart from its size (learners, weeks), which the bench's scale sets. */
export const COURSE_MODEL: Omit<CourseModel, 'learners' | 'weeks'> = {
  seed: 2026,
  sessionsPerWeek: 2,
  dropoutPerWeek: 0.15,
  workMinutes: { median: 50, sigma: 0.5, min: 10, max: 180 },
  breaksPerHour: 1.2,
  shortBreakShare: 0.8,
  shortBreakMinutes: { median: 4, sigma: 0.6 },
  longBreakMinutes: { min: 20, max: 60 },
  startHours: { from: 8, to: 22 },
};

/** One work stretch, in simulated minutes from the start of the course. */
export type Segment = [start: number, end: number];

export interface Session {
  /** Work stretches in order; the gaps between them are the session's breaks. */
  segments: Segment[];
}

export interface LearnerPlan {
  learner: string;
  sessions: Session[];
}

export const courseMinutes = (model: Pick<CourseModel, 'weeks'>) => model.weeks * 7 * DAY_MINUTES;
export const sessionStart = (s: Session) => s.segments[0]![0];
export const sessionEnd = (s: Session) => s.segments[s.segments.length - 1]![1];

function drawSession(model: CourseModel, random: () => number, start: number): Session {
  const { workMinutes: w } = model;
  const work = Math.min(w.max, Math.max(w.min, logNormal(random, w.median, w.sigma)));
  const cuts = Array.from({ length: poisson(random, (model.breaksPerHour * work) / 60) }, () =>
    uniform(random, 0, work),
  ).sort((a, b) => a - b);
  const segments: Segment[] = [];
  let at = start;
  let done = 0;
  for (const cut of [...cuts, work]) {
    segments.push([at, at + cut - done]);
    at += cut - done;
    done = cut;
    if (cut === work) break;
    at +=
      random() < model.shortBreakShare
        ? logNormal(random, model.shortBreakMinutes.median, model.shortBreakMinutes.sigma)
        : uniform(random, model.longBreakMinutes.min, model.longBreakMinutes.max);
  }
  return { segments: segments.filter(([a, b]) => b > a) };
}

export function planCourse(model: CourseModel, learnerPrefix: string): LearnerPlan[] {
  const random = seeded(model.seed);
  const end = courseMinutes(model);
  return Array.from({ length: model.learners }, (_, i) => {
    const firstDay = Math.floor(random() * 7);
    const sessions: Session[] = [];
    for (let week = 0; ; week++) {
      const weekStart = firstDay + week * 7;
      if (weekStart * DAY_MINUTES >= end) break;
      const count = Math.min(
        7,
        week === 0
          ? Math.max(1, poisson(random, model.sessionsPerWeek))
          : poisson(random, model.sessionsPerWeek),
      );
      // Distinct days; the learner's first session is on the day they start.
      const days = (
        week === 0
          ? [0, ...shuffle(random, [1, 2, 3, 4, 5, 6])]
          : shuffle(random, [0, 1, 2, 3, 4, 5, 6])
      )
        .slice(0, count)
        .sort((a, b) => a - b);
      for (const day of days) {
        const start =
          (weekStart + day) * DAY_MINUTES +
          uniform(random, model.startHours.from * 60, model.startHours.to * 60);
        const session = drawSession(model, random, start);
        const previous = sessions[sessions.length - 1];
        // A rare long session running into the next day's start is dropped, not overlapped.
        if (previous && sessionEnd(previous) >= start) continue;
        if (session.segments.length > 0 && sessionEnd(session) <= end) sessions.push(session);
      }
      if (random() < model.dropoutPerWeek) break;
    }
    return { learner: `${learnerPrefix}-${i}`, sessions };
  });
}

export interface PolicyCost {
  /** Simulated minutes a stack was running (anything but suspended or deleted). */
  runningMinutes: number;
  suspendedMinutes: number;
  /** Stacks built: first launches, and launches after a delete. */
  creates: number;
  resumes: number;
  deletedByRetention: number;
}

const zero = (): PolicyCost => ({
  runningMinutes: 0,
  suspendedMinutes: 0,
  creates: 0,
  resumes: 0,
  deletedByRetention: 0,
});

export const activeMinutes = (plans: LearnerPlan[]) =>
  plans.reduce(
    (sum, p) =>
      sum +
      p.sessions.reduce(
        (s, session) => s + session.segments.reduce((t, [a, b]) => t + (b - a), 0),
        0,
      ),
    0,
  );

/** A stack from the first launch to the end of the course, never suspended. */
export function alwaysOn(plans: LearnerPlan[], end: number): PolicyCost {
  const cost = zero();
  for (const p of plans) {
    if (p.sessions.length === 0) continue;
    cost.runningMinutes += end - sessionStart(p.sessions[0]!);
    cost.creates++;
  }
  return cost;
}

/** A fresh stack for every session, deleted when the session ends (breaks included). */
export function deleteAtSessionEnd(plans: LearnerPlan[]): PolicyCost {
  const cost = zero();
  for (const p of plans)
    for (const s of p.sessions) {
      cost.runningMinutes += sessionEnd(s) - sessionStart(s);
      cost.creates++;
    }
  return cost;
}

/**
 * The orchestrator's policy carried out with no delay at all: suspended exactly `idleMinutes`
 * after the last activity, resumed the instant the learner is back, deleted after
 * `deleteAfterMinutes` suspended. The floor the product can approach, not beat.
 */
export function idealSuspend(
  plans: LearnerPlan[],
  end: number,
  idleMinutes: number,
  deleteAfterMinutes: number,
): PolicyCost {
  const cost = zero();
  for (const p of plans) {
    const segments = p.sessions.flatMap((s) => s.segments);
    let exists = false;
    segments.forEach(([a, b], i) => {
      if (!exists) cost.creates++;
      exists = true;
      const gap = (segments[i + 1]?.[0] ?? end) - b;
      cost.runningMinutes += b - a + Math.min(gap, idleMinutes);
      const suspended = gap - idleMinutes;
      if (suspended <= 0) return;
      if (suspended > deleteAfterMinutes) {
        cost.suspendedMinutes += deleteAfterMinutes;
        cost.deletedByRetention++;
        exists = false;
      } else {
        cost.suspendedMinutes += suspended;
        if (i + 1 < segments.length) cost.resumes++;
      }
    });
  }
  return cost;
}
