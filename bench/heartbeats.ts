/**
 * Heartbeats (issue 8, item 2): N ready labs, heartbeats through the API as fast as the machine
 * takes them for a fixed time; baseline in the same run: one Temporal signal per heartbeat.
 */
import type { Client } from '@temporalio/client';
import { heartbeatSignal } from '../workflows/messages';
import { CpuWindow, cpuPids, describeCpu } from './cpu';
import { ferretRequests, launchLabs, waitForState, type BenchEnv } from './env';
import { heartbeatLoad, type LoadResult } from './heartbeat-load';
import { metric, percentile, request } from './http';
import { fmt, row, type Row } from './report';

export interface HeartbeatScale {
  labs: number;
  seconds: number;
  baselineSeconds: number;
  concurrency: number;
}

function summary(latencies: number[], errors: number, elapsed: number): LoadResult {
  latencies.sort((a, b) => a - b);
  return {
    count: latencies.length,
    errors,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

/** Runs `send` in `concurrency` loops over the labs, round robin, for `seconds`. */
async function load(
  labs: Array<{ id: string; token: string }>,
  seconds: number,
  concurrency: number,
  send: (lab: { id: string; token: string }) => Promise<boolean>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let cursor = 0;
  const deadline = Date.now() + seconds * 1000;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        const lab = labs[cursor++ % labs.length]!;
        const start = process.hrtime.bigint();
        const ok = await send(lab).catch(() => false);
        latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
        if (!ok) errors++;
      }
    }),
  );
  return summary(latencies, errors, Number(process.hrtime.bigint() - t0) / 1e9);
}

async function historyLengths(client: Client, ids: string[]): Promise<number[]> {
  return Promise.all(
    ids.map(async (id) => (await client.workflow.getHandle(id).describe()).historyLength),
  );
}

