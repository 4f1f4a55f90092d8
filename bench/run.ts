/**
 * `npm run bench [-- --quick] [-- --only heartbeats,storm,many-labs,course,pool,terminal,webhooks,usage-report]`
 *   [-- --storm-labs N]
 * starts its own Temporal dev server, Mongo-compatible server (or uses MONGODB_URI), emulator and
 * product, runs the benches, prints figure | target | baseline | ratio | PASS/FAIL and writes
 * bench/results/<timestamp>.json. Benchmarks that need a configuration or a worker process of
 * their own get a fresh environment, so no bench measures what an earlier one left behind.
 * Benchmarks assert nothing: a FAIL is a figure to look at, not a failed run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { benchCourse, courseEnvOptions, type CourseScale } from './course';
import { startBenchEnv, type BenchEnv, type BenchEnvOptions } from './env';
import { benchHeartbeats } from './heartbeats';
import { benchLaunchStorm } from './launch-storm';
import { benchManyLabs, type ManyLabsScale } from './many-labs';
import { benchPool, poolEnvOptions, type PoolScale } from './pool';
import { printTable, row, type Row } from './report';
import { benchTerminal, type TerminalScale } from './terminal';
import { benchUsageReport, type UsageReportScale } from './usage-report';
import { benchWebhooks, startWebhooksEnv, type WebhooksScale } from './webhooks';

const quick = process.argv.includes('--quick');
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex > 0 ? (process.argv[onlyIndex + 1] ?? '').split(',') : undefined;
const wanted = (name: string) => !only || only.includes(name);
/** The whole number above 0 after `flag`, if the command line has it. */
function countFlag(flag: string, what: string): number | undefined {
  const index = process.argv.indexOf(flag);
  if (index < 0) return undefined;
  const value = Number(process.argv[index + 1]);
  if (!(Number.isInteger(value) && value > 0))
    throw new Error(
      `${flag} wants a whole number of ${what} above 0, not ${process.argv[index + 1]}`,
    );
  return value;
}
/** `--storm-labs N`: the storm's size, to see how its figures grow with the load. */
const stormLabs = countFlag('--storm-labs', 'labs');
/** `--worker-cache N`: the many-labs worker's `worker.maxCachedWorkflows` (its RSS against its replays). */
const workerCache = countFlag('--worker-cache', 'workflows');

const manyLabs: ManyLabsScale = quick
  ? {
      labs: 60,
      concurrency: 32,
      suspendedShare: 0.5,
      churnSeconds: 12,
      rates: { heartbeats: 10, suspends: 1, resumes: 1 },
      waitMs: 120_000,
      startBudgetMs: 90_000,
      workerCache,
    }
  : {
      labs: 10_000,
      concurrency: 64,
      suspendedShare: 0.5,
      churnSeconds: 600,
      rates: { heartbeats: 20, suspends: 2, resumes: 2 },
      waitMs: 3 * 60_000,
      startBudgetMs: 10 * 60_000,
      workerCache,
    };

const course: CourseScale = quick
  ? {
      learners: 60,
      weeks: 1,
      speeds: { sessionMsPerMinute: 60, gapMsPerHour: 150, marginMinutes: 30 },
      idleTimeoutMinutes: 10,
      deleteAfterDays: 14,
      heartbeatEveryMinutes: 5,
      heartbeatFlushMs: 30,
      sampleMs: 200,
    }
  : {
      learners: 1000,
      weeks: 4,
      speeds: { sessionMsPerMinute: 250, gapMsPerHour: 500, marginMinutes: 30 },
      idleTimeoutMinutes: 10,
      deleteAfterDays: 14,
      heartbeatEveryMinutes: 5,
      heartbeatFlushMs: 100,
      sampleMs: 250,
    };

// Full: Heat-like times (create 90 s, resume 5 s) as issue 11 asks; quick: the same shape, shorter.
const pool: PoolScale = quick
  ? { learners: 6, arrivalEveryMs: 2000, createMs: 6000, resumeMs: 1000, waitMs: 120_000 }
  : { learners: 20, arrivalEveryMs: 10_000, createMs: 90_000, resumeMs: 5000, waitMs: 600_000 };

// Issue 16: 100 browser terminals at once on one API process, 50 lines each.
const terminal: TerminalScale = quick
  ? { sessions: 10, markers: 10, gapMs: 100, waitMs: 120_000 }
  : { sessions: 100, markers: 50, gapMs: 100, waitMs: 300_000 };

// Issue 19: 1,000 idle labs suspending within a minute, half with a webhook endpoint. Launched in
// batches whose idleTimeouts shrink by the time between them, so all deadlines share one window.
const webhooks: WebhooksScale = quick
  ? {
      labs: 100,
      batches: 2,
      batchEveryMs: 10_000,
      concurrency: 16,
      idleTimeoutMs: 15_000,
      suspendWarningMs: 10_000,
      maxWaitMs: 60_000,
    }
  : {
      labs: 1000,
      batches: 4,
      batchEveryMs: 80_000,
      concurrency: 16,
      idleTimeoutMs: 90_000,
      suspendWarningMs: 10_000,
      maxWaitMs: 900_000,
    };

// Issue: "report over 100,000 labs' ledger answers in under a second". The ledger is seeded
// directly into the store (100 courses, 2 UTC days a lab, 1% of the labs still ready).
const usageReport: UsageReportScale = {
  // --quick: small enough to keep the whole quick run short (issue 22: under 5 minutes).
  labs: quick ? 5_000 : 100_000,
  courses: 100,
  daysPerLab: 2,
  readyShare: 0.01,
  batch: 1000,
  repeats: quick ? 3 : 5,
  targetMs: 1000,
  targetLabs: 100_000,
};

