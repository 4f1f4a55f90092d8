import { MongoBulkWriteError, type Collection, type Db } from 'mongodb';
import { maxTime, type QueryOptions } from './deadlines';
import { ignoreDuplicateKey, isDuplicateKey } from './duplicate-key';

/**
 * Learner activity, apart from the lab document: the API writes it (coalesced) and the lab
 * workflow reads it when its idle timer fires. Kept in its own collection so a heartbeat write
 * never races a state write on the same document (FerretDB v1 updates are read-modify-write).
 */
export interface ActivityDocument {
  _id: string;
  at: Date;
}

/**
 * Well under FerretDB v1's pooled connections (100 on SQLite; 200 on PostgreSQL, src/local/
 * mongo-server.ts), with room for other writers: each update holds one until its command ends.
 */
export const WRITES_PER_COMMAND = 25;

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
      const batch = entries.slice(i, i + WRITES_PER_COMMAND);
      const write = (part: Array<[string, Date]>) =>
        this.collection.bulkWrite(
          part.map(([labId, at]) => ({
            updateOne: { filter: { _id: labId }, update: { $max: { at } }, upsert: true },
          })),
          { ordered: false, ...maxTime(options, 'request') },
        );
      // Two API processes can flush the same new lab at once: both upserts insert and one gets
      // a duplicate key (MongoDB does so too). The document exists then, so those are written
      // again as updates; every other write of the batch is done, and `$max` makes this safe.
      await write(batch).catch((err: unknown) => {
        const failed = duplicateKeyWrites(err);
        if (!failed) throw err;
        return write(failed.map((index) => batch[index]!));
      });
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

/** The indexes of a bulk write's writes that failed, when every failure is a duplicate key. */
function duplicateKeyWrites(err: unknown): number[] | null {
  if (!(err instanceof MongoBulkWriteError)) return null;
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  if (errors.length === 0 || !errors.every((e) => isDuplicateKey(e))) return null;
  return errors.map((e) => e.index);
}
