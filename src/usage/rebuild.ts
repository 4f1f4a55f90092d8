/**
 * The usage ledger rebuilt from the audit trail (`labctl usage rebuild`): the repair for a ledger
 * that went wrong, and the proof that it is derived data. Idempotent: a second run writes the
 * same lines. A lab's workflow may write while it runs; a line it has moved past what the
 * rebuild read is left as the workflow wrote it (src/store/usage.ts replaceLab), and so are
 * lines of days whose events the retention sweep has taken.
 */
import { seqOf, type LabEvent } from '../store/events';
import type { Store } from '../store';
import type { UsageOwner } from '../store/usage';
import { dayOf, daysBefore, usageOfInterval, usageOfTrail } from '../../workflows/usage';

export interface RebuildResult {
  /** Labs whose ledger was rebuilt. */
  labs: number;
  /** Ledger lines written. */
  lines: number;
  /** Labs left out: their events name no course or learner and their projection is gone. */
  skipped: number;
}

export async function rebuildLedger(
  store: Pick<Store, 'events' | 'usage' | 'labs'>,
  options: { labId?: string; maxTimeMS?: number } = {},
): Promise<RebuildResult> {
  const result: RebuildResult = { labs: 0, lines: 0, skipped: 0 };
  const deadline = options.maxTimeMS ? { maxTimeMS: options.maxTimeMS } : undefined;
  for await (const trail of store.events.trails(options.labId, deadline)) {
    const owner = ownerOf(trail) ?? (await ownerFromProjection(store, trail[0]!.labId));
    if (!owner) {
      result.skipped++;
      continue;
    }
    const covered = coveredFrom(trail[0]!);
    const countedTo = countedToByDay(trail);
    const days = usageOfTrail(
      trail.map((e) => ({
        at: e.at.getTime(),
        to: e.to,
        ...(e.charge ? { charge: e.charge } : {}),
      })),
    )
      .filter((d) => d.day >= covered)
      .map((d) => ({ ...d, countedTo: countedTo.get(d.day)! }));
    const seq = seqOf(trail[trail.length - 1]!);
    result.lines += await store.usage.replaceLab(owner, days, seq, covered);
    result.labs++;
  }
  return result;
}

/**
 * Per day, the end of the last interval that added to it (the event that closed it), as the
 * projection activity records it when it counts (`LedgerLine.countedTo`).
 */
function countedToByDay(trail: LabEvent[]): Map<string, Date> {
  const ends = new Map<string, Date>();
  for (let i = 1; i < trail.length; i++) {
    const prev = trail[i - 1]!;
    const next = trail[i]!;
    for (const d of usageOfInterval(prev.to, prev.at.getTime(), next.at.getTime(), 'learner'))
      ends.set(d.day, next.at);
  }
  return ends;
}

/**
 * The first day the trail tells all of. A trail that begins with a run's first event (from
 * nothing) is whole: nothing before it cost anything. One whose beginning the retention sweep
 * took (`retention.events`) tells its first day only in part, so that day's line, and those
 * before it, are left as they are.
 */
function coveredFrom(first: LabEvent): string {
  const day = dayOf(first.at.getTime());
  return first.from === null ? day : daysBefore(day, -1);
}

/** Whose lab, from the trail's own events (those written since the ledger carry it). */
function ownerOf(trail: LabEvent[]): UsageOwner | null {
  const e = trail.find((x) => x.courseId && x.learnerId && x.lab);
  return e ? { labId: e.labId, courseId: e.courseId!, learnerId: e.learnerId!, lab: e.lab! } : null;
}

async function ownerFromProjection(
  store: Pick<Store, 'labs'>,
  labId: string,
): Promise<UsageOwner | null> {
  const doc = await store.labs.get(labId);
  return doc ? { labId, courseId: doc.courseId, learnerId: doc.learnerId, lab: doc.lab } : null;
}
