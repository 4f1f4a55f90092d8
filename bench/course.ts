/**
 * Cost of a course (issue 8, item 4): a simulated course (bench/course-model.ts) played against
 * the product in compressed time (bench/course-clock.ts), learners launching their lab when a
 * session starts and sending heartbeats while they work. Measures what the stacks really did
 * (the emulator's statuses, sampled), in simulated hours: running stack-hours over
 * learner-active hours, suspended stack-hours, stacks deleted by retention; beside it the same
 * schedule under always-on, delete-at-session-end and an ideal suspend, computed from the model.
 * Resume overhead is real time: a returning learner's request to the lab's ready event.
 */
import { labIdFor } from '../src/temporal/ids';
import { CpuWindow, cpuPids } from './cpu';
import { ferretRate, ferretRequests, type BenchEnv, type BenchEnvOptions } from './env';
import { LearnerClock, type Speeds } from './course-clock';
import { measureCourse, type CourseReturn } from './course-cost';
import {
  COURSE_MODEL,
  courseMinutes,
  planCourse,
  type CourseModel,
  type LearnerPlan,
} from './course-model';
import { request, requestPatiently } from './http';
import { calibrate } from './launch-storm';
import { reportEvery, sleep } from './progress';
import type { Row } from './report';
import { StackMeter } from './stack-meter';
import { workerLatencies } from './worker-process';

export const COURSE_ID = 'course-v1:Bench+Course+2026';
const LAB = 'demo';
/** Per-resource emulator delays: milliseconds, so Heat's own time is no part of the figures. */
const EMULATOR_DELAYS = { create: 20, action: 10, delete: 10 };

export interface CourseScale {
  learners: number;
  weeks: number;
  speeds: Speeds;
  idleTimeoutMinutes: number;
  deleteAfterDays: number;
  /** How often a working learner's browser sends a heartbeat, in simulated minutes. */
  heartbeatEveryMinutes: number;
  /** config.api.heartbeatFlush in real ms (the workflow waits twice this beyond idleTimeout). */
  heartbeatFlushMs: number;
  /** How often the emulator's stacks are sampled, in real ms. */
  sampleMs: number;
}

const realMs = (minutes: number, msPerMinute: number) =>
  Math.max(1, Math.round(minutes * msPerMinute));

/** The environment the course needs: its timeouts in compressed time, the worker on its own. */
export function courseEnvOptions(scale: CourseScale): BenchEnvOptions {
  return {
    workerProcess: true,
    heartbeatFlush: `${scale.heartbeatFlushMs}ms`,
    idleTimeout: `${realMs(scale.idleTimeoutMinutes, scale.speeds.sessionMsPerMinute)}ms`,
    deleteAfter: `${realMs(scale.deleteAfterDays * 1440, scale.speeds.gapMsPerHour / 60)}ms`,
    emulatorDelayMs: EMULATOR_DELAYS,
  };
}

interface Action {
  /** Real ms after the start of the run. */
  at: number;
  learner: number;
  kind: 'launch' | 'heartbeat';
  /** The learner comes back after a break longer than idleTimeout, or a new session. */
  returning: boolean;
}

function schedule(plans: LearnerPlan[], clocks: LearnerClock[], scale: CourseScale): Action[] {
  const actions: Action[] = [];
  plans.forEach((plan, learner) => {
    const clock = clocks[learner]!;
    plan.sessions.forEach((session, s) => {
      session.segments.forEach(([a, b], j) => {
        const previousEnd = j > 0 ? session.segments[j - 1]![1] : -Infinity;
        if (j === 0)
          actions.push({ at: clock.realAt(a), learner, kind: 'launch', returning: s > 0 });
        for (let t = a; t < b; t += scale.heartbeatEveryMinutes)
          actions.push({
            at: clock.realAt(t),
            learner,
            kind: 'heartbeat',
            returning: t === a && j > 0 && a - previousEnd > scale.idleTimeoutMinutes,
          });
        actions.push({ at: clock.realAt(b), learner, kind: 'heartbeat', returning: false });
      });
    });
  });
  return actions.sort((x, y) => x.at - y.at);
}

