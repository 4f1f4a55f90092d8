import type { Collection, Db } from 'mongodb';

/**
 * Provider capacity as slot documents: a reservation is the insert of `{provider}/{n}` for a
 * free n below the provider's capacity, and the unique `_id` (plus a unique index on `holder`)
 * is what makes it atomic. Counters updated in place would be simpler, but FerretDB v1 on
 * SQLite applies updates as read-modify-write (100 concurrent `$inc` on one document left it at
 * 4 here), so only inserts against unique indexes are safe on both servers.
 */
export interface SlotDocument {
  _id: string;
  provider: string;
  holder: string;
  at: Date;
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
  readonly slots: Collection<SlotDocument>;
  readonly waiters: Collection<WaiterDocument>;

  constructor(db: Db) {
    this.slots = db.collection<SlotDocument>('capacity_slots');
    this.waiters = db.collection<WaiterDocument>('capacity_waiters');
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([
      this.slots.createIndex({ holder: 1 }, { unique: true }),
      this.slots.createIndex({ provider: 1 }),
      this.waiters.createIndex({ providers: 1, enqueuedAt: 1 }),
    ]);
  }

  /**
   * Reserves one slot on `provider` for `holder`, or returns false when it is full. Idempotent:
   * a holder that already has a slot there (an activity retried after a lost answer) keeps it.
   * `limit` -1 means unlimited; 0 means disabled.
   */
  async reserve(
    provider: string,
    holder: string,
    limit: number,
    now = new Date(),
  ): Promise<boolean> {
    const held = await this.slots.findOne({ holder });
    if (held) return held.provider === provider;
    if (limit === 0) return false;
    if (limit < 0) return this.claim(`${provider}/u-${holder}`, provider, holder, now);
    const taken = new Set(
      (await this.slots.find({ provider }, { projection: { _id: 1 } }).toArray()).map((d) => d._id),
    );
    for (let n = 0; n < limit; n++) {
      const id = `${provider}/${n}`;
      if (taken.has(id)) continue;
      if (await this.claim(id, provider, holder, now)) return true;
      // Lost the race for this slot, or this holder got a slot meanwhile: look again.
      const mine = await this.slots.findOne({ holder });
      if (mine) return mine.provider === provider;
    }
    return false;
  }

  private async claim(id: string, provider: string, holder: string, at: Date): Promise<boolean> {
    try {
      await this.slots.insertOne({ _id: id, provider, holder, at });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 11000) return false;
      throw err;
    }
  }

  /** Releases `holder`'s slot; a second release changes nothing. */
  async release(provider: string, holder: string): Promise<void> {
    await this.slots.deleteOne({ provider, holder });
  }

  /** Which provider (if any) holds a reservation for `holder`. */
  async holderOf(holder: string): Promise<string | null> {
    return (await this.slots.findOne({ holder }))?.provider ?? null;
  }

  /** Slots still free on `provider` (Infinity when unlimited). */
  async free(provider: string, limit: number): Promise<number> {
    if (limit < 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, limit - (await this.slots.countDocuments({ provider })));
  }

  async usage(): Promise<Map<string, number>> {
    const docs = await this.slots.find({}, { projection: { provider: 1 } }).toArray();
    const counts = new Map<string, number>();
    for (const d of docs) counts.set(d.provider, (counts.get(d.provider) ?? 0) + 1);
    return counts;
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
