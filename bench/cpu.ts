/**
 * Where the CPU went during a bench: each server's user+system time from /proc, as a share of
 * one core over the bench's wall time. On two cores, a process near 100% is single-threaded at
 * its limit (FerretDB's SQLite writer, the dev server's SQLite), and the sum near 200% is the
 * machine: that says which component a figure measures.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

export type CpuSample = { at: number; seconds: Record<string, number> };

function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state; utime and stime are
    // the 14th and 15th fields of the line.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

export function sampleCpu(pids: Record<string, number | undefined>): CpuSample {
  const seconds: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    const s = pid === undefined ? undefined : cpuSeconds(pid);
    if (s !== undefined) seconds[name] = s;
  }
  return { at: Date.now(), seconds };
}

/** Percent of one core each process used between two samples (names present in both). */
export function cpuShares(before: CpuSample, after: CpuSample): Record<string, number> {
  const wall = (after.at - before.at) / 1000;
  const shares: Record<string, number> = {};
  for (const [name, s] of Object.entries(after.seconds)) {
    const b = before.seconds[name];
    if (b !== undefined && wall > 0) shares[name] = Math.round(((s - b) / wall) * 100);
  }
  return shares;
}

export function formatShares(shares: Record<string, number>): string {
  return Object.entries(shares)
    .sort((a, b) => b[1] - a[1])
    .map(([name, pct]) => `${name} ${pct}%`)
    .join(', ');
}
