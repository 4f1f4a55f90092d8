import { buildSync } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHeartbeat, type BrowserGlobals } from '../../src/heartbeat-client/browser';
import { bundleOptions, HEARTBEAT_BUNDLE } from '../../src/heartbeat-client/build';
import {
  HeartbeatScheduler,
  resultOf,
  type Clock,
  type SchedulerOptions,
  type SendResult,
} from '../../src/heartbeat-client/scheduler';

/** A clock whose time moves only when the test says, running due timers in order. */
class FakeClock implements Clock {
  time = 0;
  private nextId = 1;
  private timers: Array<{ id: number; at: number; run: () => void }> = [];

  now(): number {
    return this.time;
  }
  setTimeout(run: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ id, at: this.time + ms, run });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  get pendingTimers(): number {
    return this.timers.length;
  }
  /** Moves time on by `ms`, running each timer at its time and letting sends settle. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await settle();
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = due.at;
      due.run();
      await settle();
    }
    this.time = end;
  }
}

/** Lets resolved sends' continuations run (microtasks only: no time passes). */
const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

/** A send that records when it was called and answers what the test queued (204 by default). */
function fakeSend(clock: FakeClock) {
  const sentAt: number[] = [];
  const answers: Array<SendResult | Error> = [];
  const send = async (): Promise<SendResult> => {
    sentAt.push(clock.now());
    const answer = answers.shift() ?? { ok: true, status: 204 };
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { send, sentAt, answers };
}

function setup(options: SchedulerOptions = {}) {
  const clock = new FakeClock();
  const { send, sentAt, answers } = fakeSend(clock);
  const results: SendResult[] = [];
  const scheduler = new HeartbeatScheduler(send, clock, {
    ...options,
    onResult: (r) => results.push(r),
  });
  return { clock, scheduler, sentAt, answers, results };
}

const S = 1000;

describe('heartbeat client: when heartbeats are sent', () => {
  it('sends on activity at once, then at most one per interval, and nothing while idle', async () => {
    const { clock, scheduler, sentAt } = setup();
    scheduler.activity();
    await clock.advance(0);
    expect(sentAt).toEqual([0]);
    // Busy learner within the interval: nothing more yet, one trailing heartbeat at 30 s.
    for (let t = 1; t < 10; t++) {
      await clock.advance(S);
      scheduler.activity();
    }
    expect(sentAt).toEqual([0]);
    await clock.advance(30 * S);
    expect(sentAt).toEqual([0, 30 * S]);
    // Idle for ten minutes: no heartbeat, no timer left running.
    await clock.advance(600 * S);
    expect(sentAt).toEqual([0, 30 * S]);
    expect(clock.pendingTimers).toBe(0);
    // Back: a heartbeat at once (the interval has long passed).
    scheduler.activity();
    await clock.advance(0);
    expect(sentAt).toEqual([0, 30 * S, 639 * S]);
  });

  it('keeps to one heartbeat per interval under continuous activity', async () => {
    const { clock, scheduler, sentAt } = setup({ intervalMs: 30 * S });
    for (let t = 0; t < 300; t++) {
      scheduler.activity();
      await clock.advance(S / 2);
      scheduler.activity();
      await clock.advance(S / 2);
    }
    // The last activity (299.5 s) gets its trailing heartbeat at 300 s.
    expect(sentAt).toEqual(Array.from({ length: 11 }, (_, i) => i * 30 * S));
  });

  it('sends nothing while the page is hidden, and beats when it is visible again', async () => {
    const { clock, scheduler, sentAt } = setup();
    scheduler.activity();
    await clock.advance(5 * S);
    scheduler.activity(); // would make a trailing heartbeat at 30 s...
    scheduler.visibility(false); // ...but the page is hidden now
    expect(clock.pendingTimers).toBe(0);
    for (let t = 0; t < 100; t++) {
      scheduler.activity();
      await clock.advance(S);
    }
    expect(sentAt).toEqual([0]);
    scheduler.visibility(true);
    await clock.advance(0);
    expect(sentAt).toEqual([0, 105 * S]);

    // Visible again within the interval: the heartbeat waits for the interval's end.
    scheduler.visibility(false);
    await clock.advance(10 * S);
    scheduler.visibility(true);
    await clock.advance(19 * S);
    expect(sentAt).toEqual([0, 105 * S]);
    await clock.advance(1 * S);
    expect(sentAt).toEqual([0, 105 * S, 135 * S]);
  });

  it('starts hidden when told so', async () => {
    const { clock, scheduler, sentAt } = setup({ visible: false });
    scheduler.activity();
    await clock.advance(60 * S);
    expect(sentAt).toEqual([]);
  });

  it('backs off exponentially on errors (up to the maximum) and recovers on success', async () => {
    const { clock, scheduler, sentAt, answers, results } = setup({
      intervalMs: 30 * S,
      maxBackoffMs: 200 * S,
    });
    answers.push(
      { ok: false, retry: true, status: 503 },
      new Error('network down'),
      { ok: false, retry: true, status: 429 },
      { ok: false, retry: true, status: 502 },
    );
    scheduler.activity();
    // The undelivered activity is retried without new input: 60 s, 120 s, then 200 s (capped).
    await clock.advance(1000 * S);
    expect(sentAt).toEqual([0, 60 * S, 180 * S, 380 * S, 580 * S]);
    expect(results.map((r) => r.ok)).toEqual([false, false, false, false, true]);
    expect(results[1]).toEqual({ ok: false, retry: true, status: null });
    // After the success: the plain interval again, and idle means silence.
    expect(clock.pendingTimers).toBe(0);
    scheduler.activity();
    await clock.advance(0);
    expect(sentAt.at(-1)).toBe(1000 * S);
  });

  it('stops for good when the API refuses the token or the lab is gone', async () => {
    for (const status of [401, 403, 404, 409]) {
      const { clock, scheduler, sentAt, answers, results } = setup();
      answers.push(resultOf(status));
      scheduler.activity();
      await clock.advance(0);
      expect(scheduler.isStopped).toBe(true);
      expect(results).toEqual([{ ok: false, retry: false, status }]);
      for (let t = 0; t < 10; t++) {
        scheduler.activity();
        scheduler.visibility(true);
        await clock.advance(60 * S);
      }
      expect(sentAt).toEqual([0]);
    }
  });

  it('never has two heartbeats in flight', async () => {
    const clock = new FakeClock();
    const sentAt: number[] = [];
    let answer: (r: SendResult) => void = () => undefined;
    const scheduler = new HeartbeatScheduler(
      () => {
        sentAt.push(clock.now());
        return new Promise<SendResult>((r) => (answer = r));
      },
      clock,
      { intervalMs: 30 * S },
    );
    scheduler.activity();
    await clock.advance(45 * S); // the API is slow: still no answer
    scheduler.activity();
    await clock.advance(10 * S);
    expect(sentAt).toEqual([0]);
    answer({ ok: true, status: 204 });
    await clock.advance(0); // the interval has passed and there was activity: send now
    expect(sentAt).toEqual([0, 55 * S]);
  });

  it('classifies statuses', () => {
    expect(resultOf(204)).toEqual({ ok: true, status: 204 });
    for (const s of [408, 429, 500, 502, 503, 504])
      expect(resultOf(s)).toEqual({ ok: false, retry: true, status: s });
    for (const s of [400, 401, 403, 404, 409, 413])
      expect(resultOf(s)).toEqual({ ok: false, retry: false, status: s });
  });
});

describe('heartbeat client: in the page', () => {
  type Call = { url: string; init: Parameters<BrowserGlobals['fetch']>[1] };

  function fakePage(statuses: number[]) {
    const listeners = new Map<string, Set<() => void>>();
    const target = (prefix: string) => ({
      addEventListener: (type: string, l: () => void) => {
        const key = prefix + type;
        listeners.set(key, (listeners.get(key) ?? new Set()).add(l));
      },
      removeEventListener: (type: string, l: () => void) => listeners.get(prefix + type)?.delete(l),
    });
    const calls: Call[] = [];
    const page = {
      ...target('window:'),
      document: { ...target('document:'), visibilityState: 'visible' },
      fetch: async (url: string, init: Call['init']) => {
        calls.push({ url, init });
        return { status: statuses.shift() ?? 204 };
      },
      setTimeout: () => 0,
      clearTimeout: () => undefined,
    };
    const fire = (key: string) => listeners.get(key)?.forEach((l) => l());
    const count = () => [...listeners.values()].reduce((n, set) => n + set.size, 0);
    return { page: page as BrowserGlobals & typeof page, calls, fire, count };
  }

  it('posts to the heartbeat URL with the lab token, keepalive, and no cookies', async () => {
    const { page, calls, fire, count } = fakePage([204, 409]);
    const results: SendResult[] = [];
    const beat = startHeartbeat(
      {
        url: 'https://labs.example.org/v1/labs/lab_x/heartbeat',
        token: 'hb1.lab_x.1.sig',
        intervalMs: 0,
        onResult: (r) => results.push(r),
      },
      page,
    );
    await settle();
    expect(calls).toEqual([
      {
        url: 'https://labs.example.org/v1/labs/lab_x/heartbeat',
        init: {
          method: 'POST',
          headers: { Authorization: 'Bearer hb1.lab_x.1.sig' },
          keepalive: true,
          mode: 'cors',
          credentials: 'omit',
        },
      },
    ]);
    expect(count()).toBeGreaterThan(5);
    // Input counts as activity; a hidden page does not.
    page.document.visibilityState = 'hidden';
    fire('document:visibilitychange');
    fire('window:keydown');
    await settle();
    expect(calls).toHaveLength(1);
    page.document.visibilityState = 'visible';
    fire('document:visibilitychange');
    await settle();
    // The lab is gone (409): the client stops and lets go of the page's events.
    expect(results.map((r) => r.status)).toEqual([204, 409]);
    expect(count()).toBe(0);
    fire('window:pointerdown');
    await settle();
    expect(calls).toHaveLength(2);
    beat.stop();
  });
});

describe('heartbeat client: a refused token (key rotation)', () => {
  const OLD = 'hb1.lab_x.1.sig';
  /** A page on jest's fake clock, whose API accepts only the tokens the test lists. */
  function rotatedPage(accepted: Set<string>) {
    const tokens: string[] = [];
    const listeners = new Set<() => void>();
    const page: BrowserGlobals = {
      addEventListener: (_type, l) => listeners.add(l),
      removeEventListener: (_type, l) => listeners.delete(l),
      document: {
        addEventListener: (_type, l) => listeners.add(l),
        removeEventListener: (_type, l) => listeners.delete(l),
        visibilityState: 'visible',
      },
      fetch: async (_url, init) => {
        const token = (init.headers.Authorization ?? '').replace(/^Bearer /, '');
        tokens.push(token);
        return { status: accepted.has(token) ? 204 : 401 };
      },
      setTimeout: (run, ms) => setTimeout(run, ms),
      clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
    };
    return { page, tokens, attached: () => listeners.size };
  }
  const start = (page: BrowserGlobals, renewToken: () => Promise<string | null>) => {
    const results: SendResult[] = [];
    const beat = startHeartbeat(
      {
        url: 'https://labs.example.org/v1/labs/lab_x/heartbeat',
        token: OLD,
        onResult: (r) => results.push(r),
        renewToken,
      },
      page,
    );
    return { beat, results };
  };

  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  it('asks for a fresh token on 401 and carries on with it', async () => {
    const accepted = new Set(['hb1.lab_x.2.sig']);
    const { page, tokens, attached } = rotatedPage(accepted);
    const fresh = ['hb1.lab_x.2.sig', 'hb1.lab_x.3.sig'];
    let renewals = 0;
    const { beat, results } = start(page, async () => {
      renewals += 1;
      return fresh.shift() ?? null;
    });
    await jest.advanceTimersByTimeAsync(0);
    // The refused heartbeat is sent again at once with the fresh token, and counts.
    expect(tokens).toEqual([OLD, 'hb1.lab_x.2.sig']);
    expect(results).toEqual([{ ok: true, status: 204 }]);
    expect(renewals).toBe(1);
    beat.activity();
    await jest.advanceTimersByTimeAsync(30 * S);
    expect(tokens).toEqual([OLD, 'hb1.lab_x.2.sig', 'hb1.lab_x.2.sig']);

    // Another rotation next month: renewed again (the bound counts renewals in a row).
    accepted.clear();
    accepted.add('hb1.lab_x.3.sig');
    beat.activity();
    await jest.advanceTimersByTimeAsync(30 * S);
    expect(tokens.slice(3)).toEqual(['hb1.lab_x.2.sig', 'hb1.lab_x.3.sig']);
    expect(renewals).toBe(2);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(attached()).toBeGreaterThan(0);
    beat.stop();
  });

  it('stops for good when the XBlock has no token to give (the lab is gone)', async () => {
    const { page, tokens, attached } = rotatedPage(new Set());
    const { results } = start(page, async () => null);
    await jest.advanceTimersByTimeAsync(0);
    expect(results).toEqual([{ ok: false, retry: false, status: 401 }]);
    expect(attached()).toBe(0);
    await jest.advanceTimersByTimeAsync(3600 * S);
    expect(tokens).toEqual([OLD]);
  });

  it('retries a renewal the XBlock could not answer, with backoff, a bounded number of times', async () => {
    const { page, tokens, attached } = rotatedPage(new Set(['hb1.lab_x.2.sig']));
    const askedAt: number[] = [];
    const { results } = start(page, async () => {
      askedAt.push(Date.now());
      throw new Error('503 from the XBlock');
    });
    await jest.advanceTimersByTimeAsync(6 * 3600 * S);
    // Backoff between attempts (60 s, then 120 s), then the client gives up and lets go.
    expect(askedAt).toEqual([0, 60 * S, 180 * S]);
    expect(results.map((r) => r.ok || r.retry)).toEqual([true, true, false]);
    expect(tokens).toHaveLength(3);
    expect(attached()).toBe(0);
  });

  it('does not renew forever when fresh tokens are refused too', async () => {
    const { page, tokens, attached } = rotatedPage(new Set());
    let issued = 1;
    const { results } = start(page, async () => `hb1.lab_x.${++issued}.sig`);
    await jest.advanceTimersByTimeAsync(6 * 3600 * S);
    expect(issued - 1).toBe(3);
    expect(tokens.length).toBeLessThanOrEqual(6);
    expect(results.at(-1)).toEqual({ ok: false, retry: false, status: 401 });
    expect(attached()).toBe(0);
  });
});

describe('heartbeat client: the bundle the XBlock ships', () => {
  it('is what `npm run build:heartbeat` builds from the sources now', () => {
    const dir = mkdtempSync(join(tmpdir(), 'heartbeat-'));
    try {
      const fresh = join(dir, 'heartbeat.js');
      buildSync(bundleOptions(fresh));
      const committed = readFileSync(resolve(__dirname, '../..', HEARTBEAT_BUNDLE), 'utf8');
      expect(committed === readFileSync(fresh, 'utf8')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
