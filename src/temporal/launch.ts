import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import {
  LAB_WORKFLOW_TYPE,
  launchLabUpdate,
  type LabWorkflowInput,
} from '../../workflows/messages';
import {
  CourseIdKey,
  LabNameKey,
  LabStateKey,
  LearnerIdKey,
} from '../../workflows/search-attributes';
import type { LabSnapshot } from '../../workflows/state';
import { labIdFor } from './ids';

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
