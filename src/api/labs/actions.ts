import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { LabDocument } from '../../store';
import { labIdFor } from '../../temporal/ids';
import {
  isLabRunning,
  isNoSuchLab,
  requestLabAction,
  requestLaunch,
  type LaunchRequest,
} from '../../temporal/lab-client';
import { INVALID_STATE_ERROR } from '../../../workflows/messages';
import type { LabAction, LabSnapshot } from '../../../workflows/state';
import type { Dependencies } from '../dependencies';
import { ApiError, conflict, notFound } from '../errors';
import type { ApiServices } from '../services';
import type { Principal } from '../auth/principal';

/**
 * Launch: a start of the lab's workflow or a signal to it (lab-client.ts requestLaunch), so
 * concurrent launches of one lab reach one workflow (across API processes too) and the answer
 * never waits for a worker; within this process concurrent launches of one lab are coalesced
 * into one call and one follow-up. Answers with the lab as it is now: `null` for a new workflow
 * (a new lab, or a deleted one starting a new life: `queued`), else its projection, read after
 * the signal; `GET /v1/labs/{id}?wait=` follows it from there.
 */
export async function launch(
  api: ApiServices,
  request: LaunchRequest,
): Promise<LabDocument | null> {
  const { client, taskQueue } = api.ctx.temporal;
  const labId = labIdFor(request.courseId, request.learnerId, request.lab);
  const { started } = await api.launches.run(labId, () =>
    api.deps.temporal('launch', () => requestLaunch(client, taskQueue, request)),
  );
  if (started) return null;
  const doc = await api.deps.mongo('read lab', () => api.ctx.store.labs.get(labId));
  return doc && doc.state !== 'deleted' ? doc : null;
}

/**
 * Existence of a lab for an action: its projection, or (right after its first launch, before
 * the workflow's first projection write) its workflow. Returns the projection when there is one.
 */
export async function requireLab(api: ApiServices, labId: string): Promise<LabDocument | null> {
  const doc = await api.deps.mongo('read lab', () => api.ctx.store.labs.get(labId));
  if (doc) return doc;
  await askUnprojectedLab(api.deps, labId, 'describe lab', () =>
    isLabRunning(api.ctx.temporal.client, labId),
  );
  return null;
}

/**
 * A lab launched a moment ago may have a workflow but no projection yet (its first write is an
 * activity): for an id Mongo does not know, `ask` its workflow, under the API's Temporal
 * deadline, before answering 404 (no workflow has that id either).
 */
export function askUnprojectedLab<T>(
  deps: Dependencies,
  labId: string,
  operation: string,
  ask: () => Promise<T>,
): Promise<T> {
  return deps.temporal(operation, ask, (err) =>
    isNoSuchLab(err) ? notFound(`no lab ${labId}`) : undefined,
  );
}

/**
 * Asks the lab workflow for an action. Its update validator decides what the state allows
 * (so the API never acts on a stale projection); a refusal, or a workflow that has ended (the
 * lab is deleted), is a 409.
 */
export function act(
  api: ApiServices,
  labId: string,
  action: LabAction,
  principal: Principal | null,
): Promise<LabSnapshot> {
  const requestedBy = principal?.kind ?? 'unknown';
  return api.deps.temporal(
    action,
    () => requestLabAction(api.ctx.temporal.client, labId, action, requestedBy),
    (err) => refusal(err, labId, action),
  );
}

/**
 * The lab's projection when `err` is the workflow's refusal of a delete because the lab is
 * already deleting or deleted, so DELETE can answer 202 with it; null for any other error. A
 * deleted lab's workflow refuses the update, or has ended (its history may even be gone), so
 * the answer comes from what the API knows: the projection, read again after the refusal.
 */
export async function alreadyDeleted(
  api: ApiServices,
  labId: string,
  err: unknown,
): Promise<LabDocument | null> {
  if (!(err instanceof ApiError) || err.status !== 409) return null;
  const doc = await api.deps.mongo('read lab', () => api.ctx.store.labs.get(labId));
  return doc && (doc.state === 'deleted' || doc.state === 'deleting') ? doc : null;
}

/**
 * The 409 for an update the lab workflow refused: its validator's INVALID_STATE_ERROR, or a
 * workflow that has ended or never was (the lab is deleted). Undefined for any other error.
 */
export function refusal(err: unknown, labId: string, action: string): ApiError | undefined {
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && cause.type === INVALID_STATE_ERROR)
      return conflict(cause.message, { action });
  }
  if (isNoSuchLab(err) || isCompletedWorkflowError(err))
    return conflict(`cannot ${action} lab ${labId}: it is deleted`, { action, state: 'deleted' });
  return undefined;
}

/** Temporal answers an update to a closed workflow with "workflow execution already completed". */
function isCompletedWorkflowError(err: unknown): boolean {
  return err instanceof Error && /already completed/i.test(err.message);
}
