import type { Collection, Db } from 'mongodb';
import { maxTime, type QueryOptions } from './deadlines';
import { ignoreDuplicateKey } from './duplicate-key';

/**
 * Learner activity, apart from the lab document: the API writes it (coalesced) and the lab
 * workflow reads it when its idle timer fires. Kept in its own collection so a heartbeat write
 * never races a state write on the same document (FerretDB v1 updates are read-modify-write).
 */
export interface ActivityDocument {
  _id: string;
  at: Date;
}

/** Well under FerretDB v1's 100 pooled connections per database, with room for other writers. */
const WRITES_PER_COMMAND = 25;

export class ActivityStore {
  /** @internal tests only: everything else goes through the named queries below. */
  readonly collection: Collection<ActivityDocument>;

  constructor(db: Db) {
    this.collection = db.collection<ActivityDocument>('lab_activity');
  }

  /** Only ever moves forward. */
  async record(labId: string, at: Date, options?: QueryOptions): Promise<void> {
    await this.collection
      .updateOne(
        { _id: labId },
        { $max: { at } },
        { upsert: true, ...maxTime(options, 'activity') },
      )
      .catch(ignoreDuplicateKey);
  }

  /**
   * Many labs' times in a few round trips. FerretDB v1 (SQLite) keeps one pooled connection per
   * update of an existing document until the whole command ends, and its pool has 100: one
   * bulk write of 150 updates waited forever, and every later query on the database with it
   * (`npm test`: test/unit/store.test.ts). So at most WRITES_PER_COMMAND per command.
   */
  async recordMany(entries: Array<[string, Date]>, options?: QueryOptions): Promise<void> {
    for (let i = 0; i < entries.length; i += WRITES_PER_COMMAND) {
      await this.collection.bulkWrite(
        entries.slice(i, i + WRITES_PER_COMMAND).map(([labId, at]) => ({
          updateOne: { filter: { _id: labId }, update: { $max: { at } }, upsert: true },
        })),
        { ordered: false, ...maxTime(options, 'request') },
      );
    }
  }

  async lastActivityAt(labId: string, options?: QueryOptions): Promise<Date | null> {
    return (await this.collection.findOne({ _id: labId }, maxTime(options, 'request')))?.at ?? null;
  }

  async many(labIds: string[], options?: QueryOptions): Promise<Map<string, Date>> {
    const docs = await this.collection
      .find({ _id: { $in: labIds } }, maxTime(options, 'request'))
      .toArray();
    return new Map(docs.map((d) => [d._id, d.at]));
  }
}
