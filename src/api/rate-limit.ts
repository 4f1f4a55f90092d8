import type { RateLimit, RateLimits } from '../config';
import { tooManyRequests } from './errors';

export type { RateLimit, RateLimits };

/** Whose bucket refused a request: the token's ceiling, a lab's, or a learner's. */
export type RateScope = 'token' | 'lab' | 'learner';

/** What a request under a service token is about, when its route names it. */
export interface RateSubject {
  labId?: string;
  /** The course and the learner's anonymous id. */
  learner?: string;
}

/** Full buckets are forgotten this often, so the maps hold only labs and learners in a hurry. */
const SWEEP_EVERY_MS = 10_000;

/** Token buckets of one limit, keyed by whose they are. */
class Buckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private sweptAt: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number,
  ) {
    this.sweptAt = now();
  }

  /** Takes one request from `key`'s bucket: 0, or the seconds to wait before trying again. */
  take(key: string): number {
    const now = this.now();
    if (now - this.sweptAt >= SWEEP_EVERY_MS) this.sweep(now);
    const bucket = this.buckets.get(key) ?? { tokens: this.limit.burst, at: now };
    bucket.tokens = this.refilled(bucket, now);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.perSecond));
  }

  /** A full bucket is the same as none: dropping it bounds memory by the clients in a hurry. */
  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [key, bucket] of this.buckets)
      if (this.refilled(bucket, now) >= this.limit.burst) this.buckets.delete(key);
  }

  private refilled(bucket: { tokens: number; at: number }, now: number): number {
    return Math.min(
      this.limit.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond,
    );
  }
}

/**
 * Request limits, in memory: each API replica limits on its own, which is what a limit against
 * a runaway client needs. Every service or admin token has a ceiling (`perToken`). The LMS calls
 * for every learner with one service token, so under a service token each lab and each learner
 * also has a bucket of its own: one learner's page in a loop is refused on its own lab while
 * the rest of the site goes on. Heartbeats are never limited (the routes say so).
 */
export class RateLimiter {
  private readonly tokens: Buckets;
  private readonly labs: Buckets;
  private readonly learners: Buckets;

  constructor(
    limits: RateLimits,
    /** Told of every refusal (the API counts them by scope). */
    private readonly onRefused: (scope: RateScope) => void = () => undefined,
    now: () => number = Date.now,
  ) {
    this.tokens = new Buckets(limits.perToken, now);
    this.labs = new Buckets(limits.perLab, now);
    this.learners = new Buckets(limits.perLearner, now);
  }

  /** The token's ceiling; `key` is the principal's key (never the token itself). Throws a 429. */
  takeToken(key: string): void {
    this.refuseIfWaiting(this.tokens.take(key), 'token');
  }

  /** The lab's and the learner's buckets under this token, for what the request names. */
  takeSubject(key: string, subject: RateSubject): void {
    if (subject.labId !== undefined)
      this.refuseIfWaiting(this.labs.take(`${key} ${subject.labId}`), 'lab');
    if (subject.learner !== undefined)
      this.refuseIfWaiting(this.learners.take(`${key} ${subject.learner}`), 'learner');
  }

  private refuseIfWaiting(retryAfterSeconds: number, scope: RateScope): void {
    if (retryAfterSeconds === 0) return;
    this.onRefused(scope);
    throw tooManyRequests(retryAfterSeconds, scope);
  }
}

/** ApiOptions' override: one limit for every bucket (tests and benches), or some buckets. */
export function resolveRateLimits(
  configured: RateLimits,
  override: RateLimit | Partial<RateLimits> | undefined,
): RateLimits {
  if (override === undefined) return configured;
  if ('perSecond' in override)
    return { perToken: override, perLab: override, perLearner: override };
  return { ...configured, ...override };
}
