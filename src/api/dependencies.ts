import type { Client } from '@temporalio/client';
import { ApiError, unavailable } from './errors';
import { withDeadline } from '../util/deadline';
import type { ApiMetrics } from './metrics/registry';
import type { Logger } from '../log';

export type Dependency = 'mongodb' | 'temporal';

/** Deadlines for dependency calls: a dependency that does not answer in time is a 503. */
export interface Deadlines {
  mongoMs: number;
  temporalMs: number;
}

export const DEFAULT_DEADLINES: Deadlines = { mongoMs: 3_000, temporalMs: 15_000 };

/**
 * Every call to Temporal or MongoDB goes through here: it runs under a deadline, and any
 * failure that the caller did not turn into an answer itself (`expected`, e.g. a workflow
 * validator's refusal) becomes a 503 naming the dependency, counted and logged without the
 * request's details.
 */
export class Dependencies {
  constructor(
    private readonly deadlines: Deadlines,
    private readonly metrics: ApiMetrics,
    private readonly logger: Logger,
    private readonly temporalClient?: Client,
  ) {}

  /**
   * `work` gets the deadline as MongoDB's `maxTimeMS` option, for queries it makes on a
   * collection itself: the server then stops the query when the API stops waiting for it,
   * rather than run on (FerretDB stops find and aggregate, MongoDB every command). `ms`: a
   * longer deadline for the few admin reads that scan a collection (reports, a ledger rebuild).
   */
  mongo<T>(
    operation: string,
    work: (deadline: { maxTimeMS: number }) => Promise<T>,
    ms = this.deadlines.mongoMs,
  ): Promise<T> {
    return this.call('mongodb', operation, ms, () => work({ maxTimeMS: ms }));
  }

  temporal<T>(
    operation: string,
    work: () => Promise<T>,
    expected?: (err: unknown) => ApiError | undefined,
  ): Promise<T> {
    const ms = this.deadlines.temporalMs;
    const client = this.temporalClient;
    // The gRPC deadline cancels the call itself; the race in call() is what bounds the answer.
    const scoped = client ? () => client.withDeadline(Date.now() + ms, work) : work;
    return this.call('temporal', operation, ms, scoped, expected);
  }

  private async call<T>(
    dependency: Dependency,
    operation: string,
    ms: number,
    work: () => Promise<T>,
    expected?: (err: unknown) => ApiError | undefined,
  ): Promise<T> {
    try {
      return await withDeadline(`${dependency} ${operation}`, ms, work);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      const answer = expected?.(err);
      if (answer) throw answer;
      this.metrics.dependencyErrors.inc({ dependency, operation });
      this.logger.warn({ dependency, operation, err: (err as Error).message }, 'dependency failed');
      throw unavailable(`${dependency} is unavailable (${operation})`);
    }
  }
}
