import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  capacityFreedSignal,
  heartbeatSignal,
  LAB_ACTION_UPDATES,
  LAB_WORKFLOW_TYPE,
  labStatusQuery,
  launchLabUpdate,
  runChecksUpdate,
  type LabWorkflowInput,
} from '../../workflows/messages';
import {
  CourseIdKey,
  LabNameKey,
  LabStateKey,
  LearnerIdKey,
} from '../../workflows/search-attributes';
import type { LabAction, LabSnapshot } from '../../workflows/state';
import { labIdFor } from './ids';

/**
 * The lab workflow as its callers outside the worker see it (the API, the capacity activities):
 * every start, update, query, signal and describe of a lab's workflow goes through here. The
 * workflow id is the lab id.
 */

export interface LaunchRequest {
  courseId: string;
  learnerId: string;
  lab: string;
}

/**
 * Launches (or resumes, or retries) a learner's lab. Update-with-start makes start-or-deliver
 * atomic: concurrent launches of one lab reach one workflow (and so one stack), a closed lab
 * starts a new life under the same id, and the answer is the lab's state after accepting.
 */
export async function launchLab(
  client: Client,
  taskQueue: string,
  request: LaunchRequest,
): Promise<LabSnapshot> {
  const labId = labIdFor(request.courseId, request.learnerId, request.lab);
  const args: [LabWorkflowInput] = [{ version: 1, labId, ...request }];
  const start = new WithStartWorkflowOperation(LAB_WORKFLOW_TYPE, {
    workflowId: labId,
    taskQueue,
    args,
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    typedSearchAttributes: [
      { key: LabStateKey, value: 'queued' },
      { key: CourseIdKey, value: request.courseId },
      { key: LearnerIdKey, value: request.learnerId },
      { key: LabNameKey, value: request.lab },
    ],
    staticSummary: `Lab ${request.lab} of learner ${request.learnerId} in ${request.courseId}`,
  });
  return client.workflow.executeUpdateWithStart(launchLabUpdate, {
    args: [{ version: 1 }],
    startWorkflowOperation: start,
  });
}

/** Asks the lab for an action; the workflow's update validator decides what its state allows. */
export function requestLabAction(
  client: Client,
  labId: string,
  action: LabAction,
  requestedBy: string,
): Promise<LabSnapshot> {
  return client.workflow
    .getHandle(labId)
    .executeUpdate(LAB_ACTION_UPDATES[action], { args: [{ version: 1, requestedBy }] });
}

/** Asks the lab for a run of its graded checks (or the run in progress): the run's id. */
export async function requestCheckRun(
  client: Client,
  labId: string,
  names: string[] | undefined,
  requestedBy: string,
): Promise<string> {
  const { checkId } = await client.workflow.getHandle(labId).executeUpdate(runChecksUpdate, {
    args: [{ version: 1, requestedBy, ...(names ? { names } : {}) }],
  });
  return checkId;
}

/** The workflow's own snapshot of the lab (its `labStatus` query). */
export function queryLabStatus(client: Client, labId: string): Promise<LabSnapshot> {
  return client.workflow.getHandle(labId).query(labStatusQuery);
}

/** Whether the lab's workflow still runs: a describe, which wakes nothing. */
export async function isLabRunning(client: Client, labId: string): Promise<boolean> {
  return (await client.workflow.getHandle(labId).describe()).status.name === 'RUNNING';
}

/** A learner's activity on a suspended lab, at `at` (epoch ms): the workflow resumes it. */
export async function signalHeartbeat(client: Client, labId: string, at: number): Promise<void> {
  await client.workflow.getHandle(labId).signal(heartbeatSignal, { version: 1, at });
}

/** No workflow has the lab's id: never launched, or its history is gone. */
export function isNoSuchLab(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError;
}

/** Whether a lab's workflow still runs; false when there is none. */
export function labLiveness(client: Client): (labId: string) => Promise<boolean> {
  return async (labId) => {
    try {
      return await isLabRunning(client, labId);
    } catch (err) {
      if (isNoSuchLab(err)) return false;
      throw err;
    }
  };
}

/**
 * Tells a queued lab that capacity was freed. False when its workflow is gone (closed, or never
 * started): the caller removes its queue entry, which would otherwise block the labs behind it
 * (first come, first served) and the pools' refills forever.
 */
export function queuedLabWaker(
  client: Client,
): (labId: string, provider: string) => Promise<boolean> {
  return async (labId, provider) => {
    try {
      await client.workflow.getHandle(labId).signal(capacityFreedSignal, { version: 1, provider });
      return true;
    } catch (err) {
      if (isNoSuchLab(err)) return false;
      throw err;
    }
  };
}
