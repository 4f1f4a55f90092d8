/**
 * Many labs (issue 8, item 3): N open lab workflows, a mix of ready and suspended, on one worker
 * in a process of its own; then minutes of churn (heartbeats, suspends and resumes of random
 * labs through the API). Measures the worker's resident memory and its growth under churn,
 * workflow-task latency (the worker's Temporal metrics) and the update round trip the API sees,
 * and the time to start all N labs. The emulator answers in milliseconds, so Heat is not what
 * limits any of it.
 */
import { CpuWindow, cpuPids, describeCpu } from './cpu';
import { COURSE, countStates, ferretRate, ferretRequests, launchLabs, type BenchEnv } from './env';
import { metric, percentile, request } from './http';
import { MiB, reportEvery, sleep } from './progress';
import { seeded, shuffle } from './random';
import { fmt, row, type Row } from './report';
import { describeLatencies, workerLatencies, type WorkerProcess } from './worker-process';

export interface ManyLabsScale {
  labs: number;
  /** Launches in flight at once while starting them all. */
  concurrency: number;
  /** Share of the labs suspended before the churn starts. */
  suspendedShare: number;
  churnSeconds: number;
  /** Churn operations per second, sent on schedule whether or not earlier ones have answered. */
  rates: { heartbeats: number; suspends: number; resumes: number };
  /** How long to wait for all labs to be ready, and again for the suspends. */
  waitMs: number;
  /** No launch is sent after this long: the bench goes on with the labs it has. */
  startBudgetMs: number;
  /** The worker's `worker.maxCachedWorkflows` (`--worker-cache`); undefined: the product's default. */
  workerCache?: number;
}

interface Lab {
  id: string;
  token: string;
  learner: string;
}

type Op = 'heartbeat' | 'suspend' | 'resume';

interface OpResult {
  op: Op;
  at: number;
  ms: number;
  status: number;
}

/** Labs that quiet-phase ops measure as the baseline, before the other N are started. */
const BASELINE_LABS = 20;
/** A lab just suspended or resumed is left alone this long, so churn does not act mid-action. */
const COOLDOWN_MS = 15_000;
/** Churn requests in flight at most, so a saturated product is measured, not a pile of sockets. */
const MAX_IN_FLIGHT = 256;
const RSS_SAMPLE_MS = 2000;

/** A set with O(1) random pick and removal. */
class Pool<T> {
  private items: T[] = [];
  get size(): number {
    return this.items.length;
  }
  add(item: T): void {
    this.items.push(item);
  }
  pick(random: () => number, remove: boolean): T | undefined {
    if (this.items.length === 0) return undefined;
    const i = Math.floor(random() * this.items.length);
    const item = this.items[i]!;
    if (remove) {
      this.items[i] = this.items[this.items.length - 1]!;
      this.items.pop();
    }
    return item;
  }
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

function requireWorker(env: BenchEnv): WorkerProcess {
  if (!env.worker) throw new Error('many labs needs the worker in its own process');
  return env.worker;
}

async function waitForCount(
  env: BenchEnv,
  state: string,
  target: number,
  timeoutMs: number,
): Promise<{ reached: number; seconds: number }> {
  const t0 = Date.now();
  let reached = 0;
  while (Date.now() - t0 < timeoutMs) {
    reached =
      (await countStates(env, [state]).catch(() => ({}) as Record<string, number>))[state] ?? 0;
    if (reached >= target) break;
    await sleep(5000);
  }
  return { reached, seconds: (Date.now() - t0) / 1000 };
}

/** Ids of the running labs whose workflow says `ready` (Temporal's visibility, not Mongo). */
async function readyIds(env: BenchEnv): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const wf of env.runtime.client.workflow.list({
    query: 'ExecutionStatus = "Running" AND LabState = "ready"',
  }))
    ids.add(wf.workflowId);
  return ids;
}

/** Times single API calls on a quiet product: suspend, then launch again, lab after lab. */
async function quietRoundTrips(env: BenchEnv, labs: Lab[]): Promise<number[]> {
  const times: number[] = [];
  const timed = async (call: () => Promise<unknown>) => {
    const t0 = process.hrtime.bigint();
    await call();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  };
  for (const lab of labs) await timed(() => suspend(env, lab));
  await waitForCount(env, 'suspended', labs.length, 60_000);
  for (const lab of labs) await timed(() => relaunch(env, lab));
  await waitForCount(env, 'ready', labs.length, 60_000);
  return times.sort((a, b) => a - b);
}

