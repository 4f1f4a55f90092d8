/**
 * Messages of the lab workflow, shared by the workflow and its callers (the API imports this
 * module, never lab.ts). Payloads carry a version so running labs keep understanding old callers.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { LabPolicy } from './policy';
import type { LabAction, LabSnapshot, LabState } from './state';
import type { OpenInterval } from './usage';

export const LAB_WORKFLOW_TYPE = 'labWorkflow';

export interface LaunchLabInput {
  version: 1;
}
export interface LabActionInput {
  version: 1;
  /** Who asked (e.g. "service", "admin", "retention"), for the audit trail. */
  requestedBy?: string;
}
export interface HeartbeatInput {
  version: 1;
  /** Epoch ms of the learner activity the API saw. */
  at: number;
}

/** Launch, resume, or retry: whatever brings the lab to ready. Answers at once with the state. */
export const launchLabUpdate = defineUpdate<LabSnapshot, [LaunchLabInput]>('launchLab');
/**
 * The same as a signal, which the API sends to a running lab (lab-client.ts requestLaunch): Temporal accepts it durably
 * without waiting for a workflow task, so a launch is answered whatever the worker's load.
 */
export const launchLabSignal = defineSignal<[LaunchLabInput]>('launch');
export const suspendLabUpdate = defineUpdate<LabSnapshot, [LabActionInput]>('suspendLab');
export const resetLabUpdate = defineUpdate<LabSnapshot, [LabActionInput]>('resetLab');
export const deleteLabUpdate = defineUpdate<LabSnapshot, [LabActionInput]>('deleteLab');
export const retryLabUpdate = defineUpdate<LabSnapshot, [LabActionInput]>('retryLab');
/**
 * The lab actions, defined once: the workflow registers one update handler per entry, the API's
 * routes and labctl's commands loop over them. Where each is allowed: state.ts ACTION_ALLOWED_IN.
 */
export const LAB_ACTION_UPDATES: Record<LabAction, typeof suspendLabUpdate> = {
  suspend: suspendLabUpdate,
  reset: resetLabUpdate,
  delete: deleteLabUpdate,
  retry: retryLabUpdate,
};
export interface RunChecksInput {
  version: 1;
  /** A subset of the lab's checks by name; all of them when absent. */
  names?: string[];
  requestedBy?: string;
}
/** A run of a lab's graded checks, as the workflow and its activities pass it around. */
export interface CheckRunInput {
  checkId: string;
  labId: string;
  lab: string;
  generation: number;
  names: string[] | null;
  /** Epoch ms. */
  startedAt: number;
}
/** What the workflow history keeps of a finished run: its id and score (results are in Mongo). */
export interface CheckRunOutcome {
  checkId: string;
  state: 'passed' | 'failed' | 'error';
  earned: number;
  possible: number;
}
/**
 * Runs the lab's checks, once it is ready: answers with the run's id once the run is recorded
 * (`running`); while a run is in progress, answers with that run. The main loop serves the run
 * like a stack action, so a suspend, reset or delete asked meanwhile waits for it.
 */
export const runChecksUpdate = defineUpdate<{ checkId: string }, [RunChecksInput]>('runChecks');
/** Only for heartbeats that must reach the workflow: a learner back on a suspended lab. */
export const heartbeatSignal = defineSignal<[HeartbeatInput]>('heartbeat');
/** Sent when a provider frees capacity, so queued labs retry at once instead of at their next poll. */
export const capacityFreedSignal =
  defineSignal<[{ version: 1; provider: string }]>('capacityFreed');
export const labStatusQuery = defineQuery<LabSnapshot>('labStatus');

/** The ApplicationFailure type an update validator throws for an action the state does not allow (HTTP 409). */
export const INVALID_STATE_ERROR = 'InvalidLabState';

export interface LabWorkflowInput {
  version: 1;
  labId: string;
  courseId: string;
  learnerId: string;
  lab: string;
  /** Present after continue-as-new: the lab's state carried over. */
  carried?: CarriedState;
}

/** Everything the workflow needs to go on after continue-as-new. */
export interface CarriedState {
  snapshot: LabSnapshot;
  intents: LabIntent[];
  lastActivityAt: number;
  seq: number;
  /**
   * The last policy the lab ran on (absent in runs from before it was carried): a lab removed
   * from the configuration goes on with it, secret output names included.
   */
  policy?: LabPolicy | null;
  /** Epoch ms before which an idle lab does not try a suspend again (Heat refused the last one). */
  suspendRetryAt?: number;
  /** Stacks whose create was never confirmed, still to be deleted by name. */
  unconfirmed?: Array<{ provider: string; stackName: string }>;
  /**
   * Carried by a run that continued as new while Heat kept failing a stack action: since when
   * (epoch ms) it has failed, and when the suspend in progress began.
   */
  failingSince?: number;
  suspendingSince?: number;
  /** The warnings already sent (lab-core.ts `warned`); absent: none. */
  warned?: Warned;
  /** The usage interval the last event opened (lab-core.ts `usageOpen`); absent: unknown. */
  usageOpen?: OpenInterval;
  /** Since when the lab runs on staff's account (lab-core.ts `staffSince`); absent: the learner's. */
  staffSince?: number;
  /** The state before the current one (lab-core.ts `enteredFrom`); absent: unknown. */
  enteredFrom?: LabState;
}

/**
 * Warnings and notices already given: the last suspend warning's time, the deletion deadline last
 * warned of, and per usage limit (`warn:<i>`, `reached:<i>`, `refused:<i>`) the allowance (ms)
 * it was given for, so a grant, which moves the allowance, arms it again.
 */
export interface Warned {
  suspendAt: number;
  deleteFor: number;
  usage?: Record<string, number>;
}

export type LabIntent = 'launch' | 'suspend' | 'reset' | 'delete' | 'retry' | 'resume' | 'check';
