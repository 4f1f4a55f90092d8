import type { Collection, Db } from 'mongodb';
import type { Envelope } from '../secrets/envelope';
import { maxTime, type QueryOptions } from './deadlines';

/** A lab's secret stack outputs, each sealed; never in the lab projection, logs or workflow history. */
export interface SecretsDocument {
  _id: string;
  generation: number;
  secrets: Record<string, Envelope>;
  updatedAt: Date;
}

export class SecretsStore {
  readonly collection: Collection<SecretsDocument>;

  constructor(db: Db) {
    this.collection = db.collection<SecretsDocument>('secrets');
  }

  /**
   * Stores the secrets of the lab's stack of `generation`, unless a newer generation's are
   * already there: a late retry of an old stack's readOutputs must not replace the current
   * stack's secrets. The same generation writes again (a retry whose first answer was lost).
   * When the stored generation is newer the filter matches nothing and the upsert collides with
   * the unique `_id`: an insert decides, on MongoDB and FerretDB alike.
   */
  async put(
    labId: string,
    generation: number,
    secrets: Record<string, Envelope>,
    now: Date,
    options?: QueryOptions,
  ): Promise<void> {
    try {
      await this.collection.updateOne(
        { _id: labId, generation: { $lte: generation } },
        { $set: { generation, secrets, updatedAt: now } },
        { upsert: true, ...maxTime(options, 'activity') },
      );
    } catch (err) {
      if ((err as { code?: number }).code !== 11000) throw err;
    }
  }

  get(labId: string, options?: QueryOptions): Promise<SecretsDocument | null> {
    return this.collection.findOne({ _id: labId }, maxTime(options, 'request'));
  }

  async remove(labId: string, options?: QueryOptions): Promise<void> {
    await this.collection.deleteOne({ _id: labId }, maxTime(options, 'activity'));
  }
}
