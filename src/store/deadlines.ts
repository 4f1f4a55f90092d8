/**
 * How long the server may work on one command of the store (MongoDB's `maxTimeMS`). Without it
 * a query keeps running on the server after its caller gave up (the API answered 503, the
 * activity timed out and was retried), and on a slow FerretDB those abandoned commands pile up
 * past its connection pool. FerretDB v1.24 stops `find`, `count` and `aggregate` past it
 * (MaxTimeMSExpired) and accepts it, without stopping, on writes; MongoDB honours it on all.
 */
export interface QueryOptions {
  /** The caller's deadline for this command, in ms (what is left of it, when the caller knows). */
  maxTimeMS?: number;
}

/** The default per kind of caller, when it passes none. */
export const MAX_TIME_MS = {
  /** Within an API request: at most the API's MongoDB deadline (src/api/dependencies.ts, 3 s). */
  request: 3_000,
  /** Within an activity: under store activities' 30 s start-to-close, so it ends before a retry. */
  activity: 20_000,
  /** One batch of a maintenance sweep (at most 25 documents). */
  sweep: 20_000,
} as const;

export type QueryKind = keyof typeof MAX_TIME_MS;

/**
 * The `maxTimeMS` option for a command. A deadline already spent still bounds it (1 ms, the
 * command fails at once): MongoDB reads 0 as "no limit".
 */
export function maxTime(options: QueryOptions | undefined, kind: QueryKind): { maxTimeMS: number } {
  const ms = options?.maxTimeMS ?? MAX_TIME_MS[kind];
  return { maxTimeMS: Number.isFinite(ms) ? Math.max(1, Math.ceil(ms)) : MAX_TIME_MS[kind] };
}
