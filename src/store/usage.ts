import type { Collection, Db, Filter } from 'mongodb';
import type { DayUsage } from '../../workflows/usage';
import { WRITES_PER_COMMAND } from './activity';
import { maxTime, type QueryOptions } from './deadlines';
import { ignoreDuplicateKey, isDuplicateKey } from './duplicate-key';

/** Whose lab a ledger line is about: every line carries it, so reports need no join. */
export interface UsageOwner {
  labId: string;
  courseId: string;
  learnerId: string;
  lab: string;
}

/**
 * One lab's usage on one UTC day (workflows/usage.ts says what counts). Written only by its
 * lab's workflow, through the projection activity (one writer per document, as FerretDB v1's
 * read-modify-write updates need), or by a rebuild from the audit trail.
 */
export interface LedgerLine extends UsageOwner, DayUsage {
  /** labId|day */
  _id: string;
  /** The seq of the last audit event counted: an event is counted once, whatever the retries. */
  seq: number;
  /**
   * The end of the last interval counted into the lab's ledger (its event's time). The lab's
   * projection is written after the ledger, so a reader in between still sees the previous
   * event there: the interval still open starts here when this is later (src/usage/verdict.ts).
   */
  countedTo?: Date;
}

/** Extra running time staff gave a learner (POST /v1/usage/grants): the audit record itself. */
export interface UsageGrant {
  _id: string;
  courseId: string;
  learnerId: string;
  /** Only this lab's limits; null: every lab of the course. */
  lab: string | null;
  extraMs: number;
  reason: string;
  grantedBy: string;
  at: Date;
}

/**
 * Learner-active time (from heartbeats) of one lab on one day, as one API process saw it: each
 * process writes its own document, so concurrent processes never update the same one.
 */
export interface ActiveLine {
  /** labId|day|writer */
  _id: string;
  labId: string;
  /** Absent when the writer did not know it (a lab not projected yet). */
  courseId?: string;
  day: string;
  activeMs: number;
}

/** Ledger lines of a query: which learner's, course's or lab's, from which day to which. */
export interface LedgerQuery {
  courseId?: string;
  learnerId?: string;
  lab?: string;
  labId?: string;
  /** Inclusive, YYYY-MM-DD. */
  fromDay?: string | null;
  /** Inclusive, YYYY-MM-DD. */
  toDay?: string | null;
}

export const ledgerIdOf = (labId: string, day: string) => `${labId}|${day}`;

export class UsageStore {
  /** @internal tests and benchmarks only: everything else goes through the named queries below. */
  readonly ledger: Collection<LedgerLine>;
  /** @internal tests only. */
  readonly grants: Collection<UsageGrant>;
  /** @internal tests only. */
  readonly active: Collection<ActiveLine>;

  constructor(db: Db) {
    this.ledger = db.collection<LedgerLine>('usage_ledger');
    this.grants = db.collection<UsageGrant>('usage_grants');
    this.active = db.collection<ActiveLine>('usage_active');
  }

  async ensureIndexes(): Promise<void> {
    // Reports (a course's days) and limits (a learner's days). FerretDB v1 scans regardless.
    await Promise.all([
      this.ledger.createIndex({ courseId: 1, day: 1 }),
      this.ledger.createIndex({ learnerId: 1, day: 1 }),
      this.ledger.createIndex({ labId: 1 }),
      this.grants.createIndex({ learnerId: 1, courseId: 1 }),
      this.active.createIndex({ courseId: 1, day: 1 }),
    ]);
  }

  /**
   * Counts the interval an audit event (`seq`) closed, once: a day's line moves only if it has
   * not counted this event yet (a retried activity finds it has, and its upsert is refused by the
   * unique _id).
   */
  async count(
    owner: UsageOwner,
    days: DayUsage[],
    seq: number,
    countedTo: Date,
    options?: QueryOptions,
  ): Promise<void> {
    for (const d of days) {
      await this.ledger
        .updateOne(
          { _id: ledgerIdOf(owner.labId, d.day), seq: { $lt: seq } },
          {
            $inc: { runningMs: d.runningMs, suspendedMs: d.suspendedMs, chargedMs: d.chargedMs },
            $set: { seq, countedTo },
            $setOnInsert: { ...owner, day: d.day },
          },
          { upsert: true, ...maxTime(options, 'activity') },
        )
        .catch(ignoreDuplicateKey);
    }
  }

