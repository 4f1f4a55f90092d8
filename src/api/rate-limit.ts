import { tooManyRequests } from './errors';

export interface RateLimit {
  /** Sustained requests per second per token. */
  perSecond: number;
  /** Requests a token may make at once before the sustained rate applies. */
  burst: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 50, burst: 100 };

/**
 * A token bucket per service or admin token, in memory: each API replica limits on its own,
 * which is what a limit against a runaway client needs. Keys are the configured tokens, so the
 * map stays small.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one request from `key`'s bucket, or throws a 429 saying when to come back. */
  take(key: string): void {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.limit.burst, at: now };
    bucket.tokens = Math.min(
      this.limit.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond,
    );
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    throw tooManyRequests(Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.perSecond)));
  }
}
