/**
 * `npm run bench [-- --quick] [-- --only heartbeats,storm]`: starts its own Temporal dev server,
 * Mongo-compatible server (or uses MONGODB_URI), emulator and product, runs the benches, prints
 * figure | target | baseline | ratio | PASS/FAIL and writes bench/results/<timestamp>.json.
 * Benchmarks assert nothing: a FAIL is a figure to look at, not a failed run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { startBenchEnv, type BenchEnv } from './env';
import { benchHeartbeats } from './heartbeats';
import { benchLaunchStorm } from './launch-storm';
import { notMeasured, printTable, row, type Row } from './report';

const quick = process.argv.includes('--quick');
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex > 0 ? (process.argv[onlyIndex + 1] ?? '').split(',') : undefined;
const wanted = (name: string) => !only || only.includes(name);

const scale = quick
  ? {
      heartbeats: { labs: 200, seconds: 15, baselineSeconds: 10, concurrency: 64 },
      storm: { labs: 100, resumes: 20, createMs: 5000, resumeMs: 1000, waitMs: 90_000 },
    }
  : {
      heartbeats: { labs: 1000, seconds: 30, baselineSeconds: 20, concurrency: 64 },
      storm: { labs: 500, resumes: 100, createMs: 5000, resumeMs: 1000, waitMs: 300_000 },
    };

async function main(): Promise<void> {
  const started = Date.now();
  console.log(
    `bench (${quick ? 'quick' : 'full'}) on ${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} (shared machine: figures are noisy)`,
  );
  const env: BenchEnv = await startBenchEnv();
  console.log(
    `servers: Temporal dev server ${env.temporal.address}, ${env.mongoKind}, emulator ${env.emulator.url}, API ${env.apiUrl}`,
  );
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  const attempt = async (
    name: string,
    fn: () => Promise<{ rows: Row[]; details: Record<string, unknown> }>,
  ) => {
    if (!wanted(name)) return;
    const t0 = Date.now();
    try {
      const result = await fn();
      rows.push(...result.rows);
      details[name] = { ...result.details, seconds: (Date.now() - t0) / 1000 };
    } catch (err) {
      const message = (err as Error).message;
      console.error(`[${name}] failed: ${message}`);
      rows.push(row(name, 'bench run', 'error', 'completes', false, { notes: message }));
      details[name] = { error: message };
    }
  };
  try {
    await attempt('heartbeats', () => benchHeartbeats(env, scale.heartbeats));
    await attempt('storm', () => benchLaunchStorm(env, scale.storm));
  } finally {
    await env.close().catch((err: Error) => console.error(`closing: ${err.message}`));
  }
  rows.push(
    notMeasured('many labs', 'worker RSS (10,000 labs)', '<= 1 GiB, flat', 'not built yet'),
    notMeasured('many labs', 'workflow-task latency p99', 'report', 'not built yet'),
    notMeasured('cost of a course', 'running stack-h / active h', '<= 1.15', 'not built yet'),
  );
  const seconds = (Date.now() - started) / 1000;
  const table = printTable(rows);
  console.log(`\n${table}\n\ntook ${seconds.toFixed(0)} s`);
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        mode: quick ? 'quick' : 'full',
        startedAt: new Date(started).toISOString(),
        seconds,
        cores: cpus().length,
        mongo: env.mongoKind,
        scale,
        rows,
        details,
      },
      null,
      2,
    ),
  );
  console.log(`results: ${file}`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  },
);
