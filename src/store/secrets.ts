import type { Collection, Db } from 'mongodb';
import type { Envelope } from '../secrets/envelope';
import { maxTime, type QueryOptions } from './deadlines';
import { isDuplicateKey } from './duplicate-key';

/** A lab's secret stack outputs, each sealed; never in the lab projection, logs or workflow history. */
export interface SecretsDocument {
  _id: string;
  generation: number;
  secrets: Record<string, Envelope>;
  updatedAt: Date;
}

export class SecretsStore {
  /** @internal tests only: everything else goes through the named queries below. */
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
      if (!isDuplicateKey(err)) throw err;
    }
  }

  get(labId: string, options?: QueryOptions): Promise<SecretsDocument | null> {
    return this.collection.findOne({ _id: labId }, maxTime(options, 'request'));
  }

  async remove(labId: string, options?: QueryOptions): Promise<void> {
    await this.collection.deleteOne({ _id: labId }, maxTime(options, 'activity'));
  }

  /** Up to `limit` labs' secrets in `_id` order, after `after` (from the first when null). */
  pageAfter(
    after: string | null,
    limit: number,
    options?: QueryOptions,
  ): Promise<SecretsDocument[]> {
    return this.collection
      .find(after === null ? {} : { _id: { $gt: after } }, maxTime(options, 'sweep'))
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
  }

  /**
   * Replaces the sealed secrets of `doc` with `secrets` unless the document changed since it was
   * read (a new generation or a new write): false then, and nothing is written.
   */
  async resealIfUnchanged(
    doc: SecretsDocument,
    secrets: Record<string, Envelope>,
    options?: QueryOptions,
  ): Promise<boolean> {
    const result = await this.collection.updateOne(
      { _id: doc._id, generation: doc.generation, updatedAt: doc.updatedAt },
      { $set: { secrets } },
      maxTime(options, 'sweep'),
    );
    return result.matchedCount === 1;
  }
}
