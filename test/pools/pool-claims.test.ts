import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteLabUpdate, resetLabUpdate, suspendLabUpdate } from '../../workflows/messages';
import { startLabEnv, type LabEnv } from '../support/lab-env';
import { waitFor } from '../support/wait';
import { livePoolStacks, waitForPool } from './pool-env';

/** A whole life of a lab that began on a pool stack, replayed by test/workflow/durability.test.ts. */
const CLAIMED_LIFE_HISTORY = join(
  __dirname,
  '../fixtures/histories/lab-v3-pool-claim-claimed-life.json',
);

describe('launches claim warm pool stacks', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({ capacity: 200, pool: '{ size: 10, checkEvery: 1h }' });
    await env.startWorker();
    await env.startPools();
    await waitForPool(env, 10);
  });
  afterAll(() => env.close());

  it('hands each pool stack to one lab under 50 concurrent launches, creates the rest, and refills', async () => {
    const pooled = (await env.store.pools.readyStacks('demo')).map((d) => d._id).sort();
    const launched = await Promise.all(
      Array.from({ length: 50 }, (_, i) => env.launch({ learnerId: `anon-storm-${i}` })),
    );
    const ready = await Promise.all(
      launched.map((l) => env.waitForState(l.labId, 'ready', 90_000)),
    );
    const fromPool = ready.filter((r) => r.fromPool);
    const claimedStacks = fromPool.map((r) => r.stack!.name);
    // Every stack of the pool went to exactly one lab; later launches may get refilled stacks.
    expect(new Set(claimedStacks).size).toBe(claimedStacks.length);
    expect(claimedStacks).toEqual(expect.arrayContaining(pooled));
    for (const r of ready.filter((x) => !x.fromPool))
      expect(r.stack!.name).toBe(`demo-${r.labId.slice(4)}-g1`);
    const claims = await env.store.pools.claims.find({ labId: { $ne: null } }).toArray();
    expect(claims.map((c) => c._id).sort()).toEqual([...claimedStacks].sort());
    // A lab on a pool stack has its secrets sealed for it and its outputs as from a create.
    expect(fromPool[0]!.outputs).toEqual({ public_ip: '192.0.2.10' });
    expect((await env.store.secrets.get(fromPool[0]!.labId))?.secrets.password).toBeDefined();
    expect((await env.store.labs.get(fromPool[0]!.labId))?.fromPool).toBe(true);
    await waitForPool(env, 10);
    // Capacity: one slot per lab and per ready pool stack, none counted twice.
    await waitFor(
      'capacity to match the stacks',
      async () => (await env.store.capacity.usage()).get('cloud-a') === 60,
    );
    const live = (await env.emulator.admin.stacks()).filter((s) => s.status !== 'DELETE_COMPLETE');
    expect(live).toHaveLength(60);
  }, 180_000);

  it("releases the pool stack's capacity when the lab that claimed it is deleted", async () => {
    const { labId } = await env.launch({ learnerId: 'anon-claim-delete' });
    const ready = await env.waitForState(labId, 'ready');
    expect(ready.fromPool).toBe(true);
    await waitForPool(env, 10);
    const before = (await env.store.capacity.usage()).get('cloud-a')!;
    const handle = env.client.workflow.getHandle(labId);
    await handle.executeUpdate('deleteLab', { args: [{ version: 1 }] });
    await handle.result();
    expect(await env.store.capacity.holderOf(ready.stack!.name)).toBeNull();
    expect((await env.store.capacity.usage()).get('cloud-a')).toBe(before - 1);
  });

  it('never hands out a pool stack deleted by hand: the launch gets a live one', async () => {
    const [gone] = (await env.store.pools.readyStacks('demo')).map((d) => d._id).sort();
    await env.emulator.admin.deleteStackByHand(gone!);
    // Every launch races for a random ready stack; ten of them make sure the lost one is tried.
    const labs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => env.launch({ learnerId: `anon-lost-${i}` })),
    );
    const ready = await Promise.all(labs.map((l) => env.waitForState(l.labId, 'ready', 60_000)));
    expect(ready.map((r) => r.stack!.name)).not.toContain(gone);
    expect((await env.store.pools.claimOf(gone!))?.claimant).toBe(`rejected:${gone}`);
    for (const r of ready) expect(await env.liveStacks(r.labId).catch(() => [])).toBeDefined();
    await waitFor(
      'the pool to replace the lost stack',
      async () => (await env.store.pools.get(gone!))?.state === 'discarded',
    );
  }, 120_000);

  it('keeps a claim across a worker killed while the claimed stack resumes', async () => {
    await waitForPool(env, 10);
    await env.emulator.admin.updateSettings({ actionDelayMs: 1500 });
    const { labId } = await env.launch({ learnerId: 'anon-killed' });
    const claimed = await env.waitForState(labId, 'launching');
    await waitFor('the claim', async () => (await env.status(labId)).fromPool === true);
    const { stack } = await env.status(labId);
    await env.stopWorker();
    await env.startWorker();
    const ready = await env.waitForState(labId, 'ready', 60_000);
    expect(claimed.labId).toBe(labId);
    expect(ready.stack!.name).toBe(stack!.name);
    expect((await env.store.pools.claimOf(stack!.name))?.labId).toBe(labId);
    expect((await livePoolStacks(env)).find((s) => s.name === stack!.name)?.status).toBe(
      'RESUME_COMPLETE',
    );
    await env.emulator.admin.updateSettings({ actionDelayMs: 20 });
  }, 90_000);

  it('records a life that began on a pool stack, for replay tests (when LABS_RECORD_HISTORIES is set)', async () => {
    await waitForPool(env, 10);
    const { labId } = await env.launch({ learnerId: 'anon-history-pool' });
    expect((await env.waitForState(labId, 'ready')).fromPool).toBe(true);
    const handle = env.client.workflow.getHandle(labId);
    await handle.executeUpdate(suspendLabUpdate, { args: [{ version: 1 }] });
    await env.waitForState(labId, 'suspended');
    await env.launch({ learnerId: 'anon-history-pool' });
    await env.waitForState(labId, 'ready');
    await handle.executeUpdate(resetLabUpdate, { args: [{ version: 1 }] });
    await waitFor('the reset lab to be ready', async () => {
      const s = await env.status(labId);
      return s.state === 'ready' && s.generation === 2;
    });
    await handle.executeUpdate(deleteLabUpdate, { args: [{ version: 1 }] });
    await handle.result();
    const history = await handle.fetchHistory();
    if (process.env.LABS_RECORD_HISTORIES)
      writeFileSync(CLAIMED_LIFE_HISTORY, historyToJSON(history));
    expect(existsSync(CLAIMED_LIFE_HISTORY)).toBe(true);
  }, 60_000);
});
