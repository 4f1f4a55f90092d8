import type { Collection, Db, Filter } from 'mongodb';
import type { LabError, LabState, StackInfo } from '../../workflows/state';
import type { Charge } from '../../workflows/usage';
import { maxTime, type QueryOptions } from './deadlines';
import { isDuplicateKey } from './duplicate-key';

/** The queryable projection of one lab (what the API serves), written by the lab workflow's activities. */
export interface LabDocument {
  _id: string;
  courseId: string;
  learnerId: string;
  lab: string;
  state: LabState;
  generation: number;
  provider: string | null;
  stack: StackInfo | null;
  outputs: Record<string, unknown>;
  progress: { done: number; total: number } | null;
  error: LabError | null;
  createdAt: Date;
  updatedAt: Date;
  lifeStartedAt: Date;
  readyAt: Date | null;
  suspendedAt: Date | null;
  /** The lab's stack was claimed from its warm pool. */
  fromPool?: boolean;
  /** Why a stack action is held up (e.g. "Heat unavailable since ..."); null or absent otherwise. */
  statusReason?: string | null;
  deletedAt: Date | null;
  /** Monotonic per lab: a retried or late projection write never overwrites a newer one. */
  seq: number;
  /**
   * When the lab's latest audit event happened, and whose its running time is since: the usage
   * interval still open (workflows/usage.ts). Absent in labs from before the usage ledger.
   */
  lastEventAt?: Date;
  charge?: Charge;
}

/** What the open usage interval of a lab needs. */
export type LabUsageRow = Pick<
  LabDocument,
  '_id' | 'courseId' | 'learnerId' | 'lab' | 'state' | 'lastEventAt' | 'charge' | 'updatedAt'
>;

export type LabProjection = Omit<
  LabDocument,
  '_id' | 'createdAt' | 'updatedAt' | 'lastActivityAt' | 'progress'
> & {
  labId: string;
};

/** A lab's state, and its course (the heartbeat relay counts learner-active time by course). */
export type LabStateRow = Pick<LabDocument, '_id' | 'state' | 'courseId'>;
export type LabLifeRow = Pick<LabDocument, '_id' | 'state' | 'lifeStartedAt'>;
export type LabGenerationRow = Pick<LabDocument, '_id' | 'state' | 'generation'>;
export interface LabStateCount {
  _id: LabState;
  n: number;
}

export class LabsStore {
  /** @internal tests only: everything else goes through the named queries below. */
  readonly collection: Collection<LabDocument>;

  constructor(db: Db) {
    this.collection = db.collection<LabDocument>('labs');
  }

  async ensureIndexes(): Promise<void> {
    // GET /v1/labs (newestFirst): no filter, or each filter, then its newest-first sort
    // (createdAt, _id) for the cursor. No query sorts by updatedAt, so it has no index: every
    // projection and progress write changes it.
    await Promise.all([
      this.collection.createIndex({ createdAt: -1, _id: -1 }),
      this.collection.createIndex({ courseId: 1, createdAt: -1, _id: -1 }),
      this.collection.createIndex({ learnerId: 1, createdAt: -1, _id: -1 }),
      this.collection.createIndex({ lab: 1, createdAt: -1, _id: -1 }),
      this.collection.createIndex({ state: 1, createdAt: -1, _id: -1 }),
    ]);
  }

  get(labId: string, options?: QueryOptions): Promise<LabDocument | null> {
    return this.collection.findOne({ _id: labId }, maxTime(options, 'request'));
  }

  /** Several labs at once (the long-polls): one `$in` query. */
  getMany(labIds: string[], options?: QueryOptions): Promise<LabDocument[]> {
    return this.collection.find({ _id: { $in: labIds } }, maxTime(options, 'request')).toArray();
  }

  /** One lab's state, or null when the lab is unknown. */
  stateOf(labId: string, options?: QueryOptions): Promise<LabStateRow | null> {
    return this.collection.findOne<LabStateRow>(
      { _id: labId },
      { projection: { state: 1, courseId: 1 }, ...maxTime(options, 'request') },
    );
  }

