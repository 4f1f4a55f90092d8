import { SecretBox } from '../../secrets/envelope';
import { Coalescer } from '../../util/coalesce';
import { HeartbeatTokens } from '../auth/heartbeat-token';
import { TerminalTokens } from '../auth/terminal-token';
import { Authenticator } from '../auth/principal';
import type { ApiContext } from '../context';
import { DEFAULT_DEADLINES, Dependencies, type Deadlines } from '../dependencies';
import { ApiMetrics } from '../metrics/registry';
import { RateLimiter, resolveRateLimits, type RateLimit, type RateLimits } from '../rate-limit';
import type { TerminalOptions } from '../terminal/gateway';
import { HeartbeatRelay } from './heartbeats';
import { LabWatcher } from './watcher';

/** Tunables of one API process; the defaults are what production runs. */
export interface ApiOptions {
  /** Instead of config.api.rateLimit: one limit for every bucket (tests, benches), or some buckets. */
  rateLimit?: RateLimit | Partial<RateLimits>;
  deadlines?: Partial<Deadlines>;
  /** How often the shared long-poll poller reads watched labs. */
  longPollIntervalMs?: number;
  /** How long the heartbeat path trusts a lab state it read. */
  heartbeatStateTtlMs?: number;
  /** At most one resume signal per suspended lab per this interval. */
  heartbeatSignalEveryMs?: number;
  /** The browser terminal's pings, state checks and session limit. */
  terminal?: Partial<TerminalOptions>;
}

/** What the routes share within one API process: built once by createApp. */
export interface ApiServices {
  ctx: ApiContext;
  metrics: ApiMetrics;
  deps: Dependencies;
  auth: Authenticator;
  heartbeatTokens: HeartbeatTokens;
  terminalTokens: TerminalTokens;
  limiter: RateLimiter;
  heartbeats: HeartbeatRelay;
  watcher: LabWatcher;
  secretBox: SecretBox;
  /** Concurrent launches of one lab, sent to Temporal as one call and one follow-up. */
  launches: Coalescer<{ labId: string; started: boolean }>;
}

export function createServices(ctx: ApiContext, options: ApiOptions = {}): ApiServices {
  const metrics = new ApiMetrics();
  const deps = new Dependencies(
    { ...DEFAULT_DEADLINES, ...options.deadlines },
    metrics,
    ctx.logger,
    ctx.temporal.client,
  );
  const heartbeatTokens = new HeartbeatTokens(ctx.env.secretsKeys);
  return {
    ctx,
    metrics,
    deps,
    heartbeatTokens,
    terminalTokens: new TerminalTokens(ctx.env.secretsKeys),
    auth: new Authenticator(ctx.env, heartbeatTokens),
    limiter: new RateLimiter(
      resolveRateLimits(ctx.config.api.rateLimit, options.rateLimit),
      (scope) => metrics.rateLimited.inc({ scope }),
    ),
    heartbeats: new HeartbeatRelay(
      {
        store: ctx.store,
        client: ctx.temporal.client,
        dependencies: deps,
        metrics,
        logger: ctx.logger,
      },
      {
        flushMs: ctx.config.api.heartbeatFlush,
        // Active labs are refreshed at every flush; the TTL only bounds labs that went quiet.
        stateTtlMs: options.heartbeatStateTtlMs ?? 6 * ctx.config.api.heartbeatFlush,
        signalEveryMs: options.heartbeatSignalEveryMs ?? 5_000,
      },
    ),
    watcher: new LabWatcher(ctx.store, deps, metrics, options.longPollIntervalMs ?? 250),
    secretBox: new SecretBox(ctx.env.secretsKeys),
    launches: new Coalescer(),
  };
}
