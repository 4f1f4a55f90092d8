import type { LabDocument } from '../../store';
import type { LaunchRequest } from '../../temporal/lab-client';
import type { LabSnapshot } from '../../../workflows/state';
import type { ApiServices } from '../services';
import { presentLab, recordFromDocument, recordFromSnapshot } from './presenter';
import type { LabView } from './schema';
import { usageOfLab, type UsageView } from '../usage/view';

/** Stored learner activity and any heartbeat this process holds but has not flushed yet. */
function activityOf(
  api: ApiServices,
  labId: string,
  stored: Date | null | undefined,
): number | null {
  const pending = api.heartbeats.pendingAt(labId);
  const at = Math.max(stored?.getTime() ?? -Infinity, pending ?? -Infinity);
  return Number.isFinite(at) ? at : null;
}

/** One lab, with its `usage` when a usage limit applies to it. */
export async function viewOfDocument(api: ApiServices, doc: LabDocument): Promise<LabView> {
  const [stored, usage] = await Promise.all([
    api.deps.mongo('read activity', () => api.ctx.store.activity.lastActivityAt(doc._id)),
    usageOfLab(api, doc, doc),
  ]);
  return withUsage(
    presentLab(recordFromDocument(doc), activityOf(api, doc._id, stored), api.ctx.config),
    usage,
  );
}

const withUsage = (view: LabView, usage: UsageView | undefined): LabView =>
  usage ? { ...view, usage } : view;

export async function viewsOfDocuments(api: ApiServices, docs: LabDocument[]): Promise<LabView[]> {
  if (docs.length === 0) return [];
  const stored = await api.deps.mongo('read activity', () =>
    api.ctx.store.activity.many(docs.map((d) => d._id)),
  );
  return docs.map((doc) =>
    presentLab(
      recordFromDocument(doc),
      activityOf(api, doc._id, stored.get(doc._id)),
      api.ctx.config,
    ),
  );
}

/**
 * The lab a launch was just signalled to: its projection, or (none yet, or a deleted lab that
 * starts a new life) a lab `queued` now.
 */
export async function viewAfterLaunch(
  api: ApiServices,
  labId: string,
  request: LaunchRequest,
  doc: LabDocument | null,
): Promise<LabView> {
  const now = new Date();
  const record = doc
    ? recordFromDocument(doc)
    : {
        id: labId,
        ...request,
        state: 'queued' as const,
        provider: null,
        stack: null,
        outputs: {},
        progress: null,
        error: null,
        createdAt: now,
        updatedAt: now,
        lifeStartedAt: now,
        readyAt: null,
        suspendedAt: null,
        fromPool: false,
        statusReason: null,
      };
  // The launch itself is learner activity (the workflow counts it so too).
  return withUsage(
    presentLab(record, Math.max(activityOf(api, labId, null) ?? 0, now.getTime()), api.ctx.config),
    await usageOfLab(api, request, doc),
  );
}

/**
 * The lab after a workflow accepted a launch or an action: its answer, completed by the
 * projection when Mongo has it. The workflow has already acted, so a Mongo that fails now
 * costs only the extra fields, not the answer.
 */
export async function viewOfSnapshot(
  api: ApiServices,
  snapshot: LabSnapshot,
  doc?: LabDocument | null,
): Promise<LabView> {
  const [projection, stored] = await Promise.all([
    doc !== undefined
      ? Promise.resolve(doc)
      : api.deps.mongo('read lab', () => api.ctx.store.labs.get(snapshot.labId)).catch(() => null),
    api.deps
      .mongo('read activity', () => api.ctx.store.activity.lastActivityAt(snapshot.labId))
      .catch(() => null),
  ]);
  return presentLab(
    recordFromSnapshot(snapshot, projection, new Date()),
    activityOf(api, snapshot.labId, stored),
    api.ctx.config,
  );
}