  /**
   * A lab's ledger as rebuilt from its audit trail up to event `seq`, from day `fromDay` on. A
   * line the lab's workflow has moved past `seq` since the trail was read is left as it is (it
   * counts newer events); lines from `fromDay` on of days the trail has no time in are removed.
   * Returns the lines written.
   */
  async replaceLab(
    owner: UsageOwner,
    days: Array<DayUsage & { countedTo: Date }>,
    seq: number,
    fromDay: string,
    options?: QueryOptions,
  ): Promise<number> {
    let written = 0;
    for (const d of days) {
      const line: LedgerLine = { _id: ledgerIdOf(owner.labId, d.day), ...owner, ...d, seq };
      try {
        await this.ledger.replaceOne({ _id: line._id, seq: { $lte: seq } }, line, {
          upsert: true,
          ...maxTime(options, 'activity'),
        });
        written++;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    }
    await this.ledger.deleteMany(
      {
        labId: owner.labId,
        day: { $gte: fromDay, $nin: days.map((d) => d.day) },
        seq: { $lte: seq },
      },
      maxTime(options, 'activity'),
    );
    return written;
  }

  /** The ledger lines of a query (a report's, a limit's). */
  lines(query: LedgerQuery, options?: QueryOptions): Promise<LedgerLine[]> {
    return this.ledger.find(ledgerFilter(query), maxTime(options, 'request')).toArray();
  }

  /**
   * Charged running ms of a query's lines (what a usage limit counts), and how far the ledger
   * has counted the lab `lab` of course `courseId` (null: not at all).
   */
  async charged(
    query: LedgerQuery,
    subject: { courseId: string; lab: string },
    options?: QueryOptions,
  ): Promise<{ chargedMs: number; countedTo: number | null }> {
    const lines = await this.ledger
      .find(ledgerFilter(query), {
        projection: { chargedMs: 1, countedTo: 1, courseId: 1, lab: 1 },
        ...maxTime(options, 'request'),
      })
      .toArray();
    let countedTo: number | null = null;
    for (const l of lines)
      if (l.courseId === subject.courseId && l.lab === subject.lab && l.countedTo)
        countedTo = Math.max(countedTo ?? -Infinity, l.countedTo.getTime());
    return { chargedMs: lines.reduce((sum, l) => sum + (l.chargedMs ?? 0), 0), countedTo };
  }

  async grant(grant: UsageGrant, options?: QueryOptions): Promise<void> {
    await this.grants.insertOne(grant, maxTime(options, 'request'));
  }

  /**
   * Extra ms granted to a learner for a lab: grants of its course for it or for every lab
   * (`courseId` null: of any course), given since `since` (null: ever).
   */
  async grantedMs(
    query: { learnerId: string; courseId: string | null; lab: string; since: Date | null },
    options?: QueryOptions,
  ): Promise<number> {
    const filter: Filter<UsageGrant> = {
      learnerId: query.learnerId,
      lab: { $in: [null, query.lab] },
      ...(query.courseId !== null ? { courseId: query.courseId } : {}),
      ...(query.since ? { at: { $gte: query.since } } : {}),
    };
    const grants = await this.grants.find(filter, maxTime(options, 'request')).toArray();
    return grants.reduce((sum, g) => sum + g.extraMs, 0);
  }

  /** A learner's grants in a course, newest first. */
  grantsOf(
    query: { courseId: string; learnerId?: string },
    options?: QueryOptions,
  ): Promise<UsageGrant[]> {
    return this.grants
      .find(
        { courseId: query.courseId, ...(query.learnerId ? { learnerId: query.learnerId } : {}) },
        maxTime(options, 'request'),
      )
      .sort({ at: -1 })
      .toArray();
  }

  /** Adds learner-active ms seen by one API process (`writer`); its own documents only. */
  async addActive(
    writer: string,
    entries: Array<{ labId: string; day: string; ms: number; courseId?: string }>,
    options?: QueryOptions,
  ): Promise<void> {
    // One writer per line (its `_id` names it), so no two processes upsert the same one.
    for (let i = 0; i < entries.length; i += WRITES_PER_COMMAND) {
      await this.active.bulkWrite(
        entries.slice(i, i + WRITES_PER_COMMAND).map((e) => ({
          updateOne: {
            filter: { _id: `${e.labId}|${e.day}|${writer}` },
            update: {
              $inc: { activeMs: e.ms },
              $setOnInsert: {
                labId: e.labId,
                day: e.day,
                ...(e.courseId !== undefined ? { courseId: e.courseId } : {}),
              },
            },
            upsert: true,
          },
        })),
        { ordered: false, ...maxTime(options, 'request') },
      );
    }
  }

  /**
   * Learner-active lines of a course (undefined: every course) between two days (inclusive). By
   * course, never by an `$in` of lab ids: FerretDB v1 does not push an `$in` down to its backend
   * (one over 1,000 lab ids took 15 s on PostgreSQL, where the course's equality took 0.4 s).
   */
  activeOf(
    query: { courseId?: string; fromDay?: string | null; toDay?: string | null },
    options?: QueryOptions,
  ): Promise<ActiveLine[]> {
    return this.active
      .find(
        {
          ...(query.courseId !== undefined ? { courseId: query.courseId } : {}),
          ...dayRange(query.fromDay, query.toDay),
        },
        maxTime(options, 'request'),
      )
      .toArray();
  }
}

function dayRange(fromDay?: string | null, toDay?: string | null): { day?: object } {
  if (!fromDay && !toDay) return {};
  return { day: { ...(fromDay ? { $gte: fromDay } : {}), ...(toDay ? { $lte: toDay } : {}) } };
}

function ledgerFilter(q: LedgerQuery): Filter<LedgerLine> {
  return {
    ...(q.courseId !== undefined ? { courseId: q.courseId } : {}),
    ...(q.learnerId !== undefined ? { learnerId: q.learnerId } : {}),
    ...(q.lab !== undefined ? { lab: q.lab } : {}),
    ...(q.labId !== undefined ? { labId: q.labId } : {}),
    ...dayRange(q.fromDay, q.toDay),
  };
}
