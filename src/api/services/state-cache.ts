import type { Store } from '../../store';
import type { LabState } from '../../../workflows/state';
import type { Dependencies } from '../dependencies';
import type { ApiMetrics } from '../metrics/registry';

/**
 * How long a running workflow with no projection is trusted to be a `queued` lab. Longer than
 * the state TTL (30 s at the default flush) and the XBlock's 30 s heartbeat interval: a worker
 * with a backlog can take minutes to write a new lab's first projection, and asking Temporal at
 * each of its heartbeats made describes the largest load on its history service (83 to 95 a
 * second in the full course bench). A workflow that ends unprojected has its heartbeats
 * accepted until then.
 */
const UNPROJECTED_TRUST_MS = 5 * 60_000;

type Lookup = { resolve: (state: LabState | null) => void; reject: (err: unknown) => void };

/**
 * Lab states for the heartbeat path, trusted for a short TTL. Misses that arrive together
 * (thousands of heartbeats a second) are read with one `find({_id: {$in}})` per tick instead
 * of one query each.
 */
export class LabStateCache {
  /** `unprojected`: a running workflow with no projection yet (see rememberUnprojected). */
  private readonly entries = new Map<
    string,
    { state: LabState; courseId: string; expires: number; unprojected?: true }
  >();
  private waiting = new Map<string, Lookup[]>();
  private scheduled = false;

  constructor(
    private readonly store: Store,
    private readonly dependencies: Dependencies,
    private readonly metrics: ApiMetrics,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The lab's state, or null when no lab has this id. */
  get(labId: string): Promise<LabState | null> {
    const entry = this.entries.get(labId);
    if (entry && entry.expires > this.now()) return Promise.resolve(entry.state);
    return new Promise((resolve, reject) => {
      const lookups = this.waiting.get(labId) ?? [];
      lookups.push({ resolve, reject });
      this.waiting.set(labId, lookups);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.load());
      }
    });
  }

  /**
   * Re-reads the states of labs that are sending heartbeats (called after each flush, with one
   * query for all of them), so a cached state is never older than a flush interval for an
   * active lab while the per-heartbeat path needs no read at all.
   */
  async refresh(ids: string[]): Promise<Map<string, LabState>> {
    if (ids.length === 0) return new Map();
    this.metrics.heartbeatStateReads.inc();
    const docs = await this.dependencies.mongo('heartbeat state refresh', (deadline) =>
      this.store.labs.statesOf(ids, deadline),
    );
    const expires = this.now() + this.ttlMs;
    const rows = new Map(docs.map((d) => [d._id, d] as const));
    for (const id of ids) {
      const row = rows.get(id);
      if (row && row.state !== 'deleted')
        this.entries.set(id, { state: row.state, courseId: row.courseId, expires });
      // Still unprojected: kept until it expires (the sweep), not asked of Temporal again.
      else if (!row && this.entries.get(id)?.unprojected) continue;
      else this.entries.delete(id);
    }
    return new Map(docs.map((d) => [d._id, d.state] as const));
  }

  /**
   * A lab whose workflow runs but whose projection is not written yet (a launch the worker has
   * not reached): `queued` until a read finds its projection, for at most UNPROJECTED_TRUST_MS.
   */
  rememberUnprojected(labId: string): void {
    const expires = this.now() + UNPROJECTED_TRUST_MS;
    this.entries.set(labId, { state: 'queued', courseId: '', expires, unprojected: true });
  }

  /** Whether the lab is remembered as running with no projection yet (rememberUnprojected). */
  isUnprojected(labId: string): boolean {
    const entry = this.entries.get(labId);
    return entry?.unprojected === true && entry.expires > this.now();
  }

  /** The course of a lab whose state is cached (undefined: not cached). */
  courseOf(labId: string): string | undefined {
    return this.entries.get(labId)?.courseId;
  }

  /** Drops expired entries (called from the flush timer), so the cache holds only active labs. */
  sweep(): void {
    const now = this.now();
    for (const [labId, entry] of this.entries) if (entry.expires <= now) this.entries.delete(labId);
  }

  private async load(): Promise<void> {
    this.scheduled = false;
    const batch = this.waiting;
    this.waiting = new Map();
    const ids = [...batch.keys()];
    try {
      this.metrics.heartbeatStateReads.inc();
      // One lookup by _id per lab rather than one `$in`: FerretDB v1 answers `_id` equality
      // from its index but scans the whole collection for `$in` (measured: 3 ms vs ~30 ms per
      // query at 2,000 labs), and a real MongoDB serves either from the _id index.
      const docs = await this.dependencies.mongo('heartbeat state read', (deadline) =>
        Promise.all(ids.map((id) => this.store.labs.stateOf(id, deadline))),
      );
      const rows = new Map(docs.flatMap((d) => (d ? [[d._id, d] as const] : [])));
      const expires = this.now() + this.ttlMs;
      for (const [labId, lookups] of batch) {
        const row = rows.get(labId);
        const state = row?.state ?? null;
        // Unknown and deleted labs are not cached: a launch (here or on another replica) may
        // bring them to life any moment, and their first heartbeat must not be refused.
        if (row && state !== 'deleted')
          this.entries.set(labId, { state: row.state, courseId: row.courseId, expires });
        for (const l of lookups) l.resolve(state);
      }
    } catch (err) {
      for (const lookups of batch.values()) for (const l of lookups) l.reject(err);
    }
  }
}
