import type { Collection, Db } from 'mongodb';

/**
 * Provider capacity as one document per provider, changed only by single-document atomic
 * updates (which MongoDB and FerretDB both guarantee): `holders` lists the labs holding a
 * reservation and `used` is its length, so a reservation is one conditional $inc + $addToSet.
 */
export interface CapacityDocument {
  _id: string;
  used: number;
  holders: string[];
}

/** A lab waiting in `queued` for capacity, oldest first. */
export interface WaiterDocument {
  _id: string;
  /** The first provider of the lab's list: where it counts in `queued`. */
  provider: string;
  providers: string[];
  enqueuedAt: Date;
}

export class CapacityStore {
  readonly capacity: Collection<CapacityDocument>;
  readonly waiters: Collection<WaiterDocument>;

  constructor(db: Db) {
    this.capacity = db.collection<CapacityDocument>('capacity');
    this.waiters = db.collection<WaiterDocument>('capacity_waiters');
  }

  async ensureIndexes(): Promise<void> {
    await this.waiters.createIndex({ providers: 1, enqueuedAt: 1 });
  }

  /**
   * Reserves one slot on `provider` for `holder`, or returns false when it is full. Idempotent:
   * a holder that already has the slot (an activity retried after a lost answer) keeps it.
   * `limit` -1 means unlimited; 0 means disabled.
   */
  async reserve(provider: string, holder: string, limit: number): Promise<boolean> {
    if (limit === 0) return false;
    await this.capacity
      .updateOne({ _id: provider }, { $setOnInsert: { used: 0, holders: [] } }, { upsert: true })
      .catch(ignoreDuplicate);
    const filter =
      limit < 0
        ? { _id: provider, holders: { $ne: holder } }
        : { _id: provider, holders: { $ne: holder }, used: { $lt: limit } };
    const result = await this.capacity.updateOne(filter, {
      $inc: { used: 1 },
      $push: { holders: holder },
    });
    if (result.modifiedCount === 1) return true;
    return (await this.capacity.countDocuments({ _id: provider, holders: holder })) === 1;
  }

  /** Releases `holder`'s slot; a second release of the same slot changes nothing. */
  async release(provider: string, holder: string): Promise<void> {
    await this.capacity.updateOne(
      { _id: provider, holders: holder },
      { $inc: { used: -1 }, $pull: { holders: holder } },
    );
  }

  /** Which provider (if any) holds a reservation for `holder`. */
  async holderOf(holder: string): Promise<string | null> {
    const doc = await this.capacity.findOne({ holders: holder }, { projection: { _id: 1 } });
    return doc?._id ?? null;
  }

  async usage(): Promise<Map<string, number>> {
    const docs = await this.capacity.find({}, { projection: { used: 1 } }).toArray();
    return new Map(docs.map((d) => [d._id, d.used]));
  }

  async enqueue(labId: string, providers: string[], at: Date): Promise<void> {
    await this.waiters
      .updateOne(
        { _id: labId },
        { $setOnInsert: { provider: providers[0] ?? '', providers, enqueuedAt: at } },
        { upsert: true },
      )
      .catch(ignoreDuplicate);
  }

  async dequeue(labId: string): Promise<void> {
    await this.waiters.deleteOne({ _id: labId });
  }

  /** Labs waiting for `provider` enqueued before `labId` (first come, first served). */
  async waitingAhead(labId: string, provider: string): Promise<number> {
    const me = await this.waiters.findOne({ _id: labId });
    const filter = me
      ? { providers: provider, enqueuedAt: { $lt: me.enqueuedAt } }
      : { providers: provider };
    return this.waiters.countDocuments(filter);
  }

  oldestWaiters(provider: string, limit: number): Promise<WaiterDocument[]> {
    return this.waiters
      .find({ providers: provider })
      .sort({ enqueuedAt: 1 })
      .limit(limit)
      .toArray();
  }

  async queuedCounts(): Promise<Map<string, number>> {
    const docs = await this.waiters.find({}, { projection: { provider: 1 } }).toArray();
    const counts = new Map<string, number>();
    for (const d of docs) counts.set(d.provider, (counts.get(d.provider) ?? 0) + 1);
    return counts;
  }
}

function ignoreDuplicate(err: unknown): void {
  if ((err as { code?: number }).code !== 11000) throw err;
}