const suspend = (env: BenchEnv, lab: Lab) =>
  request(`${env.apiUrl}/v1/labs/${lab.id}/suspend`, {
    method: 'POST',
    token: env.serviceToken,
    body: {},
  });

const relaunch = (env: BenchEnv, lab: Lab) =>
  request(`${env.apiUrl}/v1/labs`, {
    method: 'POST',
    token: env.serviceToken,
    body: { courseId: COURSE, learnerId: lab.learner, lab: 'demo' },
  });

/** Calls `fire` `perSecond` times a second for `ms`, in 100 ms ticks, whatever the answers. */
async function openLoop(perSecond: number, ms: number, fire: () => void): Promise<void> {
  const t0 = Date.now();
  let sent = 0;
  while (Date.now() - t0 < ms) {
    const due = Math.floor(((Date.now() - t0) / 1000) * perSecond);
    for (; sent < due; sent++) fire();
    await sleep(100);
  }
}

export async function benchManyLabs(
  env: BenchEnv,
  scale: ManyLabsScale,
): Promise<{ rows: Row[]; details: Record<string, unknown> }> {
  const workerProcess = requireWorker(env);
  const name = 'many labs';
  const random = seeded(8);
  const run = Date.now().toString(36);
  await sleep(3000);
  const idleRss = workerProcess.rssBytes();
  console.log(`[many labs] idle worker RSS ${fmt(idleRss / MiB)} MiB`);

  // --- baseline: the same calls while only a few labs exist and nothing else runs ---
  const first = await launchLabs(
    env,
    Array.from({ length: BASELINE_LABS }, (_, i) => `many-${run}-${i}`),
    BASELINE_LABS,
    { patient: true },
  );
  await waitForCount(env, 'ready', first.labs.length, 60_000);
  const toLab = (l: Lab): Lab => ({ id: l.id, token: l.token, learner: l.learner });
  const quiet = await quietRoundTrips(env, first.labs.map(toLab));
  console.log(
    `[many labs] quiet update round trip (${BASELINE_LABS} labs): p50 ${fmt(percentile(quiet, 50))} ms, max ${fmt(quiet[quiet.length - 1] ?? NaN)} ms`,
  );

  // --- start: N labs through the API ---
  console.log(
    `[many labs] starting ${scale.labs - BASELINE_LABS} more labs, ${scale.concurrency} at a time ...`,
  );
  const cpuStart = new CpuWindow(cpuPids(env));
  let accepted = 0;
  let ready = first.labs.length;
  const t0 = Date.now();
  const ferret = ferretRate(env);
  const startProgress = reportEvery('many labs', 10_000, async () => {
    ready = (await countStates(env, ['ready']))['ready'] ?? ready;
    return `accepted ${accepted}/${scale.labs - BASELINE_LABS} (${fmt(accepted / ((Date.now() - t0) / 1000), 1)}/s), ready ${ready}/${scale.labs}, worker RSS ${fmt(workerProcess.rssBytes() / MiB)} MiB${await ferret()}`;
  });
  const rest = await launchLabs(
    env,
    Array.from(
      { length: scale.labs - BASELINE_LABS },
      (_, i) => `many-${run}-${i + BASELINE_LABS}`,
    ),
    scale.concurrency,
    { onAnswer: (ok) => ok && accepted++, patient: true, stopAt: t0 + scale.startBudgetMs },
  );
  const acceptedSeconds = (Date.now() - t0) / 1000;
  const open = first.labs.length + rest.labs.length;
  const allReady = await waitForCount(env, 'ready', open, scale.waitMs);
  startProgress.stop();
  const startSeconds = (Date.now() - t0) / 1000;
  const startCores = cpuStart.cores();
  const labs = [...first.labs, ...rest.labs].map(toLab);
  const launchLat = [...rest.latenciesMs].sort((a, b) => a - b);
  console.log(
    `[many labs] ${allReady.reached}/${open} ready (of ${scale.labs} wanted) after ${fmt(startSeconds)} s (launch errors ${rest.errors}); CPU ${describeCpu(startCores)}; worker RSS ${fmt(workerProcess.rssBytes() / MiB)} MiB`,
  );

  // --- the mix: a share of the ready ones suspended (a lab still launching would refuse) ---
  const readyNow = await readyIds(env).catch(() => new Set<string>());
  const readyLabs = labs.filter((l) => readyNow.has(l.id));
  const readyPool = new Pool<Lab>();
  const suspendedPool = new Pool<Lab>();
  const shuffled = shuffle(random, readyLabs);
  const toSuspend = shuffled.slice(0, Math.round(readyLabs.length * scale.suspendedShare));
  for (const lab of shuffled.slice(toSuspend.length)) readyPool.add(lab);
  console.log(
    `[many labs] suspending ${toSuspend.length} of the ${readyLabs.length} ready labs (${labs.length - readyLabs.length} not ready are left out of the churn) ...`,
  );
  let next = 0;
  let refused = 0;
  const stopAt = Date.now() + scale.waitMs;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < toSuspend.length && Date.now() < stopAt) {
        const lab = toSuspend[next++]!;
        const answer = await suspend(env, lab).catch(() => undefined);
        if (answer && answer.status < 300) suspendedPool.add(lab);
        else {
          refused++;
          readyPool.add(lab);
        }
      }
    }),
  );
  const suspendedReached = await waitForCount(
    env,
    'suspended',
    Math.min(next, toSuspend.length) - refused,
    scale.waitMs,
  );
  console.log(
    `[many labs] ${suspendedReached.reached} suspended after ${fmt(suspendedReached.seconds)} s (${refused} refused or failed)`,
  );

  // --- churn ---
  const results: OpResult[] = [];
  let inFlight = 0;
  let dropped = 0;
  const send = (op: Op, call: () => Promise<{ status: number }>, after: () => void) => {
    if (inFlight >= MAX_IN_FLIGHT) {
      dropped++;
      return;
    }
    inFlight++;
    const at = Date.now();
    const t = process.hrtime.bigint();
    void call()
      .catch(() => ({ status: 0 }))
      .then((answer) => {
        results.push({
          op,
          at,
          ms: Number(process.hrtime.bigint() - t) / 1e6,
          status: answer.status,
        });
        inFlight--;
        setTimeout(after, COOLDOWN_MS).unref();
      });
  };
  // A lab leaves its pool while its action runs and joins the other one after the cooldown.
  const move =
    (op: Op, from: Pool<Lab>, to: Pool<Lab>, call: (lab: Lab) => Promise<{ status: number }>) =>
    () => {
      const lab = from.pick(random, true);
      if (lab)
        send(
          op,
          () => call(lab),
          () => to.add(lab),
        );
    };
  const churnMs = scale.churnSeconds * 1000;
  const metricsBefore = await workerProcess.metrics();
  const ferretBefore = await ferretRequests(env);
  const cpuChurn = new CpuWindow(cpuPids(env));
  const rss: Array<{ t: number; rss: number; heapUsed: number }> = [];
  const tChurn = Date.now();
  const sampler = setInterval(
    () =>
      rss.push({
        t: (Date.now() - tChurn) / 60_000,
        rss: workerProcess.rssBytes(),
        heapUsed: workerProcess.memory()?.heapUsed ?? NaN,
      }),
    RSS_SAMPLE_MS,
  );
  console.log(
    `[many labs] churn for ${scale.churnSeconds} s: ${scale.rates.heartbeats} heartbeats, ${scale.rates.suspends} suspends and ${scale.rates.resumes} resumes a second ...`,
  );
  let reported = 0;
  const churnProgress = reportEvery('many labs', 10_000, async () => {
    const recent = results.slice(reported);
    reported = results.length;
    const updates = recent.filter((r) => r.op !== 'heartbeat').map((r) => r.ms);
    updates.sort((a, b) => a - b);
    const cache = metric(await workerProcess.metrics(), 'temporal_sticky_cache_size');
    return `${recent.length} calls (${recent.filter((r) => r.status >= 300 || r.status === 0).length} not 2xx), update p99 ${fmt(percentile(updates, 99))} ms, worker RSS ${fmt(workerProcess.rssBytes() / MiB)} MiB, heap ${fmt((workerProcess.memory()?.heapUsed ?? NaN) / MiB)} MiB, cached workflows ${cache}${await ferret()}`;
  });
  await Promise.all([
    openLoop(scale.rates.heartbeats, churnMs, () => {
      const lab = readyPool.pick(random, false);
      if (!lab) return;
      send(
        'heartbeat',
        () =>
          request(`${env.apiUrl}/v1/labs/${lab.id}/heartbeat`, {
            method: 'POST',
            token: lab.token,
          }),
        () => undefined,
      );
    }),
    openLoop(
      scale.rates.suspends,
      churnMs,
      move('suspend', readyPool, suspendedPool, (lab) => suspend(env, lab)),
    ),
    openLoop(
      scale.rates.resumes,
      churnMs,
      move('resume', suspendedPool, readyPool, (lab) => relaunch(env, lab)),
    ),
  ]);
  while (inFlight > 0) await sleep(100);
  clearInterval(sampler);
  churnProgress.stop();
  const churnMinutes = (Date.now() - tChurn) / 60_000;
  const churnCores = cpuChurn.cores();
  const metricsAfter = await workerProcess.metrics();
  const ferretAfter = await ferretRequests(env);
  const endRss = workerProcess.rssBytes();
  const peakRss = workerProcess.peakRssBytes();
  const memory = workerProcess.memory();
  const states = await countStates(env).catch(() => ({}));

  const churnStart = rss[0]?.rss ?? NaN;
  const fitPerMinute = slope(rss.map((s) => [s.t, s.rss]));
  const fitGrowth = fitPerMinute * churnMinutes;
  const heapFit = slope(rss.map((s) => [s.t, s.heapUsed])) * churnMinutes;
  const flat = fitGrowth <= 0.05 * churnStart;
  const byOp = (op: Op) => results.filter((r) => r.op === op);
  const latencies = (list: OpResult[]) => list.map((r) => r.ms).sort((a, b) => a - b);
  const updates = latencies(results.filter((r) => r.op !== 'heartbeat'));
  const notOk = (list: OpResult[]) => list.filter((r) => r.status >= 300 || r.status === 0).length;
  const worker = workerLatencies(metricsBefore, metricsAfter);
  const ferretOps =
    ferretBefore !== undefined && ferretAfter !== undefined
      ? (ferretAfter - ferretBefore) / (churnMinutes * 60)
      : undefined;
  const perMinuteP99 = Array.from({ length: Math.ceil(churnMinutes) }, (_, m) =>
    percentile(
      latencies(
        results.filter(
          (r) =>
            r.op !== 'heartbeat' && r.at - tChurn >= m * 60_000 && r.at - tChurn < (m + 1) * 60_000,
        ),
      ),
      99,
    ),
  );
  const limits = `CPU cores during churn: ${describeCpu(churnCores)}${ferretOps !== undefined ? `; FerretDB ${fmt(ferretOps)} requests/s` : ''}`;
  console.log(
    `[many labs] churn done: RSS ${fmt(churnStart / MiB)} -> ${fmt(endRss / MiB)} MiB (fit ${fmt(fitPerMinute / MiB, 1)} MiB/min), peak ${fmt(peakRss / MiB)} MiB; update p99 ${fmt(percentile(updates, 99))} ms; ${limits}`,
  );

  const rows: Row[] = [
    row(
      name,
      `worker RSS (${open} labs open)`,
      `${fmt(endRss / MiB)} MiB`,
      '<= 1024 MiB',
      peakRss <= 1024 * MiB,
      {
        baseline: `idle worker ${fmt(idleRss / MiB)} MiB`,
        ratio: fmt(endRss / idleRss, 2),
        notes: `after churn; peak (VmHWM) ${fmt(peakRss / MiB)} MiB; V8 heap used ${fmt((memory?.heapUsed ?? NaN) / MiB)} of ${fmt((memory?.heapTotal ?? NaN) / MiB)} MiB, external ${fmt((memory?.external ?? NaN) / MiB)} MiB; ${worker.stickyCache.size} workflows cached (worker.maxCachedWorkflows ${scale.workerCache ?? 'default'}); states ${JSON.stringify(states)}`,
      },
    ),
    row(
      name,
      `RSS growth over ${fmt(churnMinutes, 1)} min churn`,
      `${fitGrowth >= 0 ? '+' : ''}${fmt(fitGrowth / MiB)} MiB`,
      'flat (<= 5% of start)',
      flat,
      {
        baseline: `${fmt(churnStart / MiB)} MiB at churn start`,
        ratio: fmt((churnStart + fitGrowth) / churnStart, 3),
        notes: `least-squares fit over ${rss.length} samples (${fmt(fitPerMinute / MiB, 2)} MiB/min); first ${fmt(churnStart / MiB)} MiB, last ${fmt(endRss / MiB)} MiB; V8 heap used fit ${fmt(heapFit / MiB, 1)} MiB over the window`,
      },
    ),
    row(
      name,
      'workflow-task latency p99',
      `<= ${worker.workflowTaskScheduleToStartP99} + ${worker.workflowTaskExecutionP99} ms`,
      'report',
      undefined,
      {
        notes: `schedule-to-start + execution, from the worker's metrics over the churn (bucket upper bounds; a cache miss replays the history): ${describeLatencies(worker)}. ${limits}`,
      },
    ),
    row(
      name,
      'update round trip p99 (churn)',
      `${fmt(percentile(updates, 99))} ms`,
      'report',
      undefined,
      {
        baseline: `${fmt(quiet[quiet.length - 1] ?? NaN)} ms (max of ${quiet.length}, ${BASELINE_LABS} labs, quiet)`,
        ratio: fmt(percentile(updates, 99) / (quiet[quiet.length - 1] ?? NaN), 1),
        notes: `API suspend and launch-of-a-suspended-lab answered by the workflow's update handler: p50 ${fmt(percentile(updates, 50))} ms; p99 per minute ${perMinuteP99.map((p) => fmt(p)).join(', ')} ms; ${byOp('suspend').length} suspends (${notOk(byOp('suspend'))} not 2xx), ${byOp('resume').length} resumes (${notOk(byOp('resume'))} not 2xx), ${byOp('heartbeat').length} heartbeats (p99 ${fmt(percentile(latencies(byOp('heartbeat')), 99))} ms, ${notOk(byOp('heartbeat'))} not 2xx), ${dropped} not sent (${MAX_IN_FLIGHT} in flight)`,
      },
    ),
    row(name, `time to start ${open} labs`, `${fmt(startSeconds)} s`, 'report', undefined, {
      notes: `${allReady.reached}/${open} ready${open < scale.labs ? ` (of ${scale.labs} wanted: no launch after ${fmt(scale.startBudgetMs / 60_000)} min)` : ''}; launches accepted in ${fmt(acceptedSeconds)} s (${fmt(rest.labs.length / acceptedSeconds, 1)}/s at ${scale.concurrency} in flight, API p50 ${fmt(percentile(launchLat, 50))} ms, p99 ${fmt(percentile(launchLat, 99))} ms, ${rest.errors} errors); CPU cores: ${describeCpu(startCores)}`,
    }),
  ];
  return {
    rows,
    details: {
      labs: open,
      wanted: scale.labs,
      states,
      idleRssMiB: idleRss / MiB,
      endRssMiB: endRss / MiB,
      peakRssMiB: peakRss / MiB,
      memory,
      rssSamples: rss.map((s) => ({
        minute: Number(s.t.toFixed(2)),
        rssMiB: Number((s.rss / MiB).toFixed(1)),
        heapUsedMiB: Number((s.heapUsed / MiB).toFixed(1)),
      })),
      rssFitMiBPerMinute: fitPerMinute / MiB,
      start: {
        seconds: startSeconds,
        acceptedSeconds,
        ready: allReady.reached,
        launchErrors: rest.errors,
        launchLatencyMs: { p50: percentile(launchLat, 50), p99: percentile(launchLat, 99) },
        cpuCores: startCores,
      },
      churn: {
        minutes: churnMinutes,
        rates: scale.rates,
        calls: {
          heartbeat: byOp('heartbeat').length,
          suspend: byOp('suspend').length,
          resume: byOp('resume').length,
        },
        notOk: {
          heartbeat: notOk(byOp('heartbeat')),
          suspend: notOk(byOp('suspend')),
          resume: notOk(byOp('resume')),
        },
        dropped,
        updateLatencyMs: {
          p50: percentile(updates, 50),
          p99: percentile(updates, 99),
          perMinuteP99,
        },
        quietUpdateLatencyMs: quiet,
        worker,
        cpuCores: churnCores,
        ferretRequestsPerSecond: ferretOps,
      },
    },
  };
}
