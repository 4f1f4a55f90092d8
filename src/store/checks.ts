import type { Collection, Db } from 'mongodb';
import { maxTime, type QueryOptions } from './deadlines';
import { isDuplicateKey } from './duplicate-key';

export type CheckRunState = 'running' | 'passed' | 'failed' | 'error';

export interface CheckResult {
  name: string;
  title: string;
  passed: boolean;
  timedOut: boolean;
  /** The script's `FAIL:` lines, else its stderr, capped at 4 KiB; null when it passed quietly. */
  hint: string | null;
}

/**
 * One run of a lab's graded checks (`checks`). The lab workflow's check activity is its only
 * writer: it inserts the run as `running`, then finishes it once (FerretDB applies an update as
 * read-modify-write, so one writer per document).
 */
export interface CheckRunDocument {
  /** `chk_` + the workflow's id for the run. */
  _id: string;
  labId: string;
  /** The stack generation the run checked (a reset starts a new one). */
  generation: number;
  /** The checks run, in catalog order. */
  names: string[];
  state: CheckRunState;
  startedAt: Date;
  finishedAt: Date | null;
  score: { earned: number; possible: number };
  results: CheckResult[];
  /** Why the checks could not run (state `error`), for the learner and staff. */
  error: string | null;
}

export class ChecksStore {
  /** @internal tests only: everything else goes through the methods below. */
  readonly collection: Collection<CheckRunDocument>;

  constructor(db: Db) {
    this.collection = db.collection<CheckRunDocument>('checks');
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ labId: 1, startedAt: -1 });
  }

  /** Records a run as started; a retried activity finds it there already. */
  async start(run: CheckRunDocument, options?: QueryOptions): Promise<void> {
    try {
      await this.collection.insertOne(run, maxTime(options, 'activity'));
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }

  async finish(
    id: string,
    outcome: Pick<CheckRunDocument, 'state' | 'score' | 'results' | 'error' | 'finishedAt'>,
    options?: QueryOptions,
  ): Promise<void> {
    await this.collection.updateOne({ _id: id }, { $set: outcome }, maxTime(options, 'activity'));
  }

  get(labId: string, id: string, options?: QueryOptions): Promise<CheckRunDocument | null> {
    return this.collection.findOne({ _id: id, labId }, maxTime(options, 'request'));
  }

  newest(labId: string, limit: number, options?: QueryOptions): Promise<CheckRunDocument[]> {
    return this.collection
      .find({ labId }, maxTime(options, 'request'))
      .sort({ startedAt: -1, _id: -1 })
      .limit(limit)
      .toArray();
  }
}
