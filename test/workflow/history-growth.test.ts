import { suspendLabUpdate } from '../../workflows/messages';
import { startLabEnv, type LabEnv } from '../support/lab-env';
import { pace } from '../support/wait';

/**
 * History growth, with time scaled down (the counts depend on how many timers fire, not on
 * their length): an active lab adds a constant number of events per idleTimeout window whatever
 * the heartbeat rate, and a suspended lab one wake-up per policy refresh.
 */
describe('the lab workflow history stays small', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({
      idleTimeout: '1s',
      deleteAfter: '4s',
      policyRefresh: '200ms',
      heartbeatFlush: '50ms',
    });
    await env.startWorker();
  });
  afterAll(() => env.close());

  const eventCount = async (labId: string) =>
    (await env.client.workflow.getHandle(labId).describe()).historyLength;
  /** Timers fired after the first `from` events: the lab's wake-ups, however long they took. */
  const timersFiredAfter = async (labId: string, from: number) => {
    const { events } = await env.client.workflow.getHandle(labId).fetchHistory();
    return (events ?? []).slice(from).filter((e) => e.timerFiredEventAttributes).length;
  };

  it('grows by a small constant per idleTimeout window while the learner is active, at any heartbeat rate', async () => {
    const windows = 6;
    const growth: Record<string, number> = {};
    const wakeUps: Record<string, number> = {};
    for (const [label, intervalMs] of [
      ['every 50 ms', 50],
      ['every 250 ms', 250],
    ] as const) {
      const { labId } = await env.launch({ learnerId: `anon-growth-${intervalMs}` });
      await env.waitForState(labId, 'ready');
      const before = await eventCount(labId);
      const until = Date.now() + windows * 1000;
      while (Date.now() < until) {
        await env.store.activity.record(labId, new Date());
        await pace(intervalMs);
      }
      expect((await env.status(labId)).state).toBe('ready');
      growth[label] = (await eventCount(labId)) - before;
      wakeUps[label] = await timersFiredAfter(labId, before);
    }
    console.log(`history events added over ${windows} idle windows of an active lab:`, growth, {
      wakeUps,
    });
    for (const added of Object.values(growth)) expect(added).toBeLessThanOrEqual(windows * 12);
    // What the heartbeat rate must not change: heartbeats never wake the workflow (at most one
    // wake-up per idle window, fewer on a loaded machine), and a wake-up costs a constant number
    // of events (11; 12 allows for one wake-up still in flight at the end).
    for (const label of Object.keys(growth)) {
      expect(wakeUps[label]).toBeLessThanOrEqual(windows + 1);
      expect(growth[label]).toBeLessThanOrEqual(12 * (wakeUps[label]! + 1));
    }
  }, 60_000);

  it('a suspended lab wakes once per policy refresh until retention deletes it', async () => {
    const { labId } = await env.launch({ learnerId: 'anon-suspended-growth' });
    await env.waitForState(labId, 'ready');
    await env.client.workflow
      .getHandle(labId)
      .executeUpdate(suspendLabUpdate, { args: [{ version: 1 }] });
    await env.waitForState(labId, 'suspended');
    const before = await eventCount(labId);
    await env.client.workflow.getHandle(labId).result();
    const total = await eventCount(labId);
    // deleteAfter / policyRefresh = 20 wake-ups, then the delete itself.
    console.log(
      `suspended for 20 policy refreshes, then deleted: ${total - before} events added, ${total} in all`,
    );
    expect(total - before).toBeLessThanOrEqual(20 * 8 + 40);
  }, 60_000);
});
