import type { Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { dayOf } from '../../../workflows/usage';
import type { Logger } from '../../log';
import type { Store } from '../../store';
import { isLabRunning, signalHeartbeat } from '../../temporal/lab-client';
import type { LabState } from '../../../workflows/state';
import type { Dependencies } from '../dependencies';
import { conflict, expiredHeartbeatToken, notFound } from '../errors';
import { askUnprojectedLab } from '../labs/actions';
import type { ApiMetrics } from '../metrics/registry';
import { SignalPacer } from './signal-pacer';
import { LabStateCache } from './state-cache';

export interface HeartbeatOptions {
  /** config.api.heartbeatFlush: at most one activity write per lab per this interval. */
  flushMs: number;
  /** How long a lab's state read from the projection is trusted. */
  stateTtlMs: number;
  /** The first repeat of a heartbeat signal to a lab still suspended (see SignalPacer). */
  signalEveryMs: number;
  /** The longest gap between repeats (default 60 s). */
  signalAtMostEveryMs?: number;
}

/** Activity writes per database round trip. */
const FLUSH_CHUNK = 100;
/**
 * A heartbeat stands for at most this much learner activity before it (the heartbeat client
 * sends one per 30 s at most while the learner is active): the usage report's active hours.
 */
export const ACTIVE_PER_HEARTBEAT_MS = 30_000;

/**
 * The heartbeat hot path. A heartbeat costs no Temporal call and no write of its own: the
 * latest time per lab is kept here and flushed every `flushMs` with one bulk write of `$max`
 * updates to the activity collection (so several API replicas never move it backwards), where
 * the workflow reads it when its idle timer fires. Only a learner back on a suspended lab needs
 * the workflow now, and gets one signal at once however many heartbeats arrive (SignalPacer).
 */
export class HeartbeatRelay {
  private pending = new Map<string, number>();
  /** Each lab's last heartbeat here, and learner-active ms not yet written, by labId|day. */
  private lastBeat = new Map<string, number>();
  private activePending = new Map<string, number>();
  /** This process's own documents of learner-active time (one writer per document). */
  private readonly activeWriter = randomUUID();
  private readonly signals: SignalPacer;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly states: LabStateCache;
  /** Temporal lookups in flight for labs with no projection yet, shared by their heartbeats. */
  private readonly lookups = new Map<string, Promise<LabState | null>>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  /**
   * The last activity write sent to the database, settled or not. Its deadline frees the flush,
   * not the database: the next write waits for it, so at most one bulk write per API process is
   * ever in flight (FerretDB v1 stopped answering with four or more in flight, see the store).
   */
  private lastWrite: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: {
      store: Store;
      client: Client;
      dependencies: Dependencies;
      metrics: ApiMetrics;
      logger: Logger;
    },
    private readonly options: HeartbeatOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.states = new LabStateCache(
      deps.store,
      deps.dependencies,
      deps.metrics,
      options.stateTtlMs,
    );
    this.signals = new SignalPacer(options.signalEveryMs, options.signalAtMostEveryMs ?? 60_000);
    this.timer = setInterval(() => void this.flush(), options.flushMs);
    this.timer.unref();
  }

  /**
   * 404 for a lab never launched, 409 for a deleted one; otherwise remembered for the next flush.
   * `tokenExpiredAt`: the caller's heartbeat token is past its expiry (see outlivedToken).
   */
  async accept(labId: string, tokenExpiredAt: Date | null = null): Promise<void> {
    if (tokenExpiredAt) await this.outlivedToken(labId, tokenExpiredAt);
    const state = (await this.states.get(labId)) ?? (await this.launchedButNotProjected(labId));
    if (state === null) throw notFound(`no lab ${labId}`);
    if (state === 'deleted') throw conflict(`lab ${labId} is deleted`, { state });
    const at = this.now();
    this.pending.set(labId, Math.max(at, this.pending.get(labId) ?? 0));
    this.countActive(labId, at);
    this.deps.metrics.heartbeatsReceived.inc();
    if (state === 'suspended' || state === 'suspending') this.wake(labId, state, at);
  }

  /**
   * A heartbeat token expires when its lab's life is due to end (maxLifetime), yet the lab lives
   * until its stack is deleted: a token of the lab's current life (expiring after that life
   * began) keeps being accepted until then, and the lab's state answers (409 once deleted). A
   * token that expired before the current life began is of an earlier life: 401. Rare (only
   * past a life's end), so read straight from the projection rather than the state cache.
   */
  private async outlivedToken(labId: string, expiredAt: Date): Promise<void> {
    const doc = await this.deps.dependencies.mongo('heartbeat token life', (deadline) =>
      this.deps.store.labs.lifeOf(labId, deadline),
    );
    if (doc?.state === 'deleted') throw conflict(`lab ${labId} is deleted`, { state: doc.state });
    if (!doc || doc.lifeStartedAt.getTime() >= expiredAt.getTime()) throw expiredHeartbeatToken();
  }

  /**
   * A running workflow without a projection yet is a lab just launched: `queued`. Its answer is
   * shared by the heartbeats that wait on it and remembered until the projection appears (see
   * LabStateCache.rememberUnprojected).
   */
  private launchedButNotProjected(labId: string): Promise<LabState | null> {
    // A lookup may have ended while this heartbeat's state read was on its way.
    if (this.states.isUnprojected(labId)) return Promise.resolve('queued');
    let lookup = this.lookups.get(labId);
    if (!lookup) {
      this.deps.metrics.heartbeatWorkflowLookups.inc();
      lookup = askUnprojectedLab(this.deps.dependencies, labId, 'heartbeat lab lookup', () =>
        isLabRunning(this.deps.client, labId),
      )
        .then((running) => {
          if (!running) return null;
          this.states.rememberUnprojected(labId);
          return 'queued' as const;
        })
        .finally(() => this.lookups.delete(labId));
      this.lookups.set(labId, lookup);
    }
    return lookup;
  }

  /** Up to ACTIVE_PER_HEARTBEAT_MS of activity before this heartbeat, since the lab's last one. */
  private countActive(labId: string, at: number): void {
    const since = at - (this.lastBeat.get(labId) ?? -Infinity);
    this.lastBeat.set(labId, at);
    // The course goes with the line, so a course's report reads its lines by course (FerretDB v1
    // serves an equality filter, not an `$in` of lab ids, without reading every document).
    const key = `${labId}|${dayOf(at)}|${this.states.courseOf(labId) ?? ''}`;
    const ms = Math.max(0, Math.min(since, ACTIVE_PER_HEARTBEAT_MS));
    this.activePending.set(key, (this.activePending.get(key) ?? 0) + ms);
  }

  /** Learner-active time counted since the last flush; kept for the next one on failure. */
  private async writeActive(): Promise<void> {
    for (const [labId, at] of this.lastBeat)
      if (this.now() - at > ACTIVE_PER_HEARTBEAT_MS) this.lastBeat.delete(labId);
    if (this.activePending.size === 0) return;
    const batch = this.activePending;
    this.activePending = new Map();
    const entries = [...batch].map(([key, ms]) => {
      // labId|day|courseId: lab ids and days have no "|", course ids may.
      const [labId, day] = key.split('|', 2) as [string, string];
      const courseId = key.slice(labId.length + day.length + 2);
      return { labId, day, ms, ...(courseId ? { courseId } : {}) };
    });
    try {
      await this.deps.dependencies.mongo('learner-active flush', (deadline) =>
        this.deps.store.usage.addActive(this.activeWriter, entries, deadline),
      );
    } catch {
      for (const [key, ms] of batch)
        this.activePending.set(key, (this.activePending.get(key) ?? 0) + ms);
    }
  }

  /** A heartbeat held here and not yet flushed, so the lab object shows it at once. */
  pendingAt(labId: string): number | undefined {
    return this.pending.get(labId);
  }

  /** Writes what is pending; on failure keeps it for the next flush. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
    await Promise.allSettled([...this.inFlight]);
  }

  private async write(): Promise<void> {
    this.states.sweep();
    this.signals.sweep(this.now());
    await this.writeActive();
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const entries = [...batch].map(([labId, at]): [string, Date] => [labId, new Date(at)]);
    // In chunks, each under its own deadline: a slow database (FerretDB v1 applies ~300 upserts
    // a second here) still makes progress, and reads of lab states interleave with the writes.
    for (let i = 0; i < entries.length; i += FLUSH_CHUNK) {
      const chunk = entries.slice(i, i + FLUSH_CHUNK);
      try {
        await this.deps.dependencies.mongo('heartbeat flush', async () => {
          await this.lastWrite;
          const write = this.deps.store.activity.recordMany(chunk);
          this.lastWrite = write.catch(() => undefined);
          await write;
        });
        this.deps.metrics.heartbeatWrites.inc(chunk.length);
      } catch {
        for (const [labId, at] of chunk)
          this.pending.set(labId, Math.max(at.getTime(), this.pending.get(labId) ?? 0));
      }
    }
    this.deps.metrics.heartbeatFlushes.inc();
    // Labs that went idle-suspended while their learner was away are noticed here, within one
    // flush of the learner's return, without a read per heartbeat.
    try {
      const states = await this.states.refresh(entries.map(([labId]) => labId));
      for (const [labId, at] of entries) {
        const state = states.get(labId);
        // The heartbeat's own time goes with the signal: the workflow resumes only for activity
        // that came after it began suspending.
        if (state === 'suspended' || state === 'suspending') this.wake(labId, state, at.getTime());
      }
    } catch {
      // The next flush refreshes again; cached states expire meanwhile.
    }
  }

  /** Fire and forget: the learner's 204 does not wait on Temporal. */
  private wake(labId: string, state: LabState, at: number): void {
    if (!this.signals.take(labId, state, at)) return;
    const sending = this.deps.dependencies
      .temporal('heartbeat signal', () => signalHeartbeat(this.deps.client, labId, at))
      .then(() => this.deps.metrics.heartbeatSignals.inc())
      .catch(() => {
        // Let the next heartbeat try again instead of waiting out the interval.
        this.signals.forget(labId);
        this.deps.logger.warn({ labId, workflowId: labId, state }, 'heartbeat signal failed');
      })
      .finally(() => this.inFlight.delete(sending));
    this.inFlight.add(sending);
  }
}
