/**
 * Launch storm (issue 8, item 1) and resume (item 5): M distinct labs launched at once through
 * the API with the emulator's create time fixed; then a sample suspended and launched again.
 * Overheads are the product's time to `ready` minus what the emulator itself took.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { TEMPLATES_DIR } from '../src/config';
import { createHeatClient, type HeatClient, type StackRef } from '../src/openstack';
import { CpuWindow, cpuPids, describeCpu } from './cpu';
import { ferretRequests, launchLabs, waitForState, type BenchEnv } from './env';
import { percentile, request } from './http';
import { fmt, row, type Row } from './report';
import { describeLatencies, workerLatencies } from './worker-process';

export interface StormScale {
  labs: number;
  resumes: number;
  /** The emulator's stack create time to aim for. */
  createMs: number;
  resumeMs: number;
  /** How long to wait for the storm's labs to be ready, and for the resumed ones. */
  waitMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitStatus(heat: HeatClient, ref: StackRef, status: string): Promise<void> {
  for (;;) {
    const stack = await heat.getStack(ref);
    if (stack.status === status) return;
    if (stack.status.endsWith('FAILED')) throw new Error(`${ref.name}: ${stack.status}`);
    await sleep(10);
  }
}

/** Times one stack's create, suspend and resume in the emulator, bypassing the product. */
export async function calibrate(
  env: BenchEnv,
  createDelayMs: number,
  actionDelayMs: number,
): Promise<{ createMs: number; resumeMs: number }> {
  await env.emulator.admin.updateSettings({ createDelayMs, actionDelayMs });
  const heat = createHeatClient(env.config.providers[0]!);
  const template = readFileSync(join(TEMPLATES_DIR, 'test/secret-lab.yaml'), 'utf8');
  const t0 = Date.now();
  const ref = await heat.createStack({
    name: `calibrate-${Date.now()}`,
    template,
    parameters: { create_wait_secs: 0 },
  });
  await waitStatus(heat, ref, 'CREATE_COMPLETE');
  const createMs = Date.now() - t0;
  await heat.suspendStack(ref);
  await waitStatus(heat, ref, 'SUSPEND_COMPLETE');
  const t1 = Date.now();
  await heat.resumeStack(ref);
  await waitStatus(heat, ref, 'RESUME_COMPLETE');
  const resumeMs = Date.now() - t1;
  await heat.deleteStack(ref);
  return { createMs, resumeMs };
}

/** When each lab last reached `to` after `since`, from the lifecycle events in Mongo. */
async function transitionTimes(
  env: BenchEnv,
  ids: string[],
  to: string,
  since: number,
): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  const events = env.runtime.store.events.collection;
  for (let i = 0; i < ids.length; i += 200) {
    const docs = await events
      .find({ labId: { $in: ids.slice(i, i + 200) }, to: to as 'ready' })
      .maxTimeMS(20_000)
      .toArray()
      .catch(() => []);
    for (const d of docs) {
      const at = d.at.getTime();
      if (at >= since && at > (times.get(d.labId) ?? 0)) times.set(d.labId, at);
    }
  }
  return times;
}

