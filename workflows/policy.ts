/** Values the workflow and the API must agree on. */

/**
 * The API writes heartbeats coalesced (at most one write per lab per flush interval), so the
 * stored lastActivityAt may trail the learner's last heartbeat by up to that interval. The
 * workflow waits this much longer than idleTimeout before it suspends, so it never suspends
 * early; with the default 5 s flush the suspension still lands within idleTimeout + 30 s.
 */
export function idleSlackFor(heartbeatFlushMs: number): number {
  return 2 * heartbeatFlushMs;
}

/** The current policy of a lab, read from the worker's configuration each time a timer is armed. */
export interface LabPolicy {
  providers: string[];
  launchTimeout: number;
  idleTimeout: number;
  deleteAfter: number;
  maxLifetime: number | null;
  /** Extra wait after idleTimeout, covering the API's heartbeat coalescing. */
  idleSlack: number;
  /** A waiting lab wakes at least this often to re-read its policy. */
  refreshEvery: number;
  /** The lab has a warm pool: a launch first tries to claim one of its stacks. Absent in old histories. */
  pooled?: boolean;
  /**
   * Outputs sealed and kept out of history. Absent in old histories: the activity then asks the
   * configuration, and treats every output as secret for a lab no longer in it.
   */
  secretOutputs?: string[];
  /**
   * Lifecycle events of this lab that webhook endpoints want, by endpoint name, and the warnings'
   * lead times (null: none). Absent in histories from before events: no events, no warnings.
   */
  events?: {
    webhooks: Array<{ endpoint: string; types: string[] }>;
    suspendWarning: number | null;
    deleteWarning: number | null;
  };
  /** Some usage limit may apply to the lab (src/usage/verdict.ts says which). Absent: none. */
  usageLimited?: boolean;
  /** Which in-lab hooks the lab has (the scripts stay in the configuration). Absent: none. */
  hooks?: {
    postResume: boolean;
    preSuspend: boolean;
    preDelete: boolean;
    /** A suspended stack is resumed to run preDelete before it is deleted. */
    preDeleteResumes: boolean;
  };
}

/** What a lab's deadlines depend on: the projection has all of it, the workflow too. */
export interface LabTimes {
  /** The latest learner activity known (heartbeats, the time it became ready, launches). */
  lastActivityAt: number | null;
  suspendedAt: number | null;
  lifeStartedAt: number;
  /** Before this an idle lab does not try to suspend again (Heat refused the last suspend). */
  suspendRetryAt?: number;
}

export interface LabDeadlines {
  /** When a ready lab is suspended for idleness (idleTimeout + idleSlack after its activity). */
  suspendAt: number | null;
  /** When a suspended lab is deleted: deleteAfter in `suspended`, or maxLifetime. */
  deleteAt: number;
  /** Why at deleteAt: retention ends first (a tie counts as retention), or the lab's life. */
  deleteFor: 'deleteAfter' | 'maxLifetime';
  /** The end of the lab's life (maxLifetime from lifeStartedAt), Infinity without one. */
  endOfLife: number;
}

/**
 * The one rule for a lab's deadlines: the workflow arms its timers with it and the API shows
 * the same instants as `suspendAt` and `deleteAt`. `suspendAt` is for a ready lab, `deleteAt`
 * for a suspended one (with no suspendedAt, from `now`, as a lab suspended just now).
 */
export function labDeadlines(
  times: LabTimes,
  policy: Pick<LabPolicy, 'idleTimeout' | 'idleSlack' | 'deleteAfter' | 'maxLifetime'>,
  now: number,
): LabDeadlines {
  const endOfLife =
    policy.maxLifetime === null
      ? Number.POSITIVE_INFINITY
      : times.lifeStartedAt + policy.maxLifetime;
  const suspendAt =
    times.lastActivityAt === null
      ? null
      : Math.max(
          times.lastActivityAt + policy.idleTimeout + policy.idleSlack,
          times.suspendRetryAt ?? 0,
        );
  const retention = (times.suspendedAt ?? now) + policy.deleteAfter;
  const deleteAt = Math.min(retention, endOfLife);
  return {
    suspendAt,
    deleteAt,
    deleteFor: deleteAt === retention ? 'deleteAfter' : 'maxLifetime',
    endOfLife,
  };
}

/** Heat stack names: deterministic per lab and generation, valid for Heat (^[a-zA-Z][a-zA-Z0-9_.-]*$, <= 255). */
export function stackNameFor(lab: string, labId: string, generation: number): string {
  return `${lab}-${labId.replace(/^lab_/, '')}-g${generation}`;
}
