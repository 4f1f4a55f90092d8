/**
 * What the stacks really did, from Heat's side: samples the emulator's stack list (its admin
 * API) and keeps each stack's status over time. The emulator keeps no history of its own; a
 * change seen between two samples is placed halfway between them, and creation and deletion
 * take the emulator's own timestamps.
 */
import type { RunningEmulator } from '../src/emulator';

export interface StatusSpan {
  status: string;
  from: number;
  to: number;
}

interface Tracked {
  name: string;
  changes: Array<{ at: number; status: string }>;
  deletedAt: number | null;
}

export class StackMeter {
  private readonly stacks = new Map<string, Tracked>();
  private lastSample = 0;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  samples = 0;
  errors = 0;

  constructor(private readonly emulator: RunningEmulator) {}

  start(everyMs: number): void {
    this.lastSample = Date.now();
    this.timer = setInterval(() => {
      this.sampling ??= this.sample().finally(() => (this.sampling = undefined));
    }, everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sampling;
    await this.sample();
  }

  /** Stacks by status at the last sample. */
  current(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const s of this.stacks.values()) {
      const status = s.changes[s.changes.length - 1]!.status;
      counts[status] = (counts[status] ?? 0) + 1;
    }
    return counts;
  }

  /** Each stack (by id, with its name) and its statuses as spans of real time (epoch ms). */
  spans(until: number): Array<{ id: string; name: string; spans: StatusSpan[] }> {
    return [...this.stacks].map(([id, s]) => ({
      id,
      name: s.name,
      spans: s.changes
        .map((c, i) => ({
          status: c.status,
          from: c.at,
          to: Math.min(s.changes[i + 1]?.at ?? s.deletedAt ?? until, until),
        }))
        .filter((span) => span.to > span.from),
    }));
  }

  private async sample(): Promise<void> {
    const before = this.lastSample;
    let list;
    try {
      list = await this.emulator.admin.stacks();
    } catch {
      this.errors++;
      return;
    }
    const now = Date.now();
    this.lastSample = now;
    this.samples++;
    const seenAt = (before + now) / 2;
    for (const stack of list) {
      let tracked = this.stacks.get(stack.id);
      if (!tracked) {
        tracked = {
          name: stack.name,
          changes: [{ at: stack.creationTime, status: stack.status }],
          deletedAt: null,
        };
        this.stacks.set(stack.id, tracked);
      }
      const last = tracked.changes[tracked.changes.length - 1]!;
      if (last.status !== stack.status)
        tracked.changes.push({
          at:
            stack.status === 'DELETE_COMPLETE' && stack.deletionTime ? stack.deletionTime : seenAt,
          status: stack.status,
        });
      if (stack.deletionTime) tracked.deletedAt = stack.deletionTime;
    }
  }
}
