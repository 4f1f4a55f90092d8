/**
 * The course bench against the product's own accounting: GET /v1/reports/usage for the bench's
 * course over the run, beside what the bench measured from Heat's side (bench/stack-meter.ts).
 * The report counts real time (the ledger is in real ms); the bench's figures are in simulated
 * time on each learner's compressed clock (bench/course-clock.ts), so the report's hours are
 * converted with the bench's compression, and compared in real time as well.
 */
import { dayOf } from '../workflows/usage';
import type { PlayedCourse } from './course-cost';
import type { BenchEnv } from './env';
import { request } from './http';
import { fmt, row, type Row } from './report';
import type { StatusSpan } from './stack-meter';

interface ReportTotal {
  runningHours: number;
  suspendedHours: number;
  chargedHours: number;
  activeHours: number;
  labs: number;
}

export interface CourseUsageReport {
  from: string;
  to: string;
  /** Epoch ms the report counted open intervals up to. */
  asOf: number;
  total: ReportTotal;
  /** Real ms the request took. */
  ms: number;
}

/**
 * The report of the bench's course for the whole run: `from` the run's first UTC day `to` today
 * (two days if the run crossed midnight). Undefined answer: the error, as text.
 */
export async function askCourseReport(
  env: BenchEnv,
  played: Pick<PlayedCourse, 'courseId' | 't0'>,
): Promise<CourseUsageReport | string> {
  const from = dayOf(played.t0);
  const to = dayOf(Date.now());
  const query = new URLSearchParams({ courseId: played.courseId, from, to, groupBy: 'lab' });
  const t0 = Date.now();
  try {
    const answer = await request(`${env.apiUrl}/v1/reports/usage?${query}`, {
      token: env.serviceToken,
      timeoutMs: 120_000,
    });
    if (answer.status !== 200)
      return `GET /v1/reports/usage answered ${answer.status}: ${answer.body.slice(0, 300)}`;
    const report = JSON.parse(answer.body) as { asOf: string; total: ReportTotal };
    return { from, to, asOf: Date.parse(report.asOf), total: report.total, ms: Date.now() - t0 };
  } catch (err) {
    return `GET /v1/reports/usage failed: ${(err as Error).message}`;
  }
}

/** Heat's running (anything but SUSPEND_COMPLETE) and suspended time, real ms, up to `until`. */
function realStackMs(
  byLab: ReadonlyMap<string, StatusSpan[]>,
  t0: number,
  until: number,
): { running: number; suspended: number } {
  let running = 0;
  let suspended = 0;
  for (const spans of byLab.values())
    for (const span of spans) {
      const ms = Math.min(until, span.to) - Math.max(t0, span.from);
      if (ms <= 0) continue;
      if (span.status === 'SUSPEND_COMPLETE') suspended += ms;
      else running += ms;
    }
  return { running, suspended };
}

/**
 * Rows: the report's running and suspended stack-hours, real and converted to simulated hours,
 * beside the bench's own. `byLabAtReport`: the meter's spans up to the report's asOf; `bench`:
 * the bench's own figures in simulated minutes.
 */
