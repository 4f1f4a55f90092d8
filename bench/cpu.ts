/**
 * CPU used by the bench's processes, from /proc: the product (this process), the worker, the
 * Temporal dev server, FerretDB and the PostgreSQL under it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { BenchEnv } from './env';

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number, withReapedChildren = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime (and cutime, cstime: children waited for) in clock ticks (100 Hz)
    const ticks = [11, 12, ...(withReapedChildren ? [13, 14] : [])];
    return ticks.reduce((sum, i) => sum + Number(fields[i]), 0) / 100;
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds of a process and all its children, living or exited: PostgreSQL's postmaster
 * and its backends, which come and go with FerretDB's connections.
 */
export function treeCpuSeconds(root: number): number {
  let sum = cpuSeconds(root, true);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === root) sum += cpuSeconds(Number(entry));
    } catch {
      // exited between the listing and the read: its time is in the parent's cutime now
    }
  }
  return sum;
}

/** CPU use of the bench's processes over a window: cores used on average by each. */
export class CpuWindow {
  private readonly start: Record<string, number>;
  private readonly t0 = Date.now();
  /** A pid (its own CPU), or a function that reads a whole tree's (treeCpuSeconds). */
  constructor(private readonly pids: Record<string, number | (() => number) | undefined>) {
    this.start = this.sample();
  }
  private sample(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids))
      if (pid !== undefined) out[name] = typeof pid === 'number' ? cpuSeconds(pid) : pid();
    return out;
  }
  /** Cores used by each process since the window started (1.0 = one core busy). */
  cores(): Record<string, number> {
    const now = this.sample();
    const wall = (Date.now() - this.t0) / 1000;
    const out: Record<string, number> = {};
    for (const name of Object.keys(now))
      out[name] = Number(((now[name]! - this.start[name]!) / wall).toFixed(2));
    return out;
  }
}

export function cpuPids(env: BenchEnv): Record<string, number | (() => number) | undefined> {
  const postmaster = env.mongo?.postmasterPid;
  return {
    product: process.pid,
    worker: env.worker?.pid,
    temporal: env.temporal.pid,
    mongo: env.mongo?.pid,
    postgres: postmaster ? () => treeCpuSeconds(postmaster) : undefined,
  };
}

export function describeCpu(cores: Record<string, number>): string {
  return Object.entries(cores)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}
