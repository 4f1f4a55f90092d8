/**
 * The usage report (GET /v1/reports/usage) over a big ledger. The issue's target: "report over
 * 100,000 labs' ledger answers in under a second". Seeds the ledger of `labs` labs directly into
 * the store (`labs / courses` labs per course, `daysPerLab` UTC days each, learner-active lines
 * beside them, and a share of the labs still `ready` in the labs projection, so open intervals
 * are counted too), then times through the API, `repeats` times each: one course's report as
 * JSON, the same as CSV, and every course's report. Baseline in the same run, timed alternately
 * with the report: a bare find of the same ledger lines (`store.usage.ledger.find(filter)`), so
 * the ratio is what the report adds over reading its lines.
 */
import { dayOf, daysBefore } from '../workflows/usage';
import type { LabDocument } from '../src/store/labs';
import type { ActiveLine, LedgerLine } from '../src/store/usage';
import type { BenchEnv } from './env';
import { percentile, request } from './http';
import { seeded, uniform } from './random';
import { fmt, row, type Row } from './report';

export interface UsageReportScale {
  labs: number;
  courses: number;
  /** Consecutive UTC days each lab has a ledger line for (within the last week). */
  daysPerLab: number;
  /** Share of the labs still `ready` (a projection document with lastEventAt): open intervals. */
  readyShare: number;
  /** Documents per insertMany. */
  batch: number;
  /** Timed requests (and baseline reads) per case. */
  repeats: number;
  /** The issue's target, in ms, and the number of labs it is stated for. */
  targetMs: number;
  targetLabs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const LABS = ['demo', 'shell'] as const;
const courseOf = (c: number) => `course-v1:Bench+Usage${String(c).padStart(3, '0')}+2026`;

interface Seeded {
  /** Ledger sums per course, for checking the report's totals. */
  byCourse: Map<string, { runningMs: number; suspendedMs: number; labs: number }>;
  /** Ready labs: their open interval starts at lastEventAt. */
  ready: Array<{ courseId: string; since: number }>;
  lines: number;
  activeLines: number;
  readyLabs: number;
  seconds: { ledger: number; active: number; labs: number };
  from: string;
  to: string;
}

async function insertAll<T extends { _id: string }>(
  insert: (docs: T[]) => Promise<unknown>,
  docs: T[],
  batch: number,
  label: string,
): Promise<number> {
  const t0 = Date.now();
  let lastPrint = t0;
  for (let i = 0; i < docs.length; i += batch) {
    await insert(docs.slice(i, i + batch));
    if (Date.now() - lastPrint > 10_000) {
      lastPrint = Date.now();
      const done = Math.min(docs.length, i + batch);
      console.log(
        `[usage-report] ${label}: ${done}/${docs.length} (${fmt(done / ((lastPrint - t0) / 1000))}/s)`,
      );
    }
  }
  return (Date.now() - t0) / 1000;
}

/** The ledger of `scale.labs` labs, inserted in batches of `scale.batch`. */
async function seed(env: BenchEnv, scale: UsageReportScale, now: number): Promise<Seeded> {
  const random = seeded(20261205);
  const today = dayOf(now);
  const run = now.toString(36);
  const lines: LedgerLine[] = [];
  const active: ActiveLine[] = [];
  const labs: LabDocument[] = [];
  const byCourse: Seeded['byCourse'] = new Map();
  const ready: Seeded['ready'] = [];
  const readyEvery = Math.max(1, Math.round(1 / scale.readyShare));
  for (let i = 0; i < scale.labs; i++) {
    const courseId = courseOf(i % scale.courses);
    // The labs of each course are i, i + courses, ...: the j-th of its course.
    const j = Math.floor(i / scale.courses);
    const labId = `lab_u${run}${String(i).padStart(6, '0')}`;
    // Two labs per learner, in two different courses.
    const learnerId = `bench-learner-${Math.floor(i / 2)}`;
    const lab = LABS[i % 5 === 0 ? 1 : 0];
    const owner = { labId, courseId, learnerId, lab };
    // One line per day for daysPerLab days, the last of them 1 to 6 days ago.
    const first = daysBefore(today, scale.daysPerLab + (i % 6));
    const sums = byCourse.get(courseId) ?? { runningMs: 0, suspendedMs: 0, labs: 0 };
    sums.labs++;
    for (let d = 0; d < scale.daysPerLab; d++) {
      const day = daysBefore(first, -d);
      // The launch day: a session of 20 min to 3 h, then suspended until midnight (from a
      // launch some time that day); later days: 0 to 2 h running, the rest suspended.
      const runningMs = Math.round(
        d === 0 ? uniform(random, 20 * MINUTE, 3 * HOUR) : uniform(random, 0, 2 * HOUR),
      );
      const suspendedMs =
        d === 0 ? Math.round(uniform(random, 0, DAY - runningMs - HOUR)) : DAY - runningMs;
      // One line in 50 has running time staff started (a retry) that no learner came back to.
      const staffMs = random() < 0.02 ? Math.round(runningMs * random()) : 0;
      lines.push({
        _id: `${labId}|${day}`,
        ...owner,
        day,
        runningMs,
        suspendedMs,
        chargedMs: runningMs - staffMs,
        seq: 3 + d * 4 + Math.floor(random() * 4),
      });
      sums.runningMs += runningMs;
      sums.suspendedMs += suspendedMs;
      // Learner-active time (heartbeats), one API process's document.
      if (runningMs > 0)
        active.push({
          _id: `${labId}|${day}|bench`,
          labId,
          courseId,
          day,
          activeMs: Math.round(runningMs * uniform(random, 0.4, 0.9)),
        });
    }
    byCourse.set(courseId, sums);
    if (j % readyEvery === 0) {
      // Back today, still ready: the open interval runs from lastEventAt to the report's asOf.
      const since = now - Math.round(uniform(random, 10 * MINUTE, 3 * HOUR));
      const createdAt = new Date(Date.parse(`${first}T08:00:00.000Z`));
      ready.push({ courseId, since });
      labs.push({
        _id: labId,
        ...owner,
        state: 'ready',
        generation: 1,
        provider: 'local',
        stack: null,
        outputs: {},
        progress: null,
        error: null,
        createdAt,
        updatedAt: new Date(since),
        lifeStartedAt: createdAt,
        readyAt: new Date(since),
        suspendedAt: null,
        deletedAt: null,
        seq: 3 + scale.daysPerLab * 4 + 1,
        lastEventAt: new Date(since),
        charge: 'learner',
      });
    }
  }
  const { usage } = env.runtime.store;
  const labsCollection = env.runtime.store.labs.collection;
  const opts = { ordered: false };
  const ledgerSeconds = await insertAll(
    (docs: LedgerLine[]) => usage.ledger.insertMany(docs, opts),
    lines,
    scale.batch,
    'ledger lines',
  );
  const activeSeconds = await insertAll(
    (docs: ActiveLine[]) => usage.active.insertMany(docs, opts),
    active,
    scale.batch,
    'active lines',
  );
  const labsSeconds = await insertAll(
    (docs: LabDocument[]) => labsCollection.insertMany(docs, opts),
    labs,
    scale.batch,
    'ready labs',
  );
  return {
    byCourse,
    ready,
    lines: lines.length,
    activeLines: active.length,
    readyLabs: labs.length,
    seconds: { ledger: ledgerSeconds, active: activeSeconds, labs: labsSeconds },
    // Every seeded day, and today for the open intervals.
    from: daysBefore(today, scale.daysPerLab + 6),
    to: today,
  };
}

interface Timing {
  ms: number[];
  statuses: Record<string, number>;
  bytes: number;
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const sortedMs = (t: number[]) => [...t].sort((a, b) => a - b);

/** The answers other than 200, e.g. "HTTP 503 x5". */
const failures = (statuses: Record<string, number>) =>
  Object.entries(statuses)
    .filter(([status]) => status !== '200')
    .map(([status, n]) => `${status === '0' ? 'no answer' : `HTTP ${status}`} x${n}`)
    .join(', ');

interface Case {
  name: string;
  courseId?: string;
  groupBy: 'lab' | 'learner';
  csv: boolean;
}

/** What the server said, and the report's totals (JSON) or its lines (CSV). */
interface Answered {
  status: number;
  contentType: string;
  body: string;
}

async function ask(env: BenchEnv, c: Case, range: { from: string; to: string }): Promise<Answered> {
  const query = new URLSearchParams({
    ...(c.courseId !== undefined ? { courseId: c.courseId } : {}),
    from: range.from,
    to: range.to,
    groupBy: c.groupBy,
  });
  const answer = await request(`${env.apiUrl}/v1/reports/usage?${query}`, {
    token: env.serviceToken,
    timeoutMs: 180_000,
    headers: { accept: c.csv ? 'text/csv' : 'application/json' },
  });
  return {
    status: answer.status,
    contentType: String(answer.headers['content-type'] ?? ''),
    body: answer.body,
  };
}

/** Times the report and the bare find alternately, `repeats` times each. */
async function timeCase(
  env: BenchEnv,
  c: Case,
  range: { from: string; to: string },
  repeats: number,
): Promise<{ report: Timing; find: Timing & { docs: number }; last: Answered | undefined }> {
  const filter = {
    ...(c.courseId !== undefined ? { courseId: c.courseId } : {}),
    day: { $gte: range.from, $lte: range.to },
  };
  const report: Timing = { ms: [], statuses: {}, bytes: 0 };
  const find: Timing & { docs: number } = { ms: [], statuses: {}, bytes: 0, docs: 0 };
  let last: Answered | undefined;
  for (let i = 0; i < repeats; i++) {
    let t0 = process.hrtime.bigint();
    const docs = await env.runtime.store.usage.ledger.find(filter).toArray();
    find.ms.push(ms(t0));
    find.docs = docs.length;
    t0 = process.hrtime.bigint();
    const answer = await ask(env, c, range).catch((err: Error): Answered => ({
      status: 0,
      contentType: '',
      body: err.message,
    }));
    report.ms.push(ms(t0));
    report.statuses[answer.status] = (report.statuses[answer.status] ?? 0) + 1;
    report.bytes = answer.body.length;
    last = answer;
    console.log(
      `[usage-report] ${c.name} #${i + 1}: find ${fmt(find.ms[i]!)} ms (${docs.length} lines), report ${fmt(report.ms[i]!)} ms (HTTP ${answer.status}, ${answer.body.length} bytes)`,
    );
  }
  return { report, find, last };
}

/**
 * How long each read of the breakdown may take on the server: twice the route's deadline
 * (src/api/usage/reports.ts, 30 s), so a read the report could not finish is still timed, within reason.
 */
const BREAKDOWN_MS = 60_000;

/** Where a report's time goes: the three reads it makes, each timed once, through the store. */
async function breakdown(
  env: BenchEnv,
  courseId: string | undefined,
  range: { from: string; to: string },
): Promise<string> {
  const { store } = env.runtime;
  const deadline = { maxTimeMS: BREAKDOWN_MS };
  let t0 = process.hrtime.bigint();
  const lines = await store.usage.lines(
    { courseId, fromDay: range.from, toDay: range.to },
    deadline,
  );
  const linesMs = ms(t0);
  t0 = process.hrtime.bigint();
  const open = await store.labs.usageRowsOf(courseId, deadline);
  const openMs = ms(t0);
  t0 = process.hrtime.bigint();
  const active = await store.usage
    .activeOf(
      { ...(courseId !== undefined ? { courseId } : {}), fromDay: range.from, toDay: range.to },
      deadline,
    )
    .then((a) => `${a.length} lines`)
    .catch((err: Error) => `error: ${err.message}`);
  const activeMs = ms(t0);
  return `the report's reads, each once through the store (server deadline ${BREAKDOWN_MS / 1000} s): ledger lines ${fmt(linesMs)} ms (${lines.length}), labs' open intervals ${fmt(openMs)} ms (${open.length} labs), active lines by course ${fmt(activeMs)} ms (${active})`;
}

/** The seeded ledger and open intervals of a course (all: undefined), in hours, up to `asOf`. */
function expectedHours(seeded: Seeded, courseId: string | undefined, asOf: number) {
  let runningMs = 0;
  let suspendedMs = 0;
  for (const [id, s] of seeded.byCourse)
    if (courseId === undefined || id === courseId) {
      runningMs += s.runningMs;
      suspendedMs += s.suspendedMs;
    }
  for (const r of seeded.ready)
    if (courseId === undefined || r.courseId === courseId) runningMs += asOf - r.since;
  return { running: runningMs / HOUR, suspended: suspendedMs / HOUR };
}

/** Whether the answer is the report of the seeded ledger: its totals, or its CSV's lines. */
function checkAnswer(seeded: Seeded, c: Case, answer: Answered | undefined): string {
  if (!answer) return 'no answer';
  if (answer.status !== 200) return `HTTP ${answer.status}: ${answer.body.slice(0, 200)}`;
  if (c.csv) {
    const lines = answer.body.split('\r\n').filter((l) => l.length > 0);
    const ok = answer.contentType.startsWith('text/csv');
    return `${ok ? '' : `content-type ${answer.contentType}! `}CSV of ${lines.length} lines (header, rows, total)`;
  }
  const report = JSON.parse(answer.body) as {
    asOf: string;
    rows: unknown[];
    total: { runningHours: number; suspendedHours: number; labs: number };
  };
  const want = expectedHours(seeded, c.courseId, Date.parse(report.asOf));
  const agree =
    Math.abs(report.total.runningHours - want.running) < 0.01 &&
    Math.abs(report.total.suspendedHours - want.suspended) < 0.01;
  return `${report.rows.length} rows; total running ${fmt(report.total.runningHours, 1)} h, suspended ${fmt(report.total.suspendedHours, 1)} h over ${report.total.labs} labs: ${agree ? 'the seeded ledger plus open intervals' : `DISAGREES with the seeded ${fmt(want.running, 1)} h / ${fmt(want.suspended, 1)} h`}`;
}

/** The server behind the store: FerretDB (and its version) or MongoDB. */
async function describeStore(env: BenchEnv): Promise<{ name: string; ferretSqlite: boolean }> {
  const info = (await env.runtime.store.db
    .admin()
    .command({ buildInfo: 1 })
    .catch(() => ({}))) as { version?: string; ferretdbVersion?: string };
  const ferret = info.ferretdbVersion !== undefined;
  // The bench's own FerretDB (no MONGODB_URI) is the SQLite one src/local/mongo-server.ts starts.
  const ferretSqlite = ferret && env.mongoKind === 'ferretdb';
  const name = ferret
    ? `FerretDB ${info.ferretdbVersion}${ferretSqlite ? ' on SQLite' : ` (${env.mongoKind}; backend not reported)`}`
    : `MongoDB ${info.version ?? '?'} (${env.mongoKind})`;
  return { name, ferretSqlite };
}

export async function benchUsageReport(
  env: BenchEnv,
  scale: UsageReportScale,
): Promise<{ rows: Row[]; details: Record<string, unknown> }> {
  const store = await describeStore(env);
  const fullScale = scale.labs >= scale.targetLabs;
  console.log(
    `[usage-report] ${scale.labs} labs in ${scale.courses} courses, ${scale.daysPerLab} days each, ${fmt(scale.readyShare * 100)}% ready; store ${store.name}`,
  );
  const now = Date.now();
  const seededLedger = await seed(env, scale, now);
  const seedSeconds =
    seededLedger.seconds.ledger + seededLedger.seconds.active + seededLedger.seconds.labs;
  const ledgerRate = seededLedger.lines / seededLedger.seconds.ledger;
  console.log(
    `[usage-report] seeded ${seededLedger.lines} ledger lines in ${fmt(seededLedger.seconds.ledger, 1)} s (${fmt(ledgerRate)}/s), ${seededLedger.activeLines} active lines in ${fmt(seededLedger.seconds.active, 1)} s, ${seededLedger.readyLabs} ready labs in ${fmt(seededLedger.seconds.labs, 1)} s`,
  );

  const range = { from: seededLedger.from, to: seededLedger.to };
  const course = courseOf(42 % scale.courses);
  const cases: Case[] = [
    { name: 'one course, by learner, JSON', courseId: course, groupBy: 'learner', csv: false },
    { name: 'one course, by learner, CSV', courseId: course, groupBy: 'learner', csv: true },
    { name: 'every course, by lab, JSON', groupBy: 'lab', csv: false },
  ];
  const name = 'usage report';
  const scanNote = store.ferretSqlite
    ? `FerretDB v1 on SQLite scans the whole collection for any filter but _id (about 60 µs a document: the ${seededLedger.lines}-line ledger is read whole even for one course's ${Math.round(seededLedger.lines / scale.courses)} lines), so on the default store the target is out of reach whatever the report does; the baseline shows the scan alone. `
    : '';
  const scaleNote = fullScale
    ? ''
    : `quick run: ${scale.labs} labs, the target is stated for ${scale.targetLabs} (no verdict). `;
  const rows: Row[] = [
    row(name, 'seeding: ledger lines/s', `${fmt(ledgerRate)}/s`, '-', undefined, {
      notes: `${seededLedger.lines} ledger lines (${scale.labs} labs x ${scale.daysPerLab} days, ${scale.courses} courses) by insertMany of ${scale.batch}, unordered, one at a time: ${fmt(seededLedger.seconds.ledger, 1)} s; then ${seededLedger.activeLines} learner-active lines (${fmt(seededLedger.activeLines / seededLedger.seconds.active)}/s) and ${seededLedger.readyLabs} ready labs' projections; ${fmt(seedSeconds, 1)} s in all. Store: ${store.name}`,
    }),
  ];
  const timings: Record<string, unknown> = {};
  for (const c of cases) {
    const { report, find, last } = await timeCase(env, c, range, scale.repeats);
    const reads = await breakdown(env, c.courseId, range).catch(
      (err: Error) => `reads not timed: ${err.message}`,
    );
    const sortedReport = sortedMs(report.ms);
    const sortedFind = sortedMs(find.ms);
    const p50 = percentile(sortedReport, 50);
    const max = sortedReport[sortedReport.length - 1]!;
    const findP50 = percentile(sortedFind, 50);
    const allOk = (report.statuses['200'] ?? 0) === scale.repeats;
    const check = checkAnswer(seededLedger, c, last);
    timings[c.name] = {
      reportMs: report.ms,
      findMs: find.ms,
      statuses: report.statuses,
      bytes: report.bytes,
      lines: find.docs,
      check,
      reads,
    };
    rows.push(
      row(
        name,
        `${c.name} (${find.docs} lines)`,
        allOk
          ? `p50 ${fmt(p50)} ms, max ${fmt(max)} ms`
          : `${failures(report.statuses)} (of ${scale.repeats}), p50 ${fmt(p50)} ms`,
        `< ${scale.targetMs} ms`,
        // A report that did not answer fails at any scale; a quick run's times get no verdict.
        !allOk ? false : fullScale ? p50 < scale.targetMs : undefined,
        {
          baseline: `find ${fmt(findP50)} ms (max ${fmt(sortedFind[sortedFind.length - 1]!)})`,
          ratio: allOk ? fmt(p50 / findP50, 2) : '-',
          notes: `${scaleNote}${scanNote}${scale.repeats} requests through the API (HTTP ${JSON.stringify(report.statuses)}, ${report.bytes} bytes), each after a bare find of the same ledger lines (${find.docs}; the baseline) in this process; ${check}. ${reads}`,
        },
      ),
    );
  }

  // The seeded data stays in an external store (MONGODB_URI) otherwise.
  await Promise.all([
    env.runtime.store.usage.ledger.drop(),
    env.runtime.store.usage.active.drop(),
    env.runtime.store.labs.collection.deleteMany({ _id: { $regex: `^lab_u${now.toString(36)}` } }),
  ]).catch((err: Error) => console.error(`[usage-report] cleaning up: ${err.message}`));

  return {
    rows,
    details: {
      scale,
      store: store.name,
      seeded: {
        ledgerLines: seededLedger.lines,
        activeLines: seededLedger.activeLines,
        readyLabs: seededLedger.readyLabs,
        seconds: seededLedger.seconds,
        ledgerLinesPerSecond: ledgerRate,
      },
      range,
      course,
      cases: timings,
    },
  };
}
