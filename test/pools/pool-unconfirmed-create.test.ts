import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { poolWorkflowId } from '../../workflows/pool-messages';
import { unconfirmedCreate } from '../support/heat-faults';
import { startLabEnv, type LabEnv } from '../support/lab-env';
import { waitFor } from '../support/wait';
import { waitForPool } from './pool-env';

/**
 * Issue 15, item 3 for pools: a pool create that Heat took while its answer was lost, and that
 * then ran out of retries, left a stack no one owned. The pool now looks it up by its
 * deterministic name and deletes it before it builds again.
 */
describe('a pool stack whose create was never confirmed', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({ capacity: 20, pool: '{ size: 1, checkEvery: 1h }' });
  });
  afterAll(() => env.close());

  it('is found by its name and deleted, and the pool still fills', async () => {
    const name = 'pool-demo-s0-g1';
    await unconfirmedCreate(env.emulator.admin, name);
    const stackOf = async () => (await env.emulator.admin.stacks()).find((s) => s.name === name);
    await env.startWorker();
    await env.startPools();
    await waitFor('the create to be made in Heat', async () => (await stackOf()) !== undefined);
    // The create activity gives up after its retries (about a minute) while the stack exists.
    const pool = env.client.workflow.getHandle(poolWorkflowId('demo', env.taskQueue));
    await waitFor(
      'the create to run out of retries',
      async () =>
        (await pool.fetchHistory()).events!.some((e) => e.activityTaskFailedEventAttributes),
      120_000,
    );
    await env.emulator.admin.clearFaults();
    await waitFor(
      'the unconfirmed stack to be deleted',
      async () => (await stackOf())?.status === 'DELETE_COMPLETE',
      150_000,
    );
    await waitForPool(env, 1, 90_000);
    // The pool's history through the patched path, replayed by durability.test.ts.
    if (process.env.LABS_RECORD_HISTORIES)
      writeFileSync(
        join(__dirname, '../fixtures/histories/pool-v2-unconfirmed-create.json'),
        historyToJSON(await pool.fetchHistory()),
      );
  }, 240_000);
});