export async function benchLaunchStorm(
  env: BenchEnv,
  scale: StormScale,
): Promise<{ rows: Row[]; details: Record<string, unknown> }> {
  // The secret lab has two resources built one after the other; find the per-resource delay
  // that makes a stack take ~createMs, then use the measured figure.
  const probe = await calibrate(env, 500, 500);
  const resources = Math.max(1, Math.round(probe.createMs / 500));
  const cal = await calibrate(
    env,
    Math.round(scale.createMs / resources),
    Math.round(scale.resumeMs / resources),
  );
  console.log(
    `[launch storm] emulator: create ${cal.createMs} ms, resume ${cal.resumeMs} ms (${resources} resources in sequence)`,
  );

  await env.emulator.admin.resetRequestCounts();
  const ferretBefore = await ferretRequests(env);
  const workerBefore = await env.worker?.metrics().catch(() => undefined);
  const cpu = new CpuWindow(cpuPids(env));
  const run = Date.now().toString(36);
  console.log(`[launch storm] ${scale.labs} launches at once ...`);
  const t0 = Date.now();
  const launched = await launchLabs(
    env,
    Array.from({ length: scale.labs }, (_, i) => `storm-${run}-${i}`),
    scale.labs,
  );
  const ids = launched.labs.map((l) => l.id);
  const ready = await waitForState(env, ids, 'ready', scale.waitMs);
  const cores = cpu.cores();
  const ferretAfter = await ferretRequests(env);
  const workerAfter = await env.worker?.metrics().catch(() => undefined);
  const tasks =
    workerBefore !== undefined && workerAfter !== undefined
      ? workerLatencies(workerBefore, workerAfter)
      : undefined;
  const counts = await env.emulator.admin.requestCounts();
  const readyAt = await transitionTimes(env, ids, 'ready', t0);
  const overheads: number[] = [];
  for (const lab of launched.labs) {
    const at = readyAt.get(lab.id);
    if (at !== undefined) overheads.push(at - lab.sentAt - cal.createMs);
  }
  overheads.sort((a, b) => a - b);
  const lat = [...launched.latenciesMs].sort((a, b) => a - b);
  const acceptedPerSecond = launched.labs.length / launched.seconds;
  const wall = (Date.now() - t0) / 1000;
  const ferretOps =
    ferretBefore !== undefined && ferretAfter !== undefined
      ? (ferretAfter - ferretBefore) / wall
      : undefined;
  const limits = `CPU cores over the storm: ${describeCpu(cores)}${ferretOps !== undefined ? `; FerretDB ${fmt(ferretOps)} requests/s` : ''}; Heat polled from 500 ms (then a fifth of the time waited, up to 10 s), or near the usual time of the action once a few were seen (activities/stacks.ts)`;
  console.log(
    `[launch storm] ${ready.reached}/${ids.length} ready; overhead p50 ${fmt(percentile(overheads, 50))} ms p99 ${fmt(percentile(overheads, 99))} ms; ${limits}`,
  );
  const storm = 'launch storm';
  const rows: Row[] = [
    row(
      storm,
      `overhead p50 (${scale.labs} labs)`,
      `${fmt(percentile(overheads, 50))} ms`,
      '<= 1000 ms',
      percentile(overheads, 50) <= 1000,
      {
        baseline: `emulator create ${cal.createMs} ms`,
        ratio: fmt((percentile(overheads, 50) + cal.createMs) / cal.createMs, 2),
        notes: `time to ready (ready event in Mongo) minus the emulator's create time; ${ready.reached}/${ids.length} ready within ${fmt(scale.waitMs / 1000)} s (percentiles over those), ${ready.readErrors} Mongo reads of the bench timed out. ${limits}`,
      },
    ),
    row(
      storm,
      'overhead p99',
      `${fmt(percentile(overheads, 99))} ms`,
      '<= 3000 ms',
      percentile(overheads, 99) <= 3000,
      {
        baseline: `emulator create ${cal.createMs} ms`,
        ratio: fmt((percentile(overheads, 99) + cal.createMs) / cal.createMs, 2),
      },
    ),
    row(
      storm,
      'launch API p99',
      `${fmt(percentile(lat, 99))} ms`,
      '<= 100 ms',
      percentile(lat, 99) <= 100,
      {
        notes: `p50 ${fmt(percentile(lat, 50))} ms; ${launched.errors} errors; all ${scale.labs} sent at once (a workflow start per new lab, answered without waiting for the worker)`,
      },
    ),
    row(storm, 'launches accepted/s', `${fmt(acceptedPerSecond, 1)}/s`, 'report', undefined),
    cpuPerLaunchRow(cores, wall, ids.length),
    row(
      storm,
      'workflow-task latency p50 / p99',
      tasks
        ? `<= ${tasks.workflowTaskScheduleToStartP50} + ${tasks.workflowTaskExecutionP50} / ${tasks.workflowTaskScheduleToStartP99} + ${tasks.workflowTaskExecutionP99} ms`
        : 'n/a (worker in process)',
      'report',
      undefined,
      {
        notes: tasks
          ? `schedule-to-start + execution, from the worker process's metrics over the storm (bucket upper bounds): ${describeLatencies(tasks)}`
          : 'the worker runs in the bench process: no metrics of its own',
      },
    ),
    row(
      storm,
      'MongoDB requests / launch',
      ferretBefore !== undefined && ferretAfter !== undefined
        ? fmt((ferretAfter - ferretBefore) / Math.max(1, ids.length), 1)
        : 'n/a (not FerretDB)',
      'report',
      undefined,
      {
        notes: `FerretDB's request counter over the storm (the API's, the worker's and the bench's own: one find of the labs' states every poll until all are ready), over ${ids.length} launches`,
      },
    ),
    row(
      storm,
      'Heat API calls / launch',
      fmt(counts.heat / Math.max(1, ids.length), 1),
      'report',
      undefined,
      {
        notes: `keystone ${counts.keystone} in all; by route: ${Object.entries(counts.byRoute)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      },
    ),
  ];

  // --- resume: suspend a sample, then launch each again ---
  const sample = launched.labs.slice(0, Math.min(scale.resumes, launched.labs.length));
  const sampleIds = sample.map((l) => l.id);
  console.log(`[resume] suspending ${sample.length} labs ...`);
  await Promise.all(
    sample.map((l) =>
      request(`${env.apiUrl}/v1/labs/${l.id}/suspend`, {
        method: 'POST',
        token: env.serviceToken,
        body: {},
      }),
    ),
  );
  const suspended = await waitForState(env, sampleIds, 'suspended', scale.waitMs / 2);
  const t1 = Date.now();
  const resumed = await launchLabs(
    env,
    sample.map((l) => l.learner),
    sample.length,
  );
  const resumedReady = await waitForState(env, sampleIds, 'ready', scale.waitMs / 2);
  const resumedAt = await transitionTimes(env, sampleIds, 'ready', t1);
  const resumeOverheads: number[] = [];
  for (const lab of resumed.labs) {
    const at = resumedAt.get(lab.id);
    if (at !== undefined) resumeOverheads.push(at - lab.sentAt - cal.resumeMs);
  }
  resumeOverheads.sort((a, b) => a - b);
  console.log(
    `[resume] ${resumedReady.reached}/${sample.length} ready again (suspended ${suspended.reached}); overhead p50 ${fmt(percentile(resumeOverheads, 50))} ms`,
  );
  rows.push(
    row(
      'resume',
      `overhead p50 (${sample.length} labs)`,
      `${fmt(percentile(resumeOverheads, 50))} ms`,
      '<= 1000 ms',
      percentile(resumeOverheads, 50) <= 1000,
      {
        baseline: `emulator resume ${cal.resumeMs} ms`,
        ratio: fmt((percentile(resumeOverheads, 50) + cal.resumeMs) / cal.resumeMs, 2),
        notes: `launch of a suspended lab to its ready event, minus the emulator's resume time; p99 ${fmt(percentile(resumeOverheads, 99))} ms`,
      },
    ),
  );
  return {
    rows,
    details: {
      emulator: cal,
      storm: {
        labs: scale.labs,
        ready: ready.reached,
        launchErrors: launched.errors,
        overheadMs: {
          p50: percentile(overheads, 50),
          p99: percentile(overheads, 99),
          max: overheads[overheads.length - 1],
        },
        launchLatencyMs: { p50: percentile(lat, 50), p99: percentile(lat, 99) },
        acceptedPerSecond,
        heatCalls: counts,
        cpuCores: cores,
        ferretRequestsPerSecond: ferretOps,
      },
      resume: {
        labs: sample.length,
        suspended: suspended.reached,
        ready: resumedReady.reached,
        overheadMs: {
          p50: percentile(resumeOverheads, 50),
          p99: percentile(resumeOverheads, 99),
        },
      },
    },
  };
}