export async function benchCourse(
  env: BenchEnv,
  scale: CourseScale,
): Promise<{ rows: Row[]; details: Record<string, unknown> }> {
  const model: CourseModel = { ...COURSE_MODEL, learners: scale.learners, weeks: scale.weeks };
  const end = courseMinutes(model);
  const run = Date.now().toString(36);
  const plans = planCourse(model, `course-${run}`);
  const clocks = plans.map((p) => new LearnerClock(p.sessions, end, scale.speeds));
  const labIds = plans.map((p) => labIdFor(COURSE_ID, p.learner, LAB));
  const actions = schedule(plans, clocks, scale);
  const runMs = Math.max(...clocks.map((c) => c.end));
  const cal = await calibrate(env, EMULATOR_DELAYS.create, EMULATOR_DELAYS.action);
  console.log(
    `[course] ${scale.learners} learners, ${scale.weeks} weeks, ${plans.reduce((n, p) => n + p.sessions.length, 0)} sessions; 1 simulated minute = ${scale.speeds.sessionMsPerMinute} ms in sessions, 1 simulated hour = ${scale.speeds.gapMsPerHour} ms between them; ${actions.length} calls over ${Math.round(runMs / 1000)} s; emulator create ${cal.createMs} ms, resume ${cal.resumeMs} ms`,
  );

  const meter = new StackMeter(env.emulator);
  const tokens: Array<string | undefined> = [];
  const returns: CourseReturn[] = [];
  const calls = {
    launch: 0,
    heartbeat: 0,
    launchFailed: 0,
    heartbeatFailed: 0,
    noToken: 0,
    late: 0,
  };
  /** Why calls failed (HTTP status or error message), counted: a stalled run says why. */
  const failures = new Map<string, number>();
  const failed = (kind: string, why: string) => {
    const key = `${kind}: ${why.slice(0, 80)}`;
    failures.set(key, (failures.get(key) ?? 0) + 1);
  };
  const fire = (action: Action, lateMs: number) => {
    if (lateMs > 1000) calls.late++;
    const learner = plans[action.learner]!.learner;
    const labId = labIds[action.learner]!;
    const sentAt = Date.now();
    if (action.returning) returns.push({ labId, sentAt, kind: action.kind });
    if (action.kind === 'launch') {
      calls.launch++;
      void requestPatiently(`${env.apiUrl}/v1/labs`, {
        method: 'POST',
        token: env.serviceToken,
        body: { courseId: COURSE_ID, learnerId: learner, lab: LAB },
        timeoutMs: 60_000,
      }).then(
        (answer) => {
          if (answer.status >= 300) {
            calls.launchFailed++;
            failed('launch', `HTTP ${answer.status}`);
          } else
            tokens[action.learner] = (
              JSON.parse(answer.body) as { heartbeatToken: string }
            ).heartbeatToken;
        },
        (err: Error) => {
          calls.launchFailed++;
          failed('launch', err.message);
        },
      );
      return;
    }
    const token = tokens[action.learner];
    if (!token) {
      calls.noToken++;
      return;
    }
    calls.heartbeat++;
    void request(`${env.apiUrl}/v1/labs/${labId}/heartbeat`, { method: 'POST', token }).then(
      (answer) => {
        if (answer.status === 204) return;
        calls.heartbeatFailed++;
        failed('heartbeat', `HTTP ${answer.status}`);
      },
      (err: Error) => {
        calls.heartbeatFailed++;
        failed('heartbeat', err.message);
      },
    );
  };

  const metricsBefore = (await env.worker?.metrics()) ?? '';
  const ferretBefore = await ferretRequests(env);
  const cpu = new CpuWindow(cpuPids(env));
  meter.start(scale.sampleMs);
  const t0 = Date.now();
  const ferret = ferretRate(env);
  const progress = reportEvery('course', 10_000, async () => {
    const now = Date.now() - t0;
    const days = clocks.map((c) => c.simAt(now) / 1440).sort((a, b) => a - b);
    const stacks = meter.current();
    const running = Object.entries(stacks)
      .filter(([s]) => s !== 'SUSPEND_COMPLETE' && s !== 'DELETE_COMPLETE')
      .reduce((n, [, c]) => n + c, 0);
    return `course day ${days[0]!.toFixed(1)}..${days[days.length - 1]!.toFixed(1)} of ${scale.weeks * 7}; calls ${JSON.stringify(calls)}; stacks running ${running}, suspended ${stacks.SUSPEND_COMPLETE ?? 0}, deleted ${stacks.DELETE_COMPLETE ?? 0}${await ferret()}${failures.size ? `; failures ${JSON.stringify(Object.fromEntries(failures))}` : ''}`;
  });
  let next = 0;
  while (next < actions.length) {
    const now = Date.now() - t0;
    while (next < actions.length && actions[next]!.at <= now) {
      fire(actions[next]!, now - actions[next]!.at);
      next++;
    }
    await sleep(10);
  }
  while (Date.now() - t0 < runMs) await sleep(100);
  progress.stop();
  if (failures.size)
    console.log(`[course] failures: ${JSON.stringify(Object.fromEntries(failures))}`);
  await meter.stop();
  const seconds = (Date.now() - t0) / 1000;
  const ferretAfter = await ferretRequests(env);
  const load = {
    cpuCores: cpu.cores(),
    ferretRequestsPerSecond:
      ferretBefore !== undefined && ferretAfter !== undefined
        ? (ferretAfter - ferretBefore) / seconds
        : undefined,
    worker: workerLatencies(metricsBefore, (await env.worker?.metrics()) ?? ''),
  };

  return measureCourse(env, {
    scale,
    courseId: COURSE_ID,
    model,
    plans,
    clocks,
    labIds,
    t0,
    meter,
    returns,
    calls,
    emulator: cal,
    load,
  });
}
