import type { Collection, Db } from 'mongodb';
import type { StackInfo } from '../../workflows/state';
import { maxTime, type QueryOptions } from './deadlines';
import { ignoreDuplicateKey, isDuplicateKey } from './duplicate-key';

/**
 * Warm pools. `pool_stacks` is the pool workflow's record of its stacks (only that workflow
 * writes it, one write at a time, so FerretDB v1's read-modify-write updates are safe).
 * `pool_claims` decides who owns a ready stack: a claim is an insert whose `_id` is the stack's
 * name, so of any number of concurrent claimants exactly one succeeds, on MongoDB and FerretDB
 * alike. The pool itself takes a stack back (to drain or replace it) by the same insert, so a
 * learner's claim and the pool's delete can never both win.
 */
export type PoolStackState = 'building' | 'ready' | 'claimed' | 'discarded';

export interface PoolStackDocument {
  /** The Heat stack name, deterministic per pool slot and generation. */
  _id: string;
  lab: string;
  slot: number;
  generation: number;
  provider: string | null;
  stack: StackInfo | null;
  state: PoolStackState;
  buildStartedAt: Date;
  readyAt: Date | null;
  endedAt: Date | null;
}

export interface PoolClaimDocument {
  /** The claimed stack's name: one claim per stack. */
  _id: string;
  /**
   * Who claimed it: `{labId}:g{generation}` for a lab (unique, so a retried claim activity finds
   * the stack it already took), `pool:{stack}` for the pool, `rejected:{stack}` for a stack a lab
   * claimed and found gone.
   */
  claimant: string;
  lab: string;
  labId: string | null;
  provider: string;
  stack: StackInfo;
  at: Date;
  /**
   * False while the lab that inserted the claim asks Heat whether the stack is still there; it
   * then confirms (true) or rejects the claim. Absent on the pool's own claims and on claims
   * written before this field existed, which are settled.
   */
  verified?: boolean;
}

export interface PoolSummary {
  lab: string;
  ready: number;
  building: number;
  claims: number;
  misses: number;
  /** Seconds from the start of a build to the stack being ready, for the most recent builds. */
  refillSeconds: number[];
}

const RECENT_BUILDS = 20;

export class PoolsStore {
  /** @internal tests only (stacks, claims, misses): everything else goes through the methods below. */
  readonly stacks: Collection<PoolStackDocument>;
  readonly claims: Collection<PoolClaimDocument>;
  readonly misses: Collection<{ _id: string; lab: string; at: Date }>;

  constructor(db: Db) {
    this.stacks = db.collection<PoolStackDocument>('pool_stacks');
    this.claims = db.collection<PoolClaimDocument>('pool_claims');
    this.misses = db.collection('pool_misses');
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([
      this.stacks.createIndex({ lab: 1, state: 1 }),
      this.claims.createIndex({ claimant: 1 }, { unique: true }),
      this.claims.createIndex({ lab: 1 }),
      this.misses.createIndex({ lab: 1 }),
      // The retention sweep's filters (MongoDB; FerretDB v1 scans whatever the index).
      this.claims.createIndex({ at: 1 }),
      this.misses.createIndex({ at: 1 }),
      this.stacks.createIndex({ endedAt: 1 }),
    ]);
  }

  /** Writes the pool workflow's view of one of its stacks (idempotent: the same write twice is one). */
  async record(doc: PoolStackDocument, options?: QueryOptions): Promise<void> {
    const { _id, ...fields } = doc;
    await this.stacks
      .updateOne({ _id }, { $set: fields }, { upsert: true, ...maxTime(options, 'activity') })
      .catch(ignoreDuplicateKey);
  }

  get(stackName: string, options?: QueryOptions): Promise<PoolStackDocument | null> {
    return this.stacks.findOne({ _id: stackName }, maxTime(options, 'activity'));
  }

  readyStacks(lab: string, options?: QueryOptions): Promise<PoolStackDocument[]> {
    return this.stacks.find({ lab, state: 'ready' }, maxTime(options, 'activity')).toArray();
  }

  /** Inserts the claim; false when the stack is already claimed (by a lab or by the pool). */
  async claim(doc: PoolClaimDocument, options?: QueryOptions): Promise<boolean> {
    try {
      await this.claims.insertOne(doc, maxTime(options, 'activity'));
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  claimOf(stackName: string, options?: QueryOptions): Promise<PoolClaimDocument | null> {
    return this.claims.findOne({ _id: stackName }, maxTime(options, 'activity'));
  }

  claimBy(claimant: string, options?: QueryOptions): Promise<PoolClaimDocument | null> {
    return this.claims.findOne({ claimant }, maxTime(options, 'activity'));
  }

  /**
   * A lab claimed a stack that Heat no longer has: the claim stays (nobody else may take it) but
   * no longer names the lab, so a retry of the lab's claim looks for another stack.
   */
  async reject(stackName: string, options?: QueryOptions): Promise<void> {
    await this.claims.updateOne(
      { _id: stackName },
      { $set: { claimant: `rejected:${stackName}`, labId: null }, $unset: { verified: '' } },
      maxTime(options, 'activity'),
    );
  }

  /** The lab found its claimed stack in Heat: the claim is the lab's for good. */
  async confirm(stackName: string, options?: QueryOptions): Promise<void> {
    await this.claims.updateOne(
      { _id: stackName },
      { $set: { verified: true } },
      maxTime(options, 'activity'),
    );
  }

  async recordMiss(id: string, lab: string, at: Date, options?: QueryOptions): Promise<void> {
    await this.misses
      .insertOne({ _id: id, lab, at }, maxTime(options, 'activity'))
      .catch(ignoreDuplicateKey);
  }

  /** Stacks that hold capacity for a pool (building or ready, not yet claimed), per provider. */
  async heldByProvider(options?: QueryOptions): Promise<Map<string, number>> {
    const docs = await this.stacks
      .find(
        { state: { $in: ['building', 'ready'] } },
        { projection: { provider: 1 }, ...maxTime(options, 'request') },
      )
      .toArray();
    const counts = new Map<string, number>();
    for (const d of docs) if (d.provider) counts.set(d.provider, (counts.get(d.provider) ?? 0) + 1);
    return counts;
  }

  /** Claims and misses count over the pool records' retention (see RetentionStore). */
  async summary(lab: string, options?: QueryOptions): Promise<PoolSummary> {
    const limit = maxTime(options, 'request');
    const [live, claims, misses, built] = await Promise.all([
      this.stacks.find({ lab, state: { $in: ['building', 'ready'] } }, limit).toArray(),
      this.claims.countDocuments({ lab, labId: { $ne: null } }, limit),
      this.misses.countDocuments({ lab }, limit),
      this.stacks
        .find({ lab, readyAt: { $ne: null } }, limit)
        .sort({ readyAt: -1 })
        .limit(RECENT_BUILDS)
        .toArray(),
    ]);
    return {
      lab,
      ready: live.filter((d) => d.state === 'ready').length,
      building: live.filter((d) => d.state === 'building').length,
      claims,
      misses,
      refillSeconds: built.map((d) => (d.readyAt!.getTime() - d.buildStartedAt.getTime()) / 1000),
    };
  }
}
