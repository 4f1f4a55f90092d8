/**
 * The figures of the course bench, once the course has played: the stacks' sampled statuses
 * turned into simulated hours through each learner's clock, the lifecycle events read once from
 * Mongo (retention deletes, when resumed labs became ready), and the model's baselines.
 */
import { withDeadline } from '../src/util/deadline';
import type { LabEvent } from '../src/store/events';
import type { LearnerClock } from './course-clock';
import {
  activeMinutes,
  alwaysOn,
  courseMinutes,
  deleteAtSessionEnd,
  idealSuspend,
  type CourseModel,
  type LearnerPlan,
  type PolicyCost,
} from './course-model';
import type { CourseScale } from './course';
import { askCourseReport, courseReportRows } from './course-usage';
import { describeCpu } from './cpu';
import { type BenchEnv } from './env';
import { percentile } from './http';
import { fmt, row, type Row } from './report';
import type { StackMeter, StatusSpan } from './stack-meter';
import { describeLatencies, type WorkerLatencies } from './worker-process';

export interface CourseReturn {
  labId: string;
  /** Epoch ms the learner's request went out. */
  sentAt: number;
  kind: 'launch' | 'heartbeat';
}

export interface PlayedCourse {
  scale: CourseScale;
  /** The course the labs were launched in (the usage report's courseId). */
  courseId: string;
  model: CourseModel;
  plans: LearnerPlan[];
  clocks: LearnerClock[];
  labIds: string[];
  /** Epoch ms of simulated minute 0 on every learner's clock. */
  t0: number;
  meter: StackMeter;
  returns: CourseReturn[];
  calls: Record<string, number>;
  emulator: { createMs: number; resumeMs: number };
  /** What the machine was doing meanwhile: CPU by process, FerretDB's rate, the worker's latencies. */
  load: {
    cpuCores: Record<string, number>;
    ferretRequestsPerSecond?: number;
    worker: WorkerLatencies;
  };
}