const scale = quick
  ? {
      heartbeats: { labs: 100, seconds: 8, baselineSeconds: 6, concurrency: 64 },
      storm: { labs: stormLabs ?? 80, resumes: 15, createMs: 5000, resumeMs: 1000, waitMs: 90_000 },
      manyLabs,
      course,
      terminal,
      webhooks,
      usageReport,
    }
  : {
      heartbeats: { labs: 1000, seconds: 30, baselineSeconds: 20, concurrency: 64 },
      storm: {
        labs: stormLabs ?? 500,
        resumes: 100,
        createMs: 5000,
        resumeMs: 1000,
        waitMs: 300_000,
      },
      manyLabs,
      course,
      terminal,
      webhooks,
      usageReport,
    };

type Bench = (env: BenchEnv) => Promise<{ rows: Row[]; details: Record<string, unknown> }>;

/**
 * Benches in the order they run, grouped by the environment they share: the options of
 * startBenchEnv, or a bench's own start when its configuration is more than those options say.
 */
const groups: Array<{
  env: BenchEnvOptions | (() => Promise<BenchEnv>);
  benches: Array<[string, Bench]>;
}> = [
  // The usage report first, on the fresh store (its seeded ledger is the only one it reads),
  // then the heartbeats on the same servers: one environment fewer to start and stop.
  {
    env: {},
    benches: [
      ['usage-report', (env) => benchUsageReport(env, scale.usageReport)],
      ['heartbeats', (env) => benchHeartbeats(env, scale.heartbeats)],
    ],
  },
  // The worker in a process of its own, as deployed: the API's answers are measured apart from
  // the worker's load (in one process, a storm's activities held the API's event loop).
  {
    env: { workerProcess: true },
    benches: [['storm', (env) => benchLaunchStorm(env, scale.storm)]],
  },
  {
    // Heat answers in milliseconds and no lab goes idle on its own: only the churn acts.
    env: {
      workerProcess: true,
      idleTimeout: '3h',
      emulatorDelayMs: { create: 5, action: 5, delete: 5 },
      workerCache: scale.manyLabs.workerCache,
    },
    benches: [['many-labs', (env) => benchManyLabs(env, scale.manyLabs)]],
  },
  {
    env: courseEnvOptions(scale.course),
    benches: [['course', (env) => benchCourse(env, scale.course)]],
  },
  { env: poolEnvOptions(pool), benches: [['pool', (env) => benchPool(env, pool)]] },
  // Its own environment, the worker in a process of its own: the RSS it reports is the API's
  // (and the emulator's), not the worker's nor what an earlier bench left behind.
  {
    env: { workerProcess: true },
    benches: [['terminal', (env) => benchTerminal(env, scale.terminal)]],
  },
  // A webhook endpoint and its receiver in the configuration; the worker in a process of its own.
  {
    env: () => startWebhooksEnv(scale.webhooks),
    benches: [['webhooks', (env) => benchWebhooks(env, scale.webhooks)]],
  },
];

async function main(): Promise<void> {
  const started = Date.now();
  console.log(
    `bench (${quick ? 'quick' : 'full'}) on ${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} (shared machine: figures are noisy)`,
  );
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  const mongoKinds = new Set<string>();
  const attempt = async (env: BenchEnv, name: string, fn: Bench) => {
    const t0 = Date.now();
    try {
      const result = await fn(env);
      rows.push(...result.rows);
      details[name] = { ...result.details, seconds: (Date.now() - t0) / 1000 };
    } catch (err) {
      const message = (err as Error).message;
      console.error(`[${name}] failed: ${message}`);
      rows.push(row(name, 'bench run', 'error', 'completes', false, { notes: message }));
      details[name] = { error: message };
    }
  };
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  // Written after every environment, so a run that is stopped or hangs keeps what it measured.
  const save = (complete: boolean) =>
    writeFileSync(
      file,
      JSON.stringify(
        {
          mode: quick ? 'quick' : 'full',
          complete,
          startedAt: new Date(started).toISOString(),
          seconds: (Date.now() - started) / 1000,
          cores: cpus().length,
          mongo: [...mongoKinds].join(', '),
          scale,
          rows,
          details,
        },
        null,
        2,
      ),
    );
  for (const group of groups) {
    const benches = group.benches.filter(([name]) => wanted(name));
    if (benches.length === 0) continue;
    const env: BenchEnv =
      typeof group.env === 'function' ? await group.env() : await startBenchEnv(group.env);
    // Stopped by hand (Ctrl-C, kill): keep what was measured and stop this run's servers.
    const stopped = (signal: NodeJS.Signals) => {
      console.error(`${signal}: saving what was measured and stopping the servers`);
      console.log(
        `\n${printTable(rows)}\n\nstopped after ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
      save(false);
      void env.close().finally(() => process.exit(130));
    };
    process.once('SIGINT', stopped).once('SIGTERM', stopped);
    mongoKinds.add(env.mongoKind);
    console.log(
      `servers: Temporal dev server ${env.temporal.address}, ${env.mongoKind}, emulator ${env.emulator.url}, API ${env.apiUrl}${env.worker ? `, worker pid ${env.worker.pid}` : ''}`,
    );
    try {
      for (const [name, fn] of benches) await attempt(env, name, fn);
    } finally {
      process.off('SIGINT', stopped).off('SIGTERM', stopped);
      save(false);
      console.log(`results so far: ${file}`);
      await env.close().catch((err: Error) => console.error(`closing: ${err.message}`));
    }
  }
  const seconds = (Date.now() - started) / 1000;
  const table = printTable(rows);
  console.log(`\n${table}\n\ntook ${seconds.toFixed(0)} s`);
  save(true);
  console.log(`results: ${file}`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  },
);
