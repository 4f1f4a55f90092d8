import type { Collection, Db } from 'mongodb';

/**
 * Learner activity, apart from the lab document: the API writes it (coalesced) and the lab
 * workflow reads it when its idle timer fires. Kept in its own collection so a heartbeat write
 * never races a state write on the same document (FerretDB v1 updates are read-modify-write).
 */
export interface ActivityDocument {
  _id: string;
  at: Date;
}

export class ActivityStore {
  readonly collection: Collection<ActivityDocument>;

  constructor(db: Db) {
    this.collection = db.collection<ActivityDocument>('lab_activity');
  }

  /** Only ever moves forward. */
  async record(labId: string, at: Date): Promise<void> {
    await this.collection
      .updateOne({ _id: labId }, { $max: { at } }, { upsert: true })
      .catch((err: { code?: number }) => {
        if (err.code !== 11000) throw err;
      });
  }

  async recordMany(entries: Array<[string, Date]>): Promise<void> {
    if (entries.length === 0) return;
    await this.collection.bulkWrite(
      entries.map(([labId, at]) => ({
        updateOne: { filter: { _id: labId }, update: { $max: { at } }, upsert: true },
      })),
      { ordered: false },
    );
  }

  async lastActivityAt(labId: string): Promise<Date | null> {
    return (await this.collection.findOne({ _id: labId }))?.at ?? null;
  }

  async many(labIds: string[]): Promise<Map<string, Date>> {
    const docs = await this.collection.find({ _id: { $in: labIds } }).toArray();
    return new Map(docs.map((d) => [d._id, d.at]));
  }
}