/** `demo-<26 base32>-g<generation>` (stackNameFor) back to the lab id. */
function labIdOfStack(name: string): string | undefined {
  const match = /^[a-z0-9_.-]+?-([a-z2-7]{26})-g\d+$/.exec(name);
  return match ? `lab_${match[1]}` : undefined;
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const hours = (minutes: number) => minutes / 60;

/** Real time from a returning learner's request to the lab's ready event, for labs found suspended. */
function resumeTimes(played: PlayedCourse, events: Map<string, LabEvent[]>) {
  const overheads: number[] = [];
  const toResuming: number[] = [];
  const resumingToReady: number[] = [];
  const foundIn: Record<string, number> = {};
  for (const r of played.returns) {
    const list = events.get(r.labId) ?? [];
    const before = list.filter((e) => e.at.getTime() <= r.sentAt).pop();
    const state = before?.to ?? 'none';
    foundIn[state] = (foundIn[state] ?? 0) + 1;
    if (state !== 'suspended') continue;
    const after = list.filter((e) => e.at.getTime() > r.sentAt);
    const resuming = after.find((e) => e.to === 'resuming');
    const ready = after.find((e) => e.to === 'ready');
    if (!ready) continue;
    overheads.push(ready.at.getTime() - r.sentAt - played.emulator.resumeMs);
    if (resuming) {
      toResuming.push(resuming.at.getTime() - r.sentAt);
      resumingToReady.push(ready.at.getTime() - resuming.at.getTime());
    }
  }
  return {
    overheads: sorted(overheads),
    toResuming: sorted(toResuming),
    resumingToReady: sorted(resumingToReady),
    foundIn,
  };
}

/**
 * Real ms from the moment the policy says "idle" (last activity + idleTimeout) to the stack's
 * SUSPEND_COMPLETE in Heat, for every stretch of work followed by a longer pause.
 */
function suspendLateness(
  played: PlayedCourse,
  byLab: Map<string, StatusSpan[]>,
  events: Map<string, LabEvent[]>,
  idleRealMs: number,
): { lateness: number[]; toSuspending: number[]; missed: number } {
  const { scale, plans, clocks, labIds, t0 } = played;
  const lateness: number[] = [];
  const toSuspending: number[] = [];
  let missed = 0;
  plans.forEach((plan, i) => {
    const clock = clocks[i]!;
    const suspends = (byLab.get(labIds[i]!) ?? [])
      .filter((s) => s.status === 'SUSPEND_COMPLETE')
      .map((s) => s.from - t0)
      .sort((a, b) => a - b);
    const suspending = (events.get(labIds[i]!) ?? [])
      .filter((e) => e.to === 'suspending')
      .map((e) => e.at.getTime() - t0);
    const segments = plan.sessions.flatMap((s) => s.segments);
    segments.forEach(([, b], j) => {
      const next = segments[j + 1]?.[0] ?? Infinity;
      if (next - b <= scale.idleTimeoutMinutes) return;
      const idleAt = clock.realAt(b) + idleRealMs;
      const until = Number.isFinite(next) ? clock.realAt(next) : clock.end;
      const suspended = suspends.find((at) => at >= clock.realAt(b));
      if (suspended === undefined || suspended > until) {
        missed++;
        return;
      }
      lateness.push(suspended - idleAt);
      const decided = suspending.find((at) => at >= clock.realAt(b));
      if (decided !== undefined && decided <= suspended) toSuspending.push(decided - idleAt);
    });
  });
  return { lateness: sorted(lateness), toSuspending: sorted(toSuspending), missed };
}

export async function measureCourse(
  env: BenchEnv,
  played: PlayedCourse,
): Promise<{ rows: Row[]; details: Record<string, unknown> }> {
  const { scale, model, plans, clocks, labIds, t0, meter } = played;
  const end = courseMinutes(model);
  const learnerOf = new Map(labIds.map((id, i) => [id, i]));

  // The product's own accounting of the same stacks, asked as soon as the meter has stopped, so
  // both count the same real time (the meter's spans below run to the report's asOf).
  const usageReport = await askCourseReport(env, played);
  const until = typeof usageReport === 'string' ? Date.now() : usageReport.asOf;

  // --- what the stacks did, in simulated minutes on their learner's clock ---
  const byLab = new Map<string, StatusSpan[]>();
  let created = 0;
  for (const stack of meter.spans(until)) {
    const labId = labIdOfStack(stack.name);
    if (!labId || !learnerOf.has(labId)) continue;
    created++;
    byLab.set(labId, [...(byLab.get(labId) ?? []), ...stack.spans]);
  }
  let running = 0;
  let suspended = 0;
  for (const [labId, spans] of byLab) {
    const clock = clocks[learnerOf.get(labId)!]!;
    for (const span of spans) {
      const from = Math.max(0, span.from - t0);
      const to = Math.min(clock.end, span.to - t0);
      if (to <= from) continue;
      const minutes = clock.simAt(to) - clock.simAt(from);
      if (span.status === 'SUSPEND_COMPLETE') suspended += minutes;
      else running += minutes;
    }
  }

  // --- the audit trail: retention deletes, and when resumed labs were ready ---
  const events = new Map<string, LabEvent[]>();
  let eventsError: string | undefined;
  try {
    // One read of the whole trail, in as few batches as the server allows.
    const all = await withDeadline('reading lab events', 180_000, () =>
      env.runtime.store.events.collection.find({}).batchSize(100_000).maxTimeMS(180_000).toArray(),
    );
    for (const e of all) {
      if (!learnerOf.has(e.labId)) continue;
      events.set(e.labId, [...(events.get(e.labId) ?? []), e]);
    }
  } catch (err) {
    eventsError = (err as Error).message;
    console.error(`[course] lab events not read: ${eventsError}`);
  }
  for (const list of events.values()) list.sort((a, b) => a.at.getTime() - b.at.getTime());
  let retention = 0;
  for (const [labId, list] of events) {
    const clock = clocks[learnerOf.get(labId)!]!;
    retention += list.filter(
      (e) =>
        e.to === 'deleting' && e.reason.includes('deleteAfter') && e.at.getTime() - t0 <= clock.end,
    ).length;
  }
  const resumes = resumeTimes(played, events);
  const idleRealMs = scale.idleTimeoutMinutes * scale.speeds.sessionMsPerMinute;
  const late = suspendLateness(played, byLab, events, idleRealMs);

  // --- the same schedule under other policies ---
  const active = activeMinutes(plans);
  const deleteAfterMinutes = scale.deleteAfterDays * 1440;
  const policies: Record<string, PolicyCost> = {
    alwaysOn: alwaysOn(plans, end),
    deleteAtSessionEnd: deleteAtSessionEnd(plans),
    ideal: idealSuspend(plans, end, scale.idleTimeoutMinutes, deleteAfterMinutes),
  };
  const sensitivity = Object.fromEntries(
    [5, 10, 15, 30].map((m) => [
      `${m}m`,
      Number((idealSuspend(plans, end, m, deleteAfterMinutes).runningMinutes / active).toFixed(3)),
    ]),
  );
  const ratio = running / active;
  // The product's real latency does not shrink with the simulation: at real speed the same
  // lateness is seconds against minutes. Estimate: the ideal policy with idleTimeout stretched by
  // the measured median lateness (real time), for comparison only.
  const latenessMinutes = Math.max(0, percentile(late.lateness, 50)) / 60_000;
  const realSpeedRatio =
    idealSuspend(plans, end, scale.idleTimeoutMinutes + latenessMinutes, deleteAfterMinutes)
      .runningMinutes / active;
  const ratioOf = (p: PolicyCost) => p.runningMinutes / active;
  const idealRatio = ratioOf(policies.ideal!);
  const slackMs = 2 * scale.heartbeatFlushMs;
  const simPerRealSecond = 1000 / scale.speeds.sessionMsPerMinute;
  const learnersWithSessions = plans.filter((p) => p.sessions.length > 0).length;
  const name = 'cost of a course';
  const { load } = played;
  const limits = `CPU cores over the course: ${describeCpu(load.cpuCores)}${load.ferretRequestsPerSecond !== undefined ? `; FerretDB ${fmt(load.ferretRequestsPerSecond)} requests/s` : ''}; ${describeLatencies(load.worker)}`;
  const compression = `1 simulated minute = ${scale.speeds.sessionMsPerMinute} ms in sessions (idleTimeout ${scale.idleTimeoutMinutes}m = ${idleRealMs} ms), 1 simulated hour = ${scale.speeds.gapMsPerHour} ms between them (deleteAfter ${scale.deleteAfterDays}d)`;
  console.log(
    `[course] running ${fmt(hours(running))} h over ${fmt(hours(active))} active h = ${fmt(ratio, 3)} (ideal ${fmt(idealRatio, 3)}); suspend lateness p50 ${fmt(percentile(late.lateness, 50))} ms; resume overhead p50 ${fmt(percentile(resumes.overheads, 50))} ms`,
  );

  const reported = courseReportRows(name, played, usageReport, byLab, {
    runningMinutes: running,
    suspendedMinutes: suspended,
    activeMinutes: active,
  });
  for (const r of reported.rows)
    console.log(`[course] ${r.figure}: ${r.value} (${r.baseline}, ratio ${r.ratio})`);

  const rows: Row[] = [
    row(
      name,
      `running stack-h / active h (idle ${scale.idleTimeoutMinutes}m)`,
      fmt(ratio, 3),
      '<= 1.15',
      ratio <= 1.15,
      {
        baseline: `ideal suspend ${fmt(idealRatio, 3)}`,
        ratio: fmt(ratio / idealRatio, 3),
        notes: `${fmt(hours(running))} running stack-h (Heat's statuses sampled every ${scale.sampleMs} ms; anything but SUSPEND_COMPLETE counts) over ${fmt(hours(active))} learner-active h (${scale.learners} learners, ${scale.weeks} weeks). The ideal suspend (exactly idleTimeout after the last heartbeat, instant resume) is the floor of the policy under this session model; at other idleTimeouts it is ${JSON.stringify(sensitivity)}. Beyond idleTimeout the product waits 2 x heartbeatFlush = ${slackMs} ms (${fmt(slackMs / scale.speeds.sessionMsPerMinute, 1)} simulated min here, 10 s at the default 5 s flush); Heat SUSPEND_COMPLETE came p50 ${fmt(percentile(late.lateness, 50))} ms, p99 ${fmt(percentile(late.lateness, 99))} ms after the idle point (1 real s = ${fmt(simPerRealSecond, 1)} simulated min), ${late.missed} pauses not suspended before the learner came back. ${compression}`,
      },
    ),
    row(
      name,
      'running stack-h / active h at real speed (estimate)',
      fmt(realSpeedRatio, 3),
      '<= 1.15',
      undefined,
      {
        baseline: `ideal suspend ${fmt(idealRatio, 3)}`,
        ratio: fmt(realSpeedRatio / idealRatio, 3),
        notes: `not a measurement: the ideal suspend of this course with idleTimeout lengthened by the measured median suspend lateness (${fmt(percentile(late.lateness, 50))} ms real, of which ${fmt(percentile(late.toSuspending, 50))} ms before the workflow recorded 'suspending'), i.e. what the same product latency would cost at real speed, where it is not multiplied by the compression`,
      },
    ),
    row(name, 'always-on (baseline)', fmt(ratioOf(policies.alwaysOn!), 2), '-', undefined, {
      notes: `running stack-h / active h of one stack per learner from the first launch to the end of the course: ${fmt(hours(policies.alwaysOn!.runningMinutes))} h`,
    }),
    row(
      name,
      'delete at session end (baseline)',
      fmt(ratioOf(policies.deleteAtSessionEnd!), 3),
      '-',
      undefined,
      {
        notes: `running stack-h / active h with a fresh stack per session, deleted when it ends (breaks within a session run): ${fmt(hours(policies.deleteAtSessionEnd!.runningMinutes))} h, but ${policies.deleteAtSessionEnd!.creates} creates (every session waits for a full stack build and starts from a blank lab)`,
      },
    ),
    row(name, 'suspended stack-h', `${fmt(hours(suspended))} h`, 'report', undefined, {
      baseline: `ideal ${fmt(hours(policies.ideal!.suspendedMinutes))} h`,
      ratio: fmt(suspended / policies.ideal!.suspendedMinutes, 3),
      notes: `${fmt(hours(suspended) / Math.max(1, learnersWithSessions), 1)} h per learner; always-on and delete-at-session-end suspend nothing`,
    }),
    row(
      name,
      'stacks deleted by retention',
      eventsError ? 'not measured' : String(retention),
      'report',
      undefined,
      {
        baseline: `ideal ${policies.ideal!.deletedByRetention}`,
        notes: `deleting events with a deleteAfter reason within the course; stacks created ${created} (ideal ${policies.ideal!.creates}, always-on ${policies.alwaysOn!.creates}, delete at session end ${policies.deleteAtSessionEnd!.creates})`,
      },
    ),
    row(
      name,
      `resume overhead p50 (${resumes.overheads.length} resumes)`,
      `${fmt(percentile(resumes.overheads, 50))} ms`,
      '<= 1000 ms',
      percentile(resumes.overheads, 50) <= 1000,
      {
        baseline: `emulator resume ${played.emulator.resumeMs} ms`,
        ratio: fmt(
          (percentile(resumes.overheads, 50) + played.emulator.resumeMs) / played.emulator.resumeMs,
          1,
        ),
        notes: `a returning learner's launch or heartbeat to the lab's ready event, for labs found suspended (real ms, not compressed); p99 ${fmt(percentile(resumes.overheads, 99))} ms; request to 'resuming' p50 ${fmt(percentile(resumes.toResuming, 50))} ms, 'resuming' to 'ready' p50 ${fmt(percentile(resumes.resumingToReady, 50))} ms (Heat's status polled from 1 s); returns found the lab ${JSON.stringify(resumes.foundIn)}${eventsError ? `; lab events not read: ${eventsError}` : ''}. ${limits}`,
      },
    ),
    ...reported.rows,
  ];
  return {
    rows,
    details: {
      scale,
      model,
      learners: scale.learners,
      learnersWithSessions,
      sessions: plans.reduce((n, p) => n + p.sessions.length, 0),
      activeHours: hours(active),
      product: {
        runningHours: hours(running),
        suspendedHours: hours(suspended),
        ratio,
        stacksCreated: created,
        deletedByRetention: retention,
      },
      policies: Object.fromEntries(
        Object.entries(policies).map(([k, p]) => [
          k,
          { ...p, runningHours: hours(p.runningMinutes), ratio: ratioOf(p) },
        ]),
      ),
      idealRatioByIdleTimeout: sensitivity,
      realSpeedRatioEstimate: realSpeedRatio,
      suspendLatenessMs: {
        toSuspendingP50: percentile(late.toSuspending, 50),
        p50: percentile(late.lateness, 50),
        p99: percentile(late.lateness, 99),
        missed: late.missed,
        count: late.lateness.length,
      },
      resumeOverheadMs: {
        p50: percentile(resumes.overheads, 50),
        p99: percentile(resumes.overheads, 99),
        count: resumes.overheads.length,
        toResumingP50: percentile(resumes.toResuming, 50),
        resumingToReadyP50: percentile(resumes.resumingToReady, 50),
        returnsFoundIn: resumes.foundIn,
      },
      usageReport: reported.details,
      calls: played.calls,
      load,
      emulator: played.emulator,
      meterSamples: meter.samples,
      meterErrors: meter.errors,
    },
  };
}
