import { labPolicyOf, type Config } from '../../config';
import { labDeadlines } from '../../../workflows/policy';
import type { LabDocument } from '../../store';
import type { LabSnapshot } from '../../../workflows/state';
import type { LabView } from './schema';

/** The fields the lab object is made of, from the projection or from the workflow's own answer. */
export interface LabRecord {
  id: string;
  courseId: string;
  learnerId: string;
  lab: string;
  state: LabView['state'];
  provider: string | null;
  stack: LabView['stack'];
  outputs: Record<string, unknown>;
  progress: LabView['progress'];
  error: LabView['error'];
  createdAt: Date;
  updatedAt: Date;
  lifeStartedAt: Date;
  readyAt: Date | null;
  suspendedAt: Date | null;
  fromPool: boolean;
  statusReason: string | null;
}

export function recordFromDocument(doc: LabDocument): LabRecord {
  return {
    id: doc._id,
    courseId: doc.courseId,
    learnerId: doc.learnerId,
    lab: doc.lab,
    state: doc.state,
    provider: doc.provider,
    stack: doc.stack,
    outputs: doc.outputs ?? {},
    progress: doc.progress ?? null,
    error: doc.error,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
    lifeStartedAt: doc.lifeStartedAt,
    readyAt: doc.readyAt,
    suspendedAt: doc.suspendedAt,
    fromPool: doc.fromPool ?? false,
    statusReason: doc.statusReason ?? null,
  };
}

/**
 * An update's answer is the workflow's state at that moment, which the projection may not show
 * yet (or at all, right after the first launch): lifecycle fields come from the snapshot, and
 * the projection adds only what the workflow does not carry (creation time, build progress).
 */
export function recordFromSnapshot(
  snapshot: LabSnapshot,
  doc: LabDocument | null,
  now: Date,
): LabRecord {
  const sameState =
    doc !== null && doc.state === snapshot.state && doc.generation === snapshot.generation;
  return {
    id: snapshot.labId,
    courseId: snapshot.courseId,
    learnerId: snapshot.learnerId,
    lab: snapshot.lab,
    state: snapshot.state,
    provider: snapshot.provider,
    stack: snapshot.stack,
    outputs: snapshot.outputs,
    progress: sameState ? (doc.progress ?? null) : null,
    error: snapshot.error,
    createdAt: doc?.createdAt ?? new Date(snapshot.lifeStartedAt),
    updatedAt: sameState ? doc.updatedAt : now,
    lifeStartedAt: new Date(snapshot.lifeStartedAt),
    readyAt: snapshot.readyAt === null ? null : new Date(snapshot.readyAt),
    suspendedAt: snapshot.suspendedAt === null ? null : new Date(snapshot.suspendedAt),
    fromPool: snapshot.fromPool ?? false,
    statusReason: snapshot.statusReason ?? null,
  };
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const maxOf = (...values: Array<number | null | undefined>): number | null => {
  const present = values.filter((v): v is number => typeof v === 'number');
  return present.length === 0 ? null : Math.max(...present);
};

/**
 * The lab object of DESIGN. `activityAt` is the stored learner activity and any heartbeat this
 * process holds but has not flushed yet. suspendAt and deleteAt use the current configuration,
 * as the workflow does when it arms its timers.
 */
export function presentLab(record: LabRecord, activityAt: number | null, config: Config): LabView {
  const policy = labPolicyOf(config, record.lab);
  const lastActivityAt = maxOf(activityAt, record.readyAt?.getTime());
  // The workflow's own rule, so what the learner is told is when it happens.
  const deadlines = policy
    ? labDeadlines(
        {
          lastActivityAt,
          suspendedAt: record.suspendedAt?.getTime() ?? null,
          lifeStartedAt: record.lifeStartedAt.getTime(),
        },
        policy,
        Date.now(),
      )
    : null;
  let suspendAt: number | null = null;
  let deleteAt: number | null = null;
  if (deadlines && record.state === 'ready') suspendAt = deadlines.suspendAt;
  if (deadlines && record.state === 'suspended' && record.suspendedAt)
    deleteAt = deadlines.deleteAt;
  else if (deadlines && record.state !== 'deleted' && record.state !== 'deleting')
    deleteAt = Number.isFinite(deadlines.endOfLife) ? deadlines.endOfLife : null;
  return {
    id: record.id,
    courseId: record.courseId,
    learnerId: record.learnerId,
    lab: record.lab,
    state: record.state,
    provider: record.provider,
    stack: record.stack,
    outputs: record.outputs,
    progress: record.progress,
    error: record.error,
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
    lastActivityAt: iso(lastActivityAt),
    suspendAt: iso(suspendAt),
    deleteAt: iso(deleteAt),
    fromPool: record.fromPool,
    statusReason: record.statusReason,
  };
}
