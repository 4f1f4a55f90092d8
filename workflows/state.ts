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

export type LabAction = 'suspend' | 'reset' | 'delete' | 'retry';

/** Where each action may be asked for (anything else is a 409). */
export const ACTION_ALLOWED_IN: Record<LabAction, readonly LabState[]> = {
  suspend: ['ready', 'suspending', 'suspended'],
  reset: ['ready', 'suspended', 'failed'],
  delete: [
    'queued',
    'launching',
    'ready',
    'suspending',
    'suspended',
    'resuming',
    'resetting',
    'deleting',
    'failed',
  ],
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
