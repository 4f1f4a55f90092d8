import type { Collection, Db } from 'mongodb';
import type { LabError, LabState } from '../../workflows/state';
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

  recent(labId: string, limit = 20, options?: QueryOptions): Promise<LabEvent[]> {
    return this.collection
      .find({ labId }, maxTime(options, 'request'))
      .sort({ at: -1 })
      .limit(limit)
      .toArray();
  }
}