  /** Several labs' states in one `$in` query; unknown labs are missing from the answer. */
  statesOf(labIds: string[], options?: QueryOptions): Promise<LabStateRow[]> {
    return this.fieldsOf<LabStateRow>(labIds, { state: 1, courseId: 1 }, options);
  }

  /** Several labs' states and stack generations in one `$in` query (the API's open terminals). */
  generationsOf(labIds: string[], options?: QueryOptions): Promise<LabGenerationRow[]> {
    return this.fieldsOf<LabGenerationRow>(labIds, { state: 1, generation: 1 }, options);
  }

  private fieldsOf<Row extends { _id: string }>(
    labIds: string[],
    projection: Record<string, 1>,
    options?: QueryOptions,
  ): Promise<Row[]> {
    return this.collection
      .find<Row>({ _id: { $in: labIds } }, { projection, ...maxTime(options, 'request') })
      .toArray();
  }

  /** The labs of a course with what their open usage interval needs (the usage report). */
  usageRowsOf(courseId: string | undefined, options?: QueryOptions): Promise<LabUsageRow[]> {
    return this.collection
      .find<LabUsageRow>(courseId !== undefined ? { courseId } : {}, {
        projection: {
          courseId: 1,
          learnerId: 1,
          lab: 1,
          state: 1,
          lastEventAt: 1,
          charge: 1,
          updatedAt: 1,
        },
        ...maxTime(options, 'request'),
      })
      .toArray();
  }

  /** A lab's state and when its current life began (a heartbeat token is valid for one life). */
  lifeOf(labId: string, options?: QueryOptions): Promise<LabLifeRow | null> {
    return this.collection.findOne<LabLifeRow>(
      { _id: labId },
      { projection: { state: 1, lifeStartedAt: 1 }, ...maxTime(options, 'request') },
    );
  }

  /** A page of labs newest first (createdAt, then _id): the order GET /v1/labs pages by. */
  newestFirst(
    filter: Filter<LabDocument>,
    limit: number,
    options?: QueryOptions,
  ): Promise<LabDocument[]> {
    return this.collection
      .find(filter, maxTime(options, 'request'))
      .sort({ createdAt: -1, _id: -1 })
      .limit(limit)
      .toArray();
  }

  /** How many labs are in each state (for the metrics), states absent when no lab is in them. */
  countByState(options?: QueryOptions): Promise<LabStateCount[]> {
    const byState = [{ $group: { _id: '$state', n: { $sum: 1 } } }];
    return this.collection.aggregate<LabStateCount>(byState, maxTime(options, 'request')).toArray();
  }

  /**
   * Writes the workflow's view of the lab if it is newer than what is stored (by seq). The
   * first write creates the document. Only the lab's workflow writes here (one write at a
   * time), since FerretDB v1 applies updates as read-modify-write.
   */
  async project(p: LabProjection, now: Date, options?: QueryOptions): Promise<void> {
    const { labId, ...fields } = p;
    const progress = isBuilding(p.state) ? undefined : null;
    try {
      await this.collection.updateOne(
        { _id: labId, seq: { $lt: p.seq } },
        {
          $set: { ...fields, updatedAt: now, ...(progress === null ? { progress: null } : {}) },
          $setOnInsert: { createdAt: now },
        },
        { upsert: true, ...maxTime(options, 'activity') },
      );
    } catch (err) {
      // The upsert collides with the unique _id when a newer seq is already stored: nothing to do.
      if (!isDuplicateKey(err)) throw err;
    }
  }

  /** Progress of the stack being built, for the lab's generation only (a late write for an old stack is dropped). */
  async setProgress(
    labId: string,
    generation: number,
    progress: { done: number; total: number },
    now: Date,
    options?: QueryOptions,
  ): Promise<void> {
    await this.collection.updateOne(
      { _id: labId, generation },
      { $set: { progress, updatedAt: now } },
      maxTime(options, 'activity'),
    );
  }
}

function isBuilding(state: LabState): boolean {
  return state === 'launching' || state === 'resetting' || state === 'resuming';
}
