import { ActionDurations } from '../../src/openstack/durations';
import type { Stack, StackRef } from '../../src/openstack/types';
import { waitForStackStatus } from '../../src/openstack/wait';

/** A stack that is CREATE_COMPLETE `ms` after the wait began; counts Heat's `show` calls. */
function stackDoneAfter(ms: number) {
  const began = Date.now();
  const poller = {
    provider: 'cloud-a',
    shows: 0,
    getStack(ref: StackRef): Promise<Stack> {
      poller.shows += 1;
      const done = Date.now() - began >= ms;
      return Promise.resolve({
        ...ref,
        status: done ? 'CREATE_COMPLETE' : 'CREATE_IN_PROGRESS',
        statusReason: '',
        creationTime: null,
        updatedTime: null,
      });
    },
    listResources: () => Promise.resolve([]),
  };
  return poller;
}

describe('asking Heat when an action is likely done (issue 22)', () => {
  it('expects what most recent actions of a kind took, once it has seen a few', () => {
    const durations = new ActionDurations();
    durations.record('create:a:lab', 5_000);
    durations.record('create:a:lab', 5_200);
    expect(durations.expected('create:a:lab')).toBeUndefined();
    durations.record('create:a:lab', 9_000);
    durations.record('create:a:lab', 5_100);
    // The lower quartile: a first look rarely comes after the action ended.
    expect(durations.expected('create:a:lab')).toBe(5_000);
    expect(durations.expected('create:b:lab')).toBeUndefined();
  });

  it('polls a create it expects to take 400 ms three times or fewer instead of every 50 ms', async () => {
    const ref = { id: 'id-1', name: 'demo-x-g1' };
    const options = { deadline: Date.now() + 10_000, minIntervalMs: 50, maxIntervalMs: 1_000 };
    const blind = stackDoneAfter(400);
    await waitForStackStatus(blind, ref, ['CREATE_COMPLETE'], options);
    const informed = stackDoneAfter(400);
    const started = Date.now();
    await waitForStackStatus(informed, ref, ['CREATE_COMPLETE'], {
      ...options,
      expectedMs: () => 400,
    });
    expect(blind.shows).toBeGreaterThanOrEqual(6);
    expect(informed.shows).toBeLessThanOrEqual(3);
    // Seen within a poll interval (a fifth of the time waited) of finishing.
    expect(Date.now() - started).toBeLessThan(400 + 200);
  });
});
