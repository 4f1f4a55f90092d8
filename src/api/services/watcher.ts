import type { Store, LabDocument } from '../../store';
import type { Dependencies } from '../dependencies';
import type { ApiMetrics } from '../metrics/registry';

interface Waiter {
  labId: string;
  fingerprint: string;
  resolve: (doc: LabDocument | null) => void;
  timer: NodeJS.Timeout;
}

/** What a long-poll watches: the lab's state and build progress. */
export const fingerprintOf = (doc: Pick<LabDocument, 'state' | 'progress'>): string =>
  `${doc.state}:${doc.progress ? `${doc.progress.done}/${doc.progress.total}` : '-'}`;

/**
 * Long-polls (`GET /v1/labs/{id}?wait=N`) share one poller per API process: every
 * `intervalMs` it reads all watched labs in one `find({_id: {$in}})` and answers the waiters
 * whose lab changed. The cost is one query per interval whatever the number of waiters, and
 * none when nobody waits (change streams would push instead, but FerretDB has none).
 */
export class LabWatcher {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly dependencies: Dependencies,
    private readonly metrics: ApiMetrics,
    private readonly intervalMs: number,
  ) {}

  /**
   * Resolves with the lab's document as soon as its fingerprint differs from `fingerprint`, or
   * with null after `timeoutMs` (or when `cancel` fires: the client went away).
   */
  wait(
    labId: string,
    fingerprint: string,
    timeoutMs: number,
    cancel?: (stop: () => void) => void,
  ): Promise<LabDocument | null> {
    if (this.closed || timeoutMs <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        labId,
        fingerprint,
        resolve,
        timer: setTimeout(() => this.settle(waiter, null), timeoutMs),
      };
      const set = this.waiters.get(labId) ?? new Set();
      set.add(waiter);
      this.waiters.set(labId, set);
      this.metrics.longPollWaiters.inc();
      cancel?.(() => this.settle(waiter, null));
      this.timer ??= setTimeout(() => void this.poll(), this.intervalMs);
    });
  }

  close(): void {
    this.closed = true;
    for (const set of this.waiters.values()) for (const w of set) this.settle(w, null);
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private settle(waiter: Waiter, doc: LabDocument | null): void {
    const set = this.waiters.get(waiter.labId);
    if (!set?.delete(waiter)) return;
    if (set.size === 0) this.waiters.delete(waiter.labId);
    clearTimeout(waiter.timer);
    this.metrics.longPollWaiters.dec();
    waiter.resolve(doc);
  }

  private async poll(): Promise<void> {
    const ids = [...this.waiters.keys()];
    if (ids.length > 0) {
      try {
        const docs = await this.dependencies.mongo('long-poll read', (deadline) =>
          this.store.labs.getMany(ids, deadline),
        );
        for (const doc of docs) {
          const fingerprint = fingerprintOf(doc);
          for (const w of [...(this.waiters.get(doc._id) ?? [])])
            if (w.fingerprint !== fingerprint) this.settle(w, doc);
        }
      } catch {
        // Mongo is down: waiters keep waiting until their time is up, then answer (or 503).
      }
    }
    this.timer = undefined;
    if (this.waiters.size > 0 && !this.closed)
      this.timer = setTimeout(() => void this.poll(), this.intervalMs);
  }
}
