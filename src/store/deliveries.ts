import type { Collection, Db, Filter } from 'mongodb';
import type { LabEvent } from '../../workflows/events';
import { maxTime, type QueryOptions } from './deadlines';
import { isDuplicateKey } from './duplicate-key';

/**
 * pending: an attempt is due (or under way); sent: the endpoint answered 2xx; failed: every
 * attempt of the schedule failed; gone: the endpoint answered 410 (or left the configuration).
 */
export const DELIVERY_STATES = ['pending', 'sent', 'failed', 'gone'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/**
 * One event's delivery to one webhook endpoint (`webhook_deliveries`). Its delivery workflow is
 * its only writer (inserted once, then updated after each attempt, one at a time): FerretDB
 * applies an update as read-modify-write, so one writer per document.
 */
export interface DeliveryDocument {
  /** The delivery workflow's id: webhook:<endpoint>:<event id>. */
  _id: string;
  endpoint: string;
  eventId: string;
  type: LabEvent['type'];
  labId: string;
  courseId: string;
  state: DeliveryState;
  attempts: number;
  /** The last answer's HTTP status (null: none, or no attempt yet). */
  lastStatus: number | null;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** When the next attempt is due (pending only). */
  nextAttemptAt: Date | null;
  sentAt: Date | null;
  /** What was (or will be) sent: no lab secret ever enters an event. */
  event: LabEvent;
}

export type DeliveryUpdate = Pick<
  DeliveryDocument,
  'state' | 'attempts' | 'lastStatus' | 'lastError' | 'nextAttemptAt' | 'sentAt'
>;

export class DeliveriesStore {
  /** @internal tests only: everything else goes through the methods below. */
  readonly collection: Collection<DeliveryDocument>;

  constructor(db: Db) {
    this.collection = db.collection<DeliveryDocument>('webhook_deliveries');
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ labId: 1, createdAt: -1 });
    await this.collection.createIndex({ state: 1 });
  }

  /**
   * Records a delivery's first attempt. A retried activity (its worker died after the insert)
   * finds the document there and updates it instead.
   */
  async open(doc: DeliveryDocument, options?: QueryOptions): Promise<void> {
    try {
      await this.collection.insertOne(doc, maxTime(options, 'activity'));
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const { state, attempts, lastStatus, lastError, nextAttemptAt, sentAt, updatedAt } = doc;
      await this.update(
        doc._id,
        { state, attempts, lastStatus, lastError, nextAttemptAt, sentAt },
        updatedAt,
        options,
      );
    }
  }

  async update(id: string, update: DeliveryUpdate, at: Date, options?: QueryOptions) {
    await this.collection.updateOne(
      { _id: id },
      { $set: { ...update, updatedAt: at } },
      maxTime(options, 'activity'),
    );
  }

  get(id: string, options?: QueryOptions): Promise<DeliveryDocument | null> {
    return this.collection.findOne({ _id: id }, maxTime(options, 'request'));
  }

  /** The newest deliveries, of one lab and/or in one state. */
  list(
    filter: { labId?: string; state?: DeliveryState; endpoint?: string },
    limit: number,
    options?: QueryOptions,
  ): Promise<DeliveryDocument[]> {
    const query: Filter<DeliveryDocument> = {};
    if (filter.labId) query.labId = filter.labId;
    if (filter.state) query.state = filter.state;
    if (filter.endpoint) query.endpoint = filter.endpoint;
    return this.collection
      .find(query, maxTime(options, 'request'))
      .sort({ createdAt: -1, _id: -1 })
      .limit(limit)
      .toArray();
  }

  /** Deliveries per state (the metrics' sent, failed, gone and pending). */
  async countByState(options?: QueryOptions): Promise<Record<DeliveryState, number>> {
    const counts = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<
      DeliveryState,
      number
    >;
    await Promise.all(
      DELIVERY_STATES.map(async (state) => {
        counts[state] = await this.collection.countDocuments(
          { state },
          maxTime(options, 'request'),
        );
      }),
    );
    return counts;
  }
}
