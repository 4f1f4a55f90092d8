/**
 * Compressed time at two speeds, one clock per learner. A learner's sessions, and a margin after
 * each in which the idle suspend falls, run at the session speed: slow enough that the
 * product's real latencies (a workflow task, a Heat poll) stay small against idleTimeout. The
 * days between sessions, where a suspended lab only waits for its learner or for retention, run
 * at the faster gap speed. Learners never interact (capacity is unlimited), so each can have a
 * clock of its own and a month-long course plays in minutes.
 */
import { DAY_MINUTES, sessionEnd, sessionStart, type Session } from './course-model';

export interface Speeds {
  /** Real ms per simulated minute inside sessions and their margins. */
  sessionMsPerMinute: number;
  /** Real ms per simulated hour between sessions. */
  gapMsPerHour: number;
  /** Simulated minutes after a session that still run at the session speed. */
  marginMinutes: number;
}

interface Stretch {
  sim0: number;
  sim1: number;
  real0: number;
  msPerMinute: number;
}

export class LearnerClock {
  private readonly stretches: Stretch[] = [];

  constructor(sessions: Session[], courseEnd: number, speeds: Speeds) {
    const gapMsPerMinute = speeds.gapMsPerHour / 60;
    const slow: Array<[number, number]> = [];
    for (const s of sessions) {
      const to = Math.min(courseEnd, sessionEnd(s) + speeds.marginMinutes);
      const last = slow[slow.length - 1];
      if (last && sessionStart(s) <= last[1]) last[1] = Math.max(last[1], to);
      else slow.push([sessionStart(s), to]);
    }
    let sim = 0;
    let real = 0;
    const add = (to: number, msPerMinute: number) => {
      if (to <= sim) return;
      this.stretches.push({ sim0: sim, sim1: to, real0: real, msPerMinute });
      real += (to - sim) * msPerMinute;
      sim = to;
    };
    for (const [from, to] of slow) {
      add(from, gapMsPerMinute);
      add(to, speeds.sessionMsPerMinute);
    }
    add(courseEnd, gapMsPerMinute);
  }

  /** Real ms from the start of the run at which simulated minute `sim` comes. */
  realAt(sim: number): number {
    const s = this.find((x) => x.sim1 >= sim);
    return s.real0 + (Math.min(sim, s.sim1) - s.sim0) * s.msPerMinute;
  }

  /** The simulated minute at real ms `real` from the start of the run. */
  simAt(real: number): number {
    const s = this.find((x) => x.real0 + (x.sim1 - x.sim0) * x.msPerMinute >= real);
    return Math.min(s.sim1, s.sim0 + Math.max(0, real - s.real0) / s.msPerMinute);
  }

  /** Real ms from the start of the run at which this learner's course ends. */
  get end(): number {
    const last = this.stretches[this.stretches.length - 1]!;
    return last.real0 + (last.sim1 - last.sim0) * last.msPerMinute;
  }

  private find(covers: (s: Stretch) => boolean): Stretch {
    // Stretches are in order: binary search for the first that covers the point.
    let lo = 0;
    let hi = this.stretches.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (covers(this.stretches[mid]!)) hi = mid;
      else lo = mid + 1;
    }
    return this.stretches[lo]!;
  }
}

/** Real seconds a course of `weeks` takes at the gap speed alone (the sessions add to it). */
export const gapSeconds = (weeks: number, speeds: Speeds) =>
  (weeks * 7 * DAY_MINUTES * speeds.gapMsPerHour) / 60 / 1000;
