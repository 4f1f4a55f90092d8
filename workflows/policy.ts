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
}

/** Heat stack names: deterministic per lab and generation, valid for Heat (^[a-zA-Z][a-zA-Z0-9_.-]*$, <= 255). */
export function stackNameFor(lab: string, labId: string, generation: number): string {
  return `${lab}-${labId.replace(/^lab_/, '')}-g${generation}`;
}
