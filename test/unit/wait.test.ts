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
