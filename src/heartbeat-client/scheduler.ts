/**
 * When a learner's browser sends a heartbeat: on real activity, at most one per interval, none
 * while idle or hidden, with backoff after errors. No DOM and no clock of its own (both are
 * injected), so it runs the same in a page and in unit tests.
 */

export interface Clock {
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** What a send came to: `retry` says whether trying again later may help. */
export type SendResult =
  { ok: true; status: number } | { ok: false; retry: boolean; status: number | null };

export type Send = () => Promise<SendResult>;

export interface SchedulerOptions {
  /** At most one heartbeat per this many ms (30 s: the API coalesces them anyway). */
  intervalMs?: number;
  /** The longest wait after repeated errors. */
  maxBackoffMs?: number;
  /** Whether the page is visible at start. */
  visible?: boolean;
  /** Told of every send's result (the XBlock page refreshes its suspend clock on success). */
  onResult?: (result: SendResult) => void;
}

export const DEFAULT_INTERVAL_MS = 30_000;
export const DEFAULT_MAX_BACKOFF_MS = 5 * 60_000;

export class HeartbeatScheduler {
  private readonly intervalMs: number;
  private readonly maxBackoffMs: number;
  private visible: boolean;
  /** Activity seen since the last heartbeat went out (or failed). */
  private pending = false;
  private inFlight = false;
  private stopped = false;
  private failures = 0;
  /** No heartbeat before this time (interval after the last one, or backoff after an error). */
  private notBefore = -Infinity;
  private timer: unknown = null;

  constructor(
    private readonly send: Send,
    private readonly clock: Clock,
    private readonly options: SchedulerOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    this.visible = options.visible ?? true;
  }

  /** Learner input (key, pointer, scroll, touch) on the page. */
  activity(): void {
    if (this.stopped || !this.visible) return;
    this.pending = true;
    this.pump();
  }

  /** The page became visible (the learner is back: that is activity) or hidden (stop). */
  visibility(visible: boolean): void {
    this.visible = visible;
    if (visible) return this.activity();
    this.pending = false;
    this.cancelTimer();
  }

  /** For good: the lab is gone or the token refused (and no fresh one could be had). */
  stop(): void {
    this.stopped = true;
    this.pending = false;
    this.cancelTimer();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  private pump(): void {
    if (!this.pending || this.inFlight || this.stopped || !this.visible || this.timer !== null)
      return;
    const wait = this.notBefore - this.clock.now();
    if (wait > 0) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = null;
        this.pump();
      }, wait);
      return;
    }
    void this.beat();
  }

  private async beat(): Promise<void> {
    this.pending = false;
    this.inFlight = true;
    this.notBefore = this.clock.now() + this.intervalMs;
    let result: SendResult;
    try {
      result = await this.send();
    } catch {
      result = { ok: false, retry: true, status: null };
    }
    this.inFlight = false;
    if (result.ok) {
      this.failures = 0;
    } else if (result.retry) {
      this.failures += 1;
      const backoff = Math.min(this.maxBackoffMs, this.intervalMs * 2 ** this.failures);
      this.notBefore = this.clock.now() + backoff;
      // The activity it carried was not delivered: deliver it once the backoff is over.
      this.pending = true;
    } else {
      this.stop();
    }
    this.options.onResult?.(result);
    this.pump();
  }

  private cancelTimer(): void {
    if (this.timer === null) return;
    this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}

/** How an HTTP status of the heartbeat route counts (network errors are retried). */
export function resultOf(status: number): SendResult {
  if (status >= 200 && status < 300) return { ok: true, status };
  const retry = status === 408 || status === 429 || status >= 500;
  return { ok: false, retry, status };
}
