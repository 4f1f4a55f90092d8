import type { Collection, Db, Filter } from 'mongodb';
import type { LabEvent } from './events';
import type { ActivityDocument } from './activity';
import type { LabDocument } from './labs';
import type { PoolClaimDocument, PoolStackDocument } from './pools';
import type { SecretsDocument } from './secrets';
import type { CheckRunDocument } from './checks';
import type { HostKeyDocument } from './host-keys';
import type { DeliveryDocument } from './deliveries';
import { maxTime, type QueryOptions } from './deadlines';

/**
 * What the retention sweep removes, in this order (a lab's document goes before its activity and
 * secrets, which then have no lab: a sweep interrupted anywhere is finished by the next one).
 *
 * - `events`: older than `retention.events`, unless their lab is live (its audit trail stays
 *   whole while it lives).
 * - `labs`: deleted longer ago than `retention.deletedLabs`.
 * - `activity`, `secrets`: older than `retention.deletedLabs` and without a lab document.
 * - `checks`, `hostKeys`: check runs started, host keys pinned, longer ago than
 *   `retention.deletedLabs`, of a lab without a document.
 * - `poolClaims`: older than `retention.poolRecords`, on a stack the pool no longer holds, of no
 *   live lab, and decided (a lab still checking its claimed stack in Heat keeps it).
 * - `poolStacks`: pool stacks claimed or discarded longer ago than `retention.poolRecords`.
 * - `poolMisses`: older than `retention.poolRecords`.
 * - `webhookDeliveries`: deliveries that ended (sent, failed, gone) longer ago than
 *   `retention.webhookDeliveries`; a pending one stays, however old.
 *
 * A live lab (any state but `deleted`) keeps every document.
 */
export const SWEEP_KINDS = [
  'events',
  'labs',
  'activity',
  'secrets',
  'checks',
  'hostKeys',
  'poolClaims',
  'poolStacks',
  'poolMisses',
  'webhookDeliveries',
] as const;
export type SweepKind = (typeof SWEEP_KINDS)[number];

/**
 * Documents per command: FerretDB v1 (SQLite) holds a pooled connection per document a write
 * touches until the command ends, and stops answering at 100 (see ActivityStore.recordMany).
 */
export const SWEEP_BATCH = 25;

export interface SweepBatch {
  deleted: number;
  /** Where the next batch starts (the last `_id` looked at); null when this kind is done. */
  next: string | null;
}

type Named = { _id: string };

/**
 * One batch of the retention sweep at a time. Each batch reads at most SWEEP_BATCH candidates
 * past `cutoff` (by `_id`, after `after`), decides which may go, and deletes those with a filter
 * that checks the same condition again, so a document that changed meanwhile (a lab launched
 * again under the same id) stays. Idempotent: a batch run twice deletes nothing the second time.
 */
export class RetentionStore {
  private readonly labs: Collection<LabDocument>;
  private readonly events: Collection<LabEvent>;
  private readonly activity: Collection<ActivityDocument>;
  private readonly secrets: Collection<SecretsDocument>;
  private readonly claims: Collection<PoolClaimDocument>;
  private readonly stacks: Collection<PoolStackDocument>;
  private readonly misses: Collection<{ _id: string; lab: string; at: Date }>;
  private readonly checks: Collection<CheckRunDocument>;
  private readonly hostKeys: Collection<HostKeyDocument>;
  private readonly deliveries: Collection<DeliveryDocument>;

  constructor(db: Db) {
    this.labs = db.collection<LabDocument>('labs');
    this.events = db.collection<LabEvent>('events');
    this.activity = db.collection<ActivityDocument>('lab_activity');
    this.secrets = db.collection<SecretsDocument>('secrets');
    this.claims = db.collection<PoolClaimDocument>('pool_claims');
    this.stacks = db.collection<PoolStackDocument>('pool_stacks');
    this.misses = db.collection('pool_misses');
    this.checks = db.collection<CheckRunDocument>('checks');
    this.hostKeys = db.collection<HostKeyDocument>('host_keys');
    this.deliveries = db.collection<DeliveryDocument>('webhook_deliveries');
  }

