import type { LabDocument } from '../../store';
import type { LabSnapshot } from '../../../workflows/state';
import type { ApiServices } from '../services';
import { presentLab, recordFromDocument, recordFromSnapshot } from './presenter';
import type { LabView } from './schema';

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

export async function viewOfDocument(api: ApiServices, doc: LabDocument): Promise<LabView> {
  const stored = await api.deps.mongo('read activity', () =>
    api.ctx.store.activity.lastActivityAt(doc._id),
  );
  return presentLab(recordFromDocument(doc), activityOf(api, doc._id, stored), api.ctx.config);
}

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
