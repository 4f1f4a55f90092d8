import type { Collection, Db } from 'mongodb';
import { ignoreDuplicateKey, isDuplicateKey } from './duplicate-key';

/**
 * Provider capacity as one document per lab holding a reservation (`_id` = the lab), naming a
 * slot `{provider}/{n}` with n below the provider's capacity. A unique index on `slot` is what
 * makes a reservation atomic: counters updated in place would be simpler, but FerretDB v1 on
 * SQLite applies updates as read-modify-write (100 concurrent `$inc` on one document left it at
 * 4 here), so only inserts against unique indexes are safe on both servers. Lookups go by `_id`
 * because FerretDB v1 scans the collection for any other filter.
 */
export interface HolderDocument {
  _id: string;
  provider: string;
  slot: string;
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
  /** @internal tests only (holders and waiters): everything else goes through the methods below. */
  readonly holders: Collection<HolderDocument>;
  readonly waiters: Collection<WaiterDocument>;

  constructor(db: Db) {
    this.holders = db.collection<HolderDocument>('capacity_holders');
    this.waiters = db.collection<WaiterDocument>('capacity_waiters');
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([
      this.holders.createIndex({ slot: 1 }, { unique: true }),
      this.holders.createIndex({ provider: 1 }),
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
    /** The caller has just looked (`holderOf`) and found no slot: no second look. */
    knownFree = false,
  ): Promise<boolean> {
    if (!knownFree) {
      const held = await this.holders.findOne({ _id: holder });
      if (held) return held.provider === provider;
    }
    if (limit === 0) return false;
    if (limit < 0) return this.claim(holder, provider, `${provider}/u-${holder}`, now);
    const taken = new Set(
      (await this.holders.find({ provider }, { projection: { slot: 1 } }).toArray()).map(
        (d) => d.slot,
      ),
    );
    for (let n = 0; n < limit; n++) {
      const slot = `${provider}/${n}`;
      if (taken.has(slot)) continue;
      if (await this.claim(holder, provider, slot, now)) return true;
      // Lost the race for this slot, or this holder got a slot meanwhile: look again.
      const mine = await this.holders.findOne({ _id: holder });
      if (mine) return mine.provider === provider;
    }
    return false;
  }

  private async claim(holder: string, provider: string, slot: string, at: Date): Promise<boolean> {
    try {
      await this.holders.insertOne({ _id: holder, provider, slot, at });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /** Releases `holder`'s slot; a second release changes nothing. */
  async release(provider: string, holder: string): Promise<void> {
    await this.holders.deleteOne({ _id: holder, provider });
  }

  /** Which provider (if any) holds a reservation for `holder`. */
  async holderOf(holder: string): Promise<string | null> {
    return (await this.holders.findOne({ _id: holder }))?.provider ?? null;
  }

  /** Slots still free on `provider` (Infinity when unlimited). */
  async free(provider: string, limit: number): Promise<number> {
    if (limit < 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, limit - (await this.holders.countDocuments({ provider })));
  }

  async usage(): Promise<Map<string, number>> {
    const docs = await this.holders.find({}, { projection: { provider: 1 } }).toArray();
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
      .catch(ignoreDuplicateKey);
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
