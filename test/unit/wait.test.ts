import { pollInterval, waitForStackStatus } from '../../src/openstack/wait';
import type { Stack, StackRef } from '../../src/openstack/types';

/** A stack whose action finishes `afterMs` from now; counts the polls it answered. */
function stackFinishingIn(afterMs: number) {
  const ref: StackRef = { id: 'id-1', name: 'demo-g1' };
  const doneAt = Date.now() + afterMs;
  const poller = {
    provider: 'cloud-a',
    polls: 0,
    async getStack(): Promise<Stack> {
      poller.polls += 1;
      const done = Date.now() >= doneAt;
      return {
        ...ref,
        status: done ? 'RESUME_COMPLETE' : 'RESUME_IN_PROGRESS',
        statusReason: '',
        creationTime: null,
        updatedTime: null,
      };
    },
    async listResources() {
      return [];
    },
  };
  return { ref, doneAt, poller };
}

describe('waiting for a stack action', () => {
  it('polls at the minimum interval first, then after a fifth of the time waited, up to the maximum', () => {
    // The product's figures: a 5 s resume is polled every 500 ms at first (seen <= 0.5 s late),
    // a long create every 10 s.
    expect(
      [0, 1000, 2500, 5000, 20_000, 50_000, 600_000].map((t) => pollInterval(t, 500, 10_000)),
    ).toEqual([500, 500, 500, 1000, 4000, 10_000, 10_000]);
  });

  it.each([300, 1500])(
    'learns that a %i ms action finished at most a fifth of its time (or one minimum interval) late',
    async (afterMs) => {
      const { ref, doneAt, poller } = stackFinishingIn(afterMs);
      const started = Date.now();
      await waitForStackStatus(poller, ref, ['RESUME_COMPLETE'], {
        deadline: Date.now() + 10_000,
        minIntervalMs: 100,
        maxIntervalMs: 5_000,
      });
      const late = Date.now() - doneAt;
      // 50 ms of slack for timers on a busy machine.
      expect(late).toBeLessThanOrEqual(Math.max(100, 0.2 * (Date.now() - started)) + 50);
      expect(poller.polls).toBeLessThanOrEqual(Math.ceil(afterMs / 100) + 2);
    },
  );

  it('gives up at its deadline, polling no faster than its minimum interval', async () => {
    const { ref, poller } = stackFinishingIn(60_000);
    const waiting = waitForStackStatus(poller, ref, ['RESUME_COMPLETE'], {
      deadline: Date.now() + 1_200,
      minIntervalMs: 100,
      maxIntervalMs: 150,
    }).catch((err: Error) => err);
    const err = await waiting;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/before the deadline \(last status RESUME_IN_PROGRESS/);
    // 1.2 s at intervals of 100-150 ms: about 9 polls, never a busy loop.
    expect(poller.polls).toBeGreaterThanOrEqual(6);
    expect(poller.polls).toBeLessThanOrEqual(13);
  });
});

/** A create of `resources` resources, one finishing every `stepMs`; counts each kind of call. */
function createOf(resources: number, stepMs: number, failAt?: number) {
  const ref: StackRef = { id: 'id-2', name: 'cluster-g1' };
  const started = Date.now();
  const doneCount = () => Math.min(resources, Math.floor((Date.now() - started) / stepMs));
  const failed = () => failAt !== undefined && doneCount() >= failAt;
  const calls = { shows: 0, listings: 0 };
  const poller = {
    provider: 'cloud-a',
    async getStack(): Promise<Stack> {
      calls.shows += 1;
      const status = failed()
        ? 'CREATE_FAILED'
        : doneCount() === resources
          ? 'CREATE_COMPLETE'
          : 'CREATE_IN_PROGRESS';
      return { ...ref, status, statusReason: '', creationTime: null, updatedTime: null };
    },
    async listResources() {
      calls.listings += 1;
      const done = doneCount();
      return Array.from({ length: resources }, (_, i) => ({
        name: `r${i}`,
        type: 'OS::Heat::TestResource',
        physicalId: `id-r${i}`,
        status:
          failed() && i === done
            ? 'CREATE_FAILED'
            : i < done
              ? 'CREATE_COMPLETE'
              : 'CREATE_IN_PROGRESS',
        statusReason: '',
      }));
    },
  };
  return { ref, calls, poller };
}

describe('progress while a create runs', () => {
  it('lists the resources in place of a look at the stack, and ends with every resource done', async () => {
    const { ref, calls, poller } = createOf(4, 250);
    const seen: string[] = [];
    await waitForStackStatus(poller, ref, ['CREATE_COMPLETE'], {
      deadline: Date.now() + 10_000,
      minIntervalMs: 100,
      maxIntervalMs: 100,
      progressEveryMs: 300,
      justAsked: true,
      onProgress: (p) => {
        seen.push(`${p.done}/${p.total}`);
      },
    });
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.at(-1)).toBe('4/4');
    // About 10 polls over 1 s: each listing (every 300 ms) stood in for a look at the stack.
    expect(calls.listings).toBeGreaterThanOrEqual(2);
    const polls = Math.ceil(1000 / 100) + 2;
    expect(calls.shows + calls.listings).toBeLessThanOrEqual(polls);
  });

  it('reports a listing that finds every resource done while the stack is still in progress', async () => {
    // A fast create: Heat lists both resources done before the stack itself is complete, and
    // that one listing is all the progress the learner sees.
    const ref: StackRef = { id: 'id-3', name: 'demo-g3' };
    const completeAt = Date.now() + 400;
    const poller = {
      provider: 'cloud-a',
      async getStack(): Promise<Stack> {
        const status = Date.now() >= completeAt ? 'CREATE_COMPLETE' : 'CREATE_IN_PROGRESS';
        return { ...ref, status, statusReason: '', creationTime: null, updatedTime: null };
      },
      async listResources() {
        return ['a', 'b'].map((name) => ({
          name,
          type: 'OS::Heat::TestResource',
          physicalId: `id-${name}`,
          status: 'CREATE_COMPLETE',
          statusReason: '',
        }));
      },
    };
    const seen: string[] = [];
    await waitForStackStatus(poller, ref, ['CREATE_COMPLETE'], {
      deadline: Date.now() + 5_000,
      minIntervalMs: 50,
      maxIntervalMs: 50,
      progressEveryMs: 100,
      onProgress: (p) => {
        seen.push(`${p.done}/${p.total}`);
      },
    });
    expect(seen).toEqual(['2/2']);
  });

  it('sees a failure a listing reports at the look right after it', async () => {
    const { ref, calls, poller } = createOf(4, 200, 2);
    const err = await waitForStackStatus(poller, ref, ['CREATE_COMPLETE'], {
      deadline: Date.now() + 10_000,
      minIntervalMs: 1_000,
      maxIntervalMs: 1_000,
      progressEveryMs: 450,
      onProgress: () => undefined,
    }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/CREATE_FAILED/);
    // The look at 0 s, the listing at 1 s that showed the failed resource, and the look with it.
    expect(calls).toEqual({ shows: 2, listings: 1 });
  });
});