/**
 * Where the storm's time goes: the CPU each process spent per launch (cores x wall time over the
 * launches), and the least time the storm's work takes on this machine's cores. When that is
 * near the storm's own time, the overhead is CPU, and a machine with k times the cores would do
 * the same storm as this one does one k times smaller (`--storm-labs`).
 */
function cpuPerLaunchRow(
  cores: Record<string, number>,
  wallSeconds: number,
  launches: number,
): Row {
  const msPerLaunch = Object.fromEntries(
    Object.entries(cores).map(([name, c]) => [name, (c * wallSeconds * 1000) / launches]),
  );
  const total = Object.values(msPerLaunch).reduce((a, b) => a + b, 0);
  const machineCores = cpus().length;
  const leastSeconds = (total * launches) / 1000 / machineCores;
  return row(
    'launch storm',
    'CPU per launch (all processes)',
    `${fmt(total)} ms`,
    'report',
    undefined,
    {
      notes: `${Object.entries(msPerLaunch)
        .map(([name, ms]) => `${name} ${fmt(ms)} ms`)
        .join(
          ', ',
        )}; ${launches} launches took ${fmt((total * launches) / 1000, 1)} CPU-s, at least ${fmt(leastSeconds, 1)} s on ${machineCores} cores, of the ${fmt(wallSeconds, 1)} s from the first launch to the last ready`,
    },
  );
}
