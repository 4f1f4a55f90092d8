/**
 * Starts bench/worker-main.ts as a child process and watches it: its resident memory from
 * /proc (the worker's own, not the bench's), the heap figures it prints, and its Temporal
 * metrics. Node runs the file directly (`--import tsx`), so the pid is the worker itself and
 * not a tsx launcher in front of it.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../src/local/child';
import { histogram, histogramQuantile, metric, request } from './http';

export const WORKER_STARTED = 'bench worker started';

export interface WorkerMemory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface WorkerProcess {
  pid: number;
  metricsUrl: string;
  /** Resident set size now, in bytes (VmRSS). */
  rssBytes(): number;
  /** The highest resident set size the process has had (VmHWM), in bytes. */
  peakRssBytes(): number;
  /** The last memoryUsage() the worker printed (V8 heap, external, array buffers). */
  memory(): WorkerMemory | undefined;
  /** Temporal's Prometheus exposition of the worker. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const line = status.split('\n').find((l) => l.startsWith(`${field}:`));
    return line ? Number(line.split(/\s+/)[1]) : NaN;
  } catch {
    return NaN;
  }
}

export async function startWorkerProcess(options: {
  /** A file of bundled workflow code (benchWorkflowBundle), so the worker does not bundle. */
  workflowBundle: string;
  configPath: string;
  env: Record<string, string>;
  logDir: string;
  timeoutMs?: number;
}): Promise<WorkerProcess> {
  const port = await freePort();
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(__dirname, 'worker-main.ts'),
      '--metrics',
      `127.0.0.1:${port}`,
      '--bundle',
      options.workflowBundle,
    ],
    {
      cwd: join(__dirname, '..'),
      env: { ...process.env, ...options.env, LABS_CONFIG: options.configPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the bench worker');
  const log = createWriteStream(join(options.logDir, 'worker.log'), { flags: 'a' });
  child.stderr.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let memory: WorkerMemory | undefined;
  let lastLines: string[] = [];
  const started = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{"memory"')) {
        memory = (JSON.parse(line) as { memory: WorkerMemory }).memory;
        return;
      }
      log.write(`${line}\n`);
      lastLines = [...lastLines.slice(-20), line];
      if (line.includes(WORKER_STARTED)) resolve();
    });
    void exited.then((code) =>
      reject(new Error(`the bench worker exited (${code}): ${lastLines.join('\n')}`)),
    );
    setTimeout(
      () => reject(new Error('the bench worker did not start in time')),
      options.timeoutMs ?? 120_000,
    ).unref();
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(killer);
    log.end();
  };
  try {
    await started;
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    pid,
    metricsUrl,
    rssBytes: () => procStatusKb(pid, 'VmRSS') * 1024,
    peakRssBytes: () => procStatusKb(pid, 'VmHWM') * 1024,
    memory: () => memory,
    metrics: async () => (await request(metricsUrl, { timeoutMs: 10_000 })).body,
    stop,
  };
}

/** Where a worker's time went between two scrapes of its metrics (p99s are bucket bounds). */
export interface WorkerLatencies {
  workflowTasks: number;
  workflowTaskScheduleToStartP50: number;
  workflowTaskScheduleToStartP99: number;
  workflowTaskExecutionP50: number;
  workflowTaskExecutionP99: number;
  activityScheduleToStartP99: number;
  /** Activity execution p50 and p99 by activity type. */
  activities: Record<string, { count: number; p50: number; p99: number }>;
  stickyCache: { size: number; hits: number; misses: number };
}

export function workerLatencies(before: string, after: string): WorkerLatencies {
  const quantile = (name: string, q: number, label?: string) =>
    histogramQuantile(histogram(before, name, label), histogram(after, name, label), q);
  const types = new Set([...after.matchAll(/activity_type="([^"]+)"/g)].map((m) => m[1]!));
  const activities: WorkerLatencies['activities'] = {};
  for (const type of types) {
    const label = `activity_type="${type}"`;
    const p50 = quantile('temporal_activity_execution_latency', 0.5, label);
    if (p50.count === 0) continue;
    activities[type] = {
      count: p50.count,
      p50: p50.bound,
      p99: quantile('temporal_activity_execution_latency', 0.99, label).bound,
    };
  }
  const execution = quantile('temporal_workflow_task_execution_latency', 0.99);
  return {
    workflowTasks: execution.count,
    workflowTaskScheduleToStartP50: quantile(
      'temporal_workflow_task_schedule_to_start_latency',
      0.5,
    ).bound,
    workflowTaskExecutionP50: quantile('temporal_workflow_task_execution_latency', 0.5).bound,
    workflowTaskScheduleToStartP99: quantile(
      'temporal_workflow_task_schedule_to_start_latency',
      0.99,
    ).bound,
    workflowTaskExecutionP99: execution.bound,
    activityScheduleToStartP99: quantile('temporal_activity_schedule_to_start_latency', 0.99).bound,
    activities,
    stickyCache: {
      size: metric(after, 'temporal_sticky_cache_size'),
      hits:
        metric(after, 'temporal_sticky_cache_hit') - metric(before, 'temporal_sticky_cache_hit'),
      misses:
        metric(after, 'temporal_sticky_cache_miss') - metric(before, 'temporal_sticky_cache_miss'),
    },
  };
}

/** One line for a table note: the activities that took longest at p99, and the task queues. */
export function describeLatencies(l: WorkerLatencies): string {
  const slowest = Object.entries(l.activities)
    .sort(([, a], [, b]) => b.p99 - a.p99)
    .slice(0, 4)
    .map(([type, a]) => `${type} p50<=${a.p50} p99<=${a.p99}`)
    .join(', ');
  return `workflow task schedule-to-start p99 <= ${l.workflowTaskScheduleToStartP99} ms, execution p99 <= ${l.workflowTaskExecutionP99} ms (${l.workflowTasks} tasks; sticky cache ${l.stickyCache.size} workflows, ${l.stickyCache.hits} hits, ${l.stickyCache.misses} misses); activity schedule-to-start p99 <= ${l.activityScheduleToStartP99} ms; slowest activities (ms): ${slowest}`;
}