  async sweep(
    kind: SweepKind,
    cutoff: Date,
    after: string | null,
    options?: QueryOptions,
  ): Promise<SweepBatch> {
    const limit = maxTime(options, 'sweep');
    switch (kind) {
      case 'events': {
        const past: Filter<LabEvent> = { at: { $lt: cutoff } };
        const found = await candidates(this.events, past, after, { labId: 1 }, limit);
        const live = await this.liveLabs(
          found.map((e) => e.labId),
          limit,
        );
        const gone = found.filter((e) => !live.has(e.labId));
        return batch(found, await remove(this.events, gone, past, limit));
      }
      case 'labs': {
        const past: Filter<LabDocument> = { state: 'deleted', deletedAt: { $lt: cutoff } };
        const found = await candidates(this.labs, past, after, {}, limit);
        return batch(found, await remove(this.labs, found, past, limit));
      }
      case 'activity': {
        const past: Filter<ActivityDocument> = { at: { $lt: cutoff } };
        const found = await candidates(this.activity, past, after, {}, limit);
        const orphans = await this.withoutLab(found, limit);
        return batch(found, await remove(this.activity, orphans, past, limit));
      }
      case 'secrets': {
        const past: Filter<SecretsDocument> = { updatedAt: { $lt: cutoff } };
        const found = await candidates(this.secrets, past, after, {}, limit);
        const orphans = await this.withoutLab(found, limit);
        return batch(found, await remove(this.secrets, orphans, past, limit));
      }
      case 'checks': {
        const past: Filter<CheckRunDocument> = { startedAt: { $lt: cutoff } };
        const found = await candidates(this.checks, past, after, { labId: 1 }, limit);
        const orphans = await this.withoutLab(found, limit, (d) => d.labId);
        return batch(found, await remove(this.checks, orphans, past, limit));
      }
      case 'hostKeys': {
        const past: Filter<HostKeyDocument> = { at: { $lt: cutoff } };
        const found = await candidates(this.hostKeys, past, after, { labId: 1 }, limit);
        const orphans = await this.withoutLab(found, limit, (d) => d.labId);
        return batch(found, await remove(this.hostKeys, orphans, past, limit));
      }
      case 'poolClaims': {
        const past: Filter<PoolClaimDocument> = { at: { $lt: cutoff } };
        const found = await candidates(this.claims, past, after, { labId: 1, verified: 1 }, limit);
        const held = new Set(
          (
            await this.stacks
              .find(
                { _id: { $in: found.map((c) => c._id) }, state: { $in: ['building', 'ready'] } },
                { projection: { _id: 1 }, ...limit },
              )
              .toArray()
          ).map((s) => s._id),
        );
        const live = await this.liveLabs(
          found.flatMap((c) => (c.labId ? [c.labId] : [])),
          limit,
        );
        const settled = found.filter(
          (c) =>
            !held.has(c._id) && c.verified !== false && !(c.labId !== null && live.has(c.labId)),
        );
        return batch(found, await remove(this.claims, settled, past, limit));
      }
      case 'poolStacks': {
        const past: Filter<PoolStackDocument> = {
          state: { $in: ['claimed', 'discarded'] },
          endedAt: { $lt: cutoff },
        };
        const found = await candidates(this.stacks, past, after, {}, limit);
        return batch(found, await remove(this.stacks, found, past, limit));
      }
      case 'poolMisses': {
        const past = { at: { $lt: cutoff } };
        const found = await candidates(this.misses, past, after, {}, limit);
        return batch(found, await remove(this.misses, found, past, limit));
      }
      case 'webhookDeliveries': {
        const past: Filter<DeliveryDocument> = {
          state: { $ne: 'pending' },
          updatedAt: { $lt: cutoff },
        };
        const found = await candidates(this.deliveries, past, after, {}, limit);
        return batch(found, await remove(this.deliveries, found, past, limit));
      }
    }
  }

  /** Of these labs, the ones with a document in any state but `deleted`. */
  private async liveLabs(labIds: string[], limit: { maxTimeMS: number }): Promise<Set<string>> {
    if (labIds.length === 0) return new Set();
    const docs = await this.labs
      .find(
        { _id: { $in: [...new Set(labIds)] }, state: { $ne: 'deleted' } },
        { projection: { _id: 1 }, ...limit },
      )
      .toArray();
    return new Set(docs.map((d) => d._id));
  }

  /** The documents whose lab (by default, the document's own `_id`) has no document any more. */
  private async withoutLab<T extends Named>(
    docs: T[],
    limit: { maxTimeMS: number },
    labOf: (doc: T) => string = (doc) => doc._id,
  ): Promise<T[]> {
    if (docs.length === 0) return [];
    const labs = await this.labs
      .find({ _id: { $in: [...new Set(docs.map(labOf))] } }, { projection: { _id: 1 }, ...limit })
      .toArray();
    const known = new Set(labs.map((d) => d._id));
    return docs.filter((d) => !known.has(labOf(d)));
  }
}

/** Up to SWEEP_BATCH documents past retention, in `_id` order after `after`. */
function candidates<T extends Named>(
  collection: Collection<T>,
  past: Filter<T>,
  after: string | null,
  projection: Record<string, 1>,
  limit: { maxTimeMS: number },
): Promise<T[]> {
  // `past` never filters on `_id`.
  const filter = (after === null ? past : { ...past, _id: { $gt: after } }) as Filter<T>;
  return collection
    .find(filter, { projection: { _id: 1, ...projection }, ...limit })
    .sort({ _id: 1 })
    .limit(SWEEP_BATCH)
    .toArray() as Promise<T[]>;
}

/** Deletes these documents if they still match `past`: one command of at most SWEEP_BATCH. */
async function remove<T extends Named>(
  collection: Collection<T>,
  docs: Named[],
  past: Filter<T>,
  limit: { maxTimeMS: number },
): Promise<number> {
  if (docs.length === 0) return 0;
  const filter = { ...past, _id: { $in: docs.map((d) => d._id) } } as Filter<T>;
  return (await collection.deleteMany(filter, limit)).deletedCount;
}

function batch(found: Named[], deleted: number): SweepBatch {
  return { deleted, next: found.length < SWEEP_BATCH ? null : found[found.length - 1]!._id };
}