export function courseReportRows(
  name: string,
  played: PlayedCourse,
  report: CourseUsageReport | string,
  byLabAtReport: ReadonlyMap<string, StatusSpan[]>,
  bench: { runningMinutes: number; suspendedMinutes: number; activeMinutes: number },
): { rows: Row[]; details: Record<string, unknown> } {
  if (typeof report === 'string')
    return {
      rows: [
        row(name, 'report: running stack-h (real → simulated)', 'not measured', 'report', false, {
          notes: report,
        }),
      ],
      details: { error: report },
    };
  const { scale, t0 } = played;
  const msPerMinute = scale.speeds.sessionMsPerMinute;
  const real = realStackMs(byLabAtReport, t0, report.asOf);
  const reportMs = {
    running: report.total.runningHours * 3_600_000,
    suspended: report.total.suspendedHours * 3_600_000,
  };
  // The compression is two speeds (sessions and their margins; the gaps between them), and
  // where a stack's time falls between them depends on how late the product suspends: no single
  // speed converts the report's hours. Each kind is converted at the compression the bench's
  // own time of that kind had (Heat's real ms over its simulated minutes), so the simulated
  // ratio equals the real-time one; the nominal session speed is given for comparison.
  const runningEffective = real.running / Math.max(1, bench.runningMinutes);
  const suspendedEffective = real.suspended / Math.max(1, bench.suspendedMinutes);
  const runningSimH = reportMs.running / runningEffective / 60;
  const suspendedSimH = reportMs.suspended / suspendedEffective / 60;
  const runningNominalH = reportMs.running / msPerMinute / 60;
  const benchH = { running: bench.runningMinutes / 60, suspended: bench.suspendedMinutes / 60 };
  const realH = { running: real.running / 3_600_000, suspended: real.suspended / 3_600_000 };
  const common = `GET /v1/reports/usage?courseId=${played.courseId}&from=${report.from}&to=${report.to} (${report.total.labs} labs, answered in ${report.ms} ms), open intervals counted to its asOf, ${fmt((report.asOf - t0) / 1000)} s after the course started`;
  const rows = [
    row(
      name,
      'report: running stack-h (real → simulated)',
      `${fmt(report.total.runningHours, 3)} real h → ${fmt(runningSimH, 1)} sim h`,
      'report',
      undefined,
      {
        baseline: `bench ${fmt(benchH.running, 1)} sim h`,
        ratio: fmt(runningSimH / benchH.running, 3),
        notes: `the ledger's running time is real; the bench's own figure is Heat's statuses on each learner's clock (cut at the learner's course end), in simulated hours. Converted at the compression Heat's running time had in this run, ${fmt(runningEffective, 2)} real ms per simulated minute (at the nominal session speed, ${msPerMinute} ms per simulated minute, it would be ${fmt(runningNominalH, 1)} sim h: the difference is running time that fell in the faster gaps, i.e. suspends later than the ${scale.speeds.marginMinutes}-minute margin after a session); so this ratio is the real-time one below. ${common}`,
      },
    ),
    row(
      name,
      'report: suspended stack-h (real → simulated)',
      `${fmt(report.total.suspendedHours, 3)} real h → ${fmt(suspendedSimH, 1)} sim h`,
      'report',
      undefined,
      {
        baseline: `bench ${fmt(benchH.suspended, 1)} sim h`,
        ratio: fmt(suspendedSimH / benchH.suspended, 3),
        notes: `converted the same way, at the compression Heat's suspended time had, ${fmt(suspendedEffective, 2)} real ms per simulated minute (it falls partly in sessions' margins, ${msPerMinute} ms per simulated minute, and mostly between sessions, ${scale.speeds.gapMsPerHour} ms per simulated hour); this ratio is therefore the real-time one below`,
      },
    ),
    row(
      name,
      'report: running stack-h, real time',
      `${fmt(report.total.runningHours, 3)} h`,
      'report',
      undefined,
      {
        baseline: `Heat ${fmt(realH.running, 3)} h`,
        ratio: fmt(report.total.runningHours / realH.running, 3),
        notes: `no conversion: the report's real hours against the real duration of Heat's statuses other than SUSPEND_COMPLETE (sampled every ${scale.sampleMs} ms), from the course's start to the report's asOf. The ledger counts states (launching, ready, suspending, resuming, deleting) from the workflow's audit events, Heat its stacks' statuses: the ledger starts before a stack is created and keeps a suspending lab running until its Heat poll sees SUSPEND_COMPLETE`,
      },
    ),
    row(
      name,
      'report: suspended stack-h, real time',
      `${fmt(report.total.suspendedHours, 3)} h`,
      'report',
      undefined,
      {
        baseline: `Heat ${fmt(realH.suspended, 3)} h`,
        ratio: fmt(report.total.suspendedHours / realH.suspended, 3),
        notes: `the report's suspended hours against Heat's SUSPEND_COMPLETE time, both real. Not comparable, for the record: the report's learner-active time, ${fmt(report.total.activeHours, 3)} real h (${fmt((report.total.activeHours * 3_600_000) / msPerMinute / 60, 1)} sim h at the session speed) against the model's ${fmt(bench.activeMinutes / 60, 1)} learner-active h: a heartbeat counts up to 30 s of real time before it (ACTIVE_PER_HEARTBEAT_MS), and in compressed time the pauses between a learner's sessions last less than that, so they count as active`,
      },
    ),
  ];
  return {
    rows,
    details: {
      report,
      heatRealHours: realH,
      runningSimulatedHours: runningSimH,
      suspendedSimulatedHours: suspendedSimH,
      runningSimulatedHoursAtSessionSpeed: runningNominalH,
      realMsPerSimulatedMinute: {
        sessionSpeed: msPerMinute,
        runningEffective,
        suspendedEffective,
      },
    },
  };
}
