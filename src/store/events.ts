import type { Collection, Db } from 'mongodb';
import type { LabError, LabState } from '../../workflows/state';
import type { Charge } from '../../workflows/usage';
import { maxTime, type QueryOptions } from './deadlines';
import { isDuplicateKey } from './duplicate-key';

/** One lifecycle transition of a lab: the audit trail support staff read with `labctl show`. */
export interface LabEvent {
  /** labId:seq, so a retried write of the same transition is stored once. */
  _id: string;
  labId: string;
  at: Date;
  from: LabState | null;
  to: LabState;
  generation: number;
  provider: string | null;
  reason: string;
  error: LabError | null;
  /** Whose lab (absent in events from before the usage ledger): a ledger rebuild needs no join. */
  courseId?: string;
  learnerId?: string;
  lab?: string;
  /** Running time from this event on is staff's, not the learner's (absent: the learner's). */
  charge?: Charge;
}

export class EventsStore {
  /** @internal tests and benchmarks only: everything else goes through the named queries below. */
  readonly collection: Collection<LabEvent>;

  constructor(db: Db) {
    this.collection = db.collection<LabEvent>('events');
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([
      this.collection.createIndex({ labId: 1, at: -1 }),
      // The retention sweep's filter (MongoDB; FerretDB v1 scans whatever the index).
      this.collection.createIndex({ at: 1 }),
    ]);
  }

  async record(event: LabEvent, options?: QueryOptions): Promise<void> {
    try {
      await this.collection.insertOne(event, maxTime(options, 'activity'));
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }

  /** A lab's latest event before event `seq` (null: none). */
  async lastBefore(labId: string, seq: number, options?: QueryOptions): Promise<LabEvent | null> {
    const latest = await this.collection
      .find({ labId }, maxTime(options, 'activity'))
      .sort({ at: -1 })
      .limit(3)
      .toArray();
    return (
      latest
        .sort(bySeq)
        .reverse()
        .find((e) => seqOf(e) < seq) ?? null
    );
  }

  /**
   * Every lab's audit trail, one lab at a time, each in order: what a ledger rebuild reads.
   * `labId` narrows it to one lab.
   */
  async *trails(labId?: string, options?: QueryOptions): AsyncGenerator<LabEvent[]> {
    const cursor = this.collection
      .find(labId ? { labId } : {}, maxTime(options, 'sweep'))
      .sort({ labId: 1, at: 1 });
    let trail: LabEvent[] = [];
    for await (const event of cursor) {
      if (trail.length > 0 && trail[0]!.labId !== event.labId) {
        yield trail.sort(bySeq);
        trail = [];
      }
      trail.push(event);
    }
    if (trail.length > 0) yield trail.sort(bySeq);
  }

  recent(labId: string, limit = 20, options?: QueryOptions): Promise<LabEvent[]> {
    return this.collection
      .find({ labId }, maxTime(options, 'request'))
      .sort({ at: -1 })
      .limit(limit)
      .toArray();
  }
}

/** The seq of an event, from its _id (labId:seq). */
export const seqOf = (event: Pick<LabEvent, '_id'>) =>
  Number(event._id.slice(event._id.lastIndexOf(':') + 1));

const bySeq = (a: LabEvent, b: LabEvent) => seqOf(a) - seqOf(b);
