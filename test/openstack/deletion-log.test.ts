import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningEmulator } from '../../src/emulator';
import { keystoneId } from '../../src/emulator/keystone-api';
import type { HeatClient } from '../../src/openstack';
import { clientFor, fastPoll, startFastEmulator, template, uniqueStackName } from './support';

/** The emulator's record of who deleted which stack, and when (the soak's evidence). */
describe('emulator deletion log', () => {
  let emulator: RunningEmulator;
  let client: HeatClient;
  const none = template('test/none.yaml');

  beforeAll(async () => {
    emulator = await startFastEmulator();
  });
  afterAll(() => emulator.close());
  beforeEach(async () => {
    await emulator.admin.reset();
    client = clientFor(emulator);
  });

  async function readyStack(prefix: string, on = client): Promise<{ id: string; name: string }> {
    const ref = await on.createStack({ name: uniqueStackName(prefix), template: none });
    await on.waitForStackStatus(ref, ['CREATE_COMPLETE'], fastPoll());
    return ref;
  }

  it('a delete through Heat: the stack, its status then, the time, and the Keystone user and project', async () => {
    const ref = await readyStack('viaheat');
    const [created] = await emulator.admin.stacks();
    const before = Date.now();
    await client.deleteStack(ref);
    const after = Date.now();
    const [deletion, ...more] = await emulator.admin.deletions();
    expect(more).toEqual([]);
    expect(deletion).toEqual({
      stackId: ref.id,
      stackName: ref.name,
      projectId: keystoneId('project', 'labs'),
      createdAt: created?.creationTime,
      at: expect.any(Number) as number,
      statusBefore: 'CREATE_COMPLETE',
      by: {
        via: 'heat',
        userId: keystoneId('user', 'learner-ops'),
        userName: 'learner-ops',
        projectId: keystoneId('project', 'labs'),
        projectName: 'labs',
      },
    });
    expect(deletion?.at).toBeGreaterThanOrEqual(before);
    expect(deletion?.at).toBeLessThanOrEqual(after);
  });

  it('by hand through /_admin, of a suspended stack', async () => {
    const ref = await readyStack('byhand');
    await client.suspendStack(ref);
    await client.waitForStackStatus(ref, ['SUSPEND_COMPLETE'], fastPoll());
    await emulator.admin.deleteStackByHand(ref.name);
    expect(await emulator.admin.deletions()).toMatchObject([
      { stackId: ref.id, statusBefore: 'SUSPEND_COMPLETE', by: { via: 'admin' } },
    ]);
  });

  it('one entry per deletion started: a DELETE while one is in progress, or of a deleted stack, adds none', async () => {
    const ref = await readyStack('twice');
    const next = await readyStack('next');
    await emulator.admin.updateSettings({ deleteDelayMs: 300 });
    await client.deleteStack(ref);
    await client.deleteStack(ref);
    await client.waitForStackStatus(ref, ['DELETE_COMPLETE'], fastPoll());
    await client.deleteStack(ref);
    await client.deleteStack(next);
    expect((await emulator.admin.deletions()).map((d) => [d.stackName, d.statusBefore])).toEqual([
      [ref.name, 'CREATE_COMPLETE'],
      [next.name, 'CREATE_COMPLETE'],
    ]);
  });

  it('a delete during the create is logged with the create in progress; a rollback is not a deletion', async () => {
    const slow = await client.createStack({
      name: uniqueStackName('midcreate'),
      template: template('test/slow.yaml'),
      parameters: { step_secs: 100 },
    });
    await client.deleteStack(slow);
    await emulator.admin.failNextCreate();
    const failed = await client.createStack({
      name: uniqueStackName('rollback'),
      template: none,
      disableRollback: false,
    });
    await client
      .waitForStackStatus(failed, ['ROLLBACK_COMPLETE'], fastPoll())
      .catch(() => undefined);
    expect((await emulator.admin.stacks()).find((s) => s.id === failed.id)?.status).toBe(
      'ROLLBACK_COMPLETE',
    );
    expect((await emulator.admin.deletions()).map((d) => [d.stackId, d.statusBefore])).toEqual([
      [slow.id, 'CREATE_IN_PROGRESS'],
    ]);
  });

  it('reset empties it; a restarted emulator with a state file keeps it', async () => {
    await client.deleteStack(await readyStack('gone'));
    await emulator.admin.reset();
    expect(await emulator.admin.deletions()).toEqual([]);

    const stateFile = join(mkdtempSync(join(tmpdir(), 'emulator-deletions-')), 'state.json');
    const first = await startFastEmulator({ stateFile, adminToken: 'a' });
    const mine = clientFor(first);
    const ref = await readyStack('kept', mine);
    await mine.deleteStack(ref);
    const logged = await first.admin.deletions();
    await first.close();
    const second = await startFastEmulator({ stateFile, adminToken: 'a' });
    try {
      expect(await second.admin.deletions()).toEqual(logged);
      expect(logged.map((d) => d.stackId)).toEqual([ref.id]);
    } finally {
      await second.close();
    }
  });
});
