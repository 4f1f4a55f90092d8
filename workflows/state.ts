/** The lab lifecycle of DESIGN.md: the API's `state` field and the LabState search attribute. */
export const LAB_STATES = [
  'queued',
  'launching',
  'ready',
  'suspending',
  'suspended',
  'resuming',
  'resetting',
  'deleting',
  'deleted',
  'failed',
] as const;
export type LabState = (typeof LAB_STATES)[number];

/** States in which a stack action is under way; a new action waits for it to settle. */
export const TRANSITIONAL_STATES: readonly LabState[] = [
  'queued',
  'launching',
  'suspending',
  'resuming',
  'resetting',
  'deleting',
];

/**
 * The lifecycle on one page: every state change the lab workflow makes (from -> to). The
 * triggers and the methods that make each are in docs/architecture.md ("Transitions"). An audit
 * line with from === to is a note (a retry, a failover to the next provider), not a change; the
 * first transition of a run is from none to `queued`. test/unit/lifecycle-table.test.ts checks
 * every recorded history against this table, and the soak checks its audit trail.
 */
export const LAB_TRANSITIONS: Record<LabState, readonly LabState[]> = {
  // capacity reserved: a build starts (or a pool stack is claimed); unknown lab; delete
  queued: ['launching', 'resetting', 'resuming', 'failed', 'deleting'],
  // no room on the first try; created and outputs read; no provider left; delete
  launching: ['queued', 'ready', 'failed', 'deleting'],
  resetting: ['queued', 'ready', 'failed', 'deleting'],
  // as a build, plus a reset asked while Heat held the resume up
  resuming: ['queued', 'ready', 'failed', 'deleting', 'resetting'],
  // idle or asked; reset; delete or maxLifetime
  ready: ['suspending', 'resetting', 'deleting'],
  // done (or stack gone); refused by Heat; learner back, reset, delete while Heat held it up;
  // no stack (and a failed suspend in labs from before survive-heat-outages)
  suspending: ['suspended', 'ready', 'resuming', 'resetting', 'deleting', 'failed'],
  // learner back; reset; delete, deleteAfter or maxLifetime
  suspended: ['resuming', 'resetting', 'deleting'],
  failed: ['queued', 'resetting', 'deleting'],
  deleting: ['deleted'],
  // a launch accepted while deleting starts a new life in the same run
  deleted: ['queued'],
};

/** Whether the workflow may move a lab from `from` (null: a new run) to `to`. */
export function isTransition(from: LabState | null, to: LabState): boolean {
  if (from === null) return to === 'queued';
  return from === to || LAB_TRANSITIONS[from].includes(to);
}

export type LabAction = 'suspend' | 'reset' | 'delete' | 'retry';

/** Where each action may be asked for (anything else is a 409). */
export const ACTION_ALLOWED_IN: Record<LabAction, readonly LabState[]> = {
  suspend: ['ready', 'suspending', 'suspended'],
  reset: ['ready', 'suspended', 'failed'],
  // Anything but a lab already deleted (a delete is how staff end a lab stuck anywhere).
  delete: LAB_STATES.filter((s) => s !== 'deleted'),
  retry: ['failed'],
};

export function isActionAllowed(action: LabAction, state: LabState): boolean {
  return ACTION_ALLOWED_IN[action].includes(state);
}

export interface LabError {
  /**
   * Stable, machine-readable: create_failed, launch_timeout, quota, bad_template, no_provider,
   * unknown_lab, stack_gone, no_stack, suspend_failed (old labs), heat_unavailable, heat_timeout,
   * heat_unauthorized, heat_error (lab.ts labErrorOf maps failure types to them).
   */
  code: string;
  message: string;
}

export interface StackInfo {
  id: string;
  name: string;
  status: string;
  statusReason: string;
}

/**
 * The lab workflow's own view of its lab (what the labStatus query and every update return).
 * Non-secret only: secrets never enter workflow state.
 */
export interface LabSnapshot {
  labId: string;
  courseId: string;
  learnerId: string;
  lab: string;
  state: LabState;
  generation: number;
  provider: string | null;
  stack: StackInfo | null;
  outputs: Record<string, unknown>;
  error: LabError | null;
  /** Epoch ms: when the current life began (maxLifetime counts from here). */
  lifeStartedAt: number;
  readyAt: number | null;
  suspendedAt: number | null;
  /**
   * Why the lab is not moving, while a stack action waits out Heat (e.g. "Heat unavailable since
   * 12:03:10Z, retrying at ..."); null once the action went through. Absent in older labs.
   */
  statusReason?: string | null;
  /** The current stack was claimed from the lab's warm pool (absent in labs from before pools). */
  fromPool?: boolean;
  /**
   * Who holds the stack's capacity slot when it is not the lab itself: a stack claimed from a
   * pool keeps the slot the pool reserved under the stack's name.
   */
  capacityHolder?: string | null;
}
