/**
 * Coalesces concurrent calls that ask the same thing: while a call for a key runs, callers of
 * that key wait for one follow-up call, sent once the running one settles, and share its
 * answer. A caller never gets an answer from a call sent before it arrived (the follow-up
 * starts after it), and at most two calls per key are ever outstanding: one running, one queued.
 *
 * Why: a class opening one unit sends the same launch many times (double clicks, tabs,
 * retries); Temporal admits only a few in-flight updates per workflow and answers the rest
 * RESOURCE_EXHAUSTED, which its client retries with backoff for seconds.
 */
export class Coalescer<V> {
  private readonly lanes = new Map<string, Lane<V>>();

  run(key: string, work: () => Promise<V>): Promise<V> {
    const lane = this.lanes.get(key);
    if (!lane) {
      const fresh: Lane<V> = {};
      this.lanes.set(key, fresh);
      return this.send(key, fresh, work);
    }
    if (!lane.queued) {
      const running = lane.running ?? Promise.resolve();
      lane.queued = running.then(ignore, ignore).then(() => {
        lane.queued = undefined;
        return this.send(key, lane, work);
      });
    }
    return lane.queued;
  }

  /** Keys with a call running or queued (for tests and metrics). */
  get size(): number {
    return this.lanes.size;
  }

  private send(key: string, lane: Lane<V>, work: () => Promise<V>): Promise<V> {
    // Promise.resolve().then: a work() that throws synchronously still settles the lane.
    const running = Promise.resolve().then(work);
    lane.running = running;
    const settled = () => {
      if (lane.running === running && !lane.queued) this.lanes.delete(key);
    };
    running.then(settled, settled);
    return running;
  }
}

interface Lane<V> {
  running?: Promise<V>;
  queued?: Promise<V>;
}

const ignore = () => undefined;
