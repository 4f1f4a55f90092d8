import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import {
  capacityFreedSignal,
  heartbeatSignal,
  LAB_ACTION_UPDATES,
  LAB_WORKFLOW_TYPE,
  labStatusQuery,
  launchLabSignal,
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

/** How a lab's workflow is started: the same for both forms of a launch. */
function startOptions(taskQueue: string, request: LaunchRequest) {
  const labId = labIdFor(request.courseId, request.learnerId, request.lab);
  const args: [LabWorkflowInput] = [{ version: 1, labId, ...request }];
  return {
    workflowId: labId,
    taskQueue,
    args,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: LabStateKey, value: 'queued' },
      { key: CourseIdKey, value: request.courseId },
      { key: LearnerIdKey, value: request.learnerId },
      { key: LabNameKey, value: request.lab },
    ],
    staticSummary: `Lab ${request.lab} of learner ${request.learnerId} in ${request.courseId}`,
  };
}

/**
 * Launches (or resumes, or retries) a learner's lab, as the API does, without waiting for a
 * worker: a start of its workflow, or, when it runs already, a `launch` signal to it. Both are
 * accepted durably by Temporal at once; one lab id has at most one running workflow, so
 * concurrent launches reach one workflow (and one stack), and a closed lab (deleted) starts a
 * new life under the same id. `started` says which happened: a new workflow is `queued`, so the
 * caller needs no read to answer (a storm of first launches costs the database nothing here).
 * (Signal-with-start does the same in one call, but its client does not say whether it started.)
 */
export async function requestLaunch(
  client: Client,
  taskQueue: string,
  request: LaunchRequest,
): Promise<{ labId: string; started: boolean }> {
  const options = startOptions(taskQueue, request);
  const labId = options.workflowId;
  for (let attempt = 1; ; attempt++) {
    try {
      await client.workflow.start(LAB_WORKFLOW_TYPE, {
        ...options,
        workflowIdConflictPolicy: 'FAIL',
      });
      return { labId, started: true };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    try {
      await client.workflow.getHandle(labId).signal(launchLabSignal, { version: 1 });
      return { labId, started: false };
    } catch (err) {
      // It ended between the two calls (a deleted lab's last moment): start it again.
      if (!isNoSuchLab(err) || attempt >= 3) throw err;
    }
  }
}

/**
 * The same launch, answered by the workflow itself (update-with-start): the lab's state after it
 * accepted, once a worker has run a workflow task. Tests use it to get the snapshot in one call.
 */
export async function launchLab(
  client: Client,
  taskQueue: string,
  request: LaunchRequest,
): Promise<LabSnapshot> {
  const start = new WithStartWorkflowOperation(LAB_WORKFLOW_TYPE, {
    ...startOptions(taskQueue, request),
    workflowIdConflictPolicy: 'USE_EXISTING',
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