/** Events added per lab per minute between two samples (continue-as-new resets are skipped). */
function growthPerLabMinute(before: number[], after: number[], minutes: number): number {
  const deltas = before.map((b, i) => after[i]! - b).filter((d) => d >= 0);
  if (deltas.length === 0) return NaN;
  return deltas.reduce((a, b) => a + b, 0) / deltas.length / minutes;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchHeartbeats(
  env: BenchEnv,
  scale: HeartbeatScale,
): Promise<{ rows: Row[]; details: Record<string, unknown> }> {
  const name = 'heartbeats';
  await env.emulator.admin.updateSettings({ createDelayMs: 20, actionDelayMs: 20 });
  console.log(`[heartbeats] launching ${scale.labs} labs ...`);
  const run = Date.now().toString(36);
  const launched = await launchLabs(
    env,
    Array.from({ length: scale.labs }, (_, i) => `hb-${run}-${i}`),
    32,
  );
  const ready = await waitForState(
    env,
    launched.labs.map((l) => l.id),
    'ready',
    6 * 60_000,
  );
  console.log(
    `[heartbeats] ${ready.reached}/${launched.labs.length} ready (launch errors ${launched.errors}) in ${fmt(launched.seconds + ready.seconds, 1)} s`,
  );
  // Only ready labs: a heartbeat on a lab still launching is a different path (a state lookup),
  // and launches still in flight would load the database the heartbeats are measured against.
  const readyIds = new Set(ready.ids);
  const labs = launched.labs.filter((l) => readyIds.has(l.id));
  const flushMs = env.config.api.heartbeatFlush;
  const sample = labs.slice(0, Math.min(20, labs.length)).map((l) => l.id);
  const client = env.runtime.client;

  // --- the product: heartbeats through the API, coalesced into Mongo ---
  const metricsBefore = (await request(`${env.apiUrl}/metrics`)).body;
  const ferretBefore = await ferretRequests(env);
  const histBefore = await historyLengths(client, sample);
  const tHist0 = Date.now();
  const cpu = new CpuWindow(cpuPids(env));
  console.log(
    `[heartbeats] API: ${scale.seconds} s at concurrency ${scale.concurrency} over ${labs.length} labs ...`,
  );
  const thread = await heartbeatLoad({
    apiUrl: env.apiUrl,
    labs,
    seconds: scale.seconds,
    concurrency: scale.concurrency,
  });
  const product = summary(thread.latencies, thread.errors, thread.seconds);
  const cores = cpu.cores();
  await sleep(flushMs + 1000); // the last coalesced flush reaches Mongo
  const metricsAfter = (await request(`${env.apiUrl}/metrics`)).body;
  const ferretAfter = await ferretRequests(env);
  const histAfter = await historyLengths(client, sample);
  const productMinutes = (Date.now() - tHist0) / 60_000;
  const delta = (n: string) => metric(metricsAfter, n) - metric(metricsBefore, n);
  const writes = delta('labs_api_heartbeat_writes_total');
  const productGrowth = growthPerLabMinute(histBefore, histAfter, productMinutes);
  const ferretOps =
    ferretBefore !== undefined && ferretAfter !== undefined
      ? (ferretAfter - ferretBefore) / (productMinutes * 60)
      : undefined;
  console.log(
    `[heartbeats] API: ${fmt(product.perSecond)}/s, p99 ${fmt(product.p99, 1)} ms, errors ${product.errors}; cpu ${describeCpu(cores)}`,
  );

  // --- baseline: one Temporal signal per heartbeat, same concurrency ---
  const histBefore2 = await historyLengths(client, sample);
  const tHist1 = Date.now();
  const cpu2 = new CpuWindow(cpuPids(env));
  console.log(`[heartbeats] baseline (signal per heartbeat): ${scale.baselineSeconds} s ...`);
  const baseline = await load(labs, scale.baselineSeconds, scale.concurrency, async (lab) => {
    await client.workflow.getHandle(lab.id).signal(heartbeatSignal, { version: 1, at: Date.now() });
    return true;
  });
  const cores2 = cpu2.cores();
  await sleep(1000);
  const histAfter2 = await historyLengths(client, sample);
  const baselineGrowth = growthPerLabMinute(
    histBefore2,
    histAfter2,
    (Date.now() - tHist1) / 60_000,
  );
  console.log(
    `[heartbeats] baseline: ${fmt(baseline.perSecond)}/s, p99 ${fmt(baseline.p99, 1)} ms, errors ${baseline.errors}; cpu ${describeCpu(cores2)}`,
  );

  const ratio = product.perSecond / baseline.perSecond;
  const perLabRate = product.perSecond / labs.length;
  const baselinePerLabRate = baseline.perSecond / labs.length;
  const cpuNote = `CPU cores during the API run: ${describeCpu(cores)} (2 shared cores; "product" is the bench process: the API, with the load generator on a thread of its own)`;
  const rows: Row[] = [
    row(
      name,
      `throughput (${labs.length} labs, c=${scale.concurrency})`,
      `${fmt(product.perSecond)}/s`,
      '>= 5000/s',
      product.perSecond >= 5000,
      {
        baseline: `${fmt(baseline.perSecond)}/s`,
        ratio: `${fmt(ratio, 1)}x (target >= 20x)`,
        notes: `${product.count} heartbeats in ${fmt(product.seconds, 1)} s, ${product.errors} errors. ${cpuNote}`,
      },
    ),
    row(name, 'throughput vs baseline', `${fmt(ratio, 1)}x`, '>= 20x', ratio >= 20, {
      baseline: `${fmt(baseline.perSecond)}/s`,
      ratio: `${fmt(ratio, 1)}x`,
      notes: `baseline CPU cores: ${describeCpu(cores2)}`,
    }),
    row(name, 'latency p99', `${fmt(product.p99, 1)} ms`, '<= 25 ms', product.p99 <= 25, {
      baseline: `${fmt(baseline.p99, 1)} ms`,
      ratio: `${fmt(product.p99 / baseline.p99, 2)}`,
      notes: `p50 ${fmt(product.p50, 2)} ms (baseline p50 ${fmt(baseline.p50, 2)} ms)`,
    }),
    row(
      name,
      'history events / lab / min',
      `${fmt(productGrowth, 2)} at ${fmt(perLabRate, 1)} hb/s/lab`,
      '~0, independent of rate',
      productGrowth <= 1,
      {
        baseline: `${fmt(baselineGrowth, 1)} at ${fmt(baselinePerLabRate, 1)} hb/s/lab`,
        notes: `describe() of ${sample.length} labs before and after each phase`,
      },
    ),
    row(
      name,
      'Mongo heartbeat writes/s',
      `${fmt(writes / (productMinutes * 60), 1)}/s`,
      'bounded by labs / flush',
      undefined,
      {
        notes: `${writes} writes (labs_api_heartbeat_writes_total) for ${product.count} heartbeats, flush ${flushMs} ms; ${env.mongoKind}${ferretOps !== undefined ? `, FerretDB ${fmt(ferretOps)} requests/s (ferretdb_client_requests_total) over the window` : ''}`,
      },
    ),
  ];
  return {
    rows,
    details: {
      labs: labs.length,
      launchErrors: launched.errors,
      readySeconds: launched.seconds + ready.seconds,
      product,
      baseline,
      cpuCores: cores,
      baselineCpuCores: cores2,
      historyGrowthPerLabMinute: { product: productGrowth, baseline: baselineGrowth },
      mongo: {
        kind: env.mongoKind,
        heartbeatWrites: writes,
        flushes: delta('labs_api_heartbeat_flushes_total'),
        stateReads: delta('labs_api_heartbeat_state_reads_total'),
        temporalSignals: delta('labs_api_heartbeat_signals_total'),
        ferretRequestsPerSecond: ferretOps,
      },
    },
  };
}
