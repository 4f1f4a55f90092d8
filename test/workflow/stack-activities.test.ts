import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type Activities } from '../../activities';
import { TEMPLATES_DIR, type Config } from '../../src/config';
import { SecretBox } from '../../src/secrets/envelope';
import type { StackInfo } from '../../workflows/state';
import { SECRETS_KEY, startLabEnv, type LabEnv } from '../support/lab-env';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The stack activities on their own, against the emulator, as a worker runs them. */
describe('stack activities', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv();
  });
  afterAll(() => env.close());

  const activitiesWith = (config: Config): Activities =>
    createActivities({
      config,
      store: env.store,
      heat: env.heat,
      secretBox: new SecretBox([SECRETS_KEY]),
      logger: env.logger,
      templatesDir: TEMPLATES_DIR,
      pollIntervalMs: { min: 50, max: 250 },
      wakeQueuedLab: async () => true,
      wakePool: async () => {},
    });
  const createSlowStack = async (name: string, seconds: number) => {
    const heat = env.heat('cloud-a');
    const ref = await heat.createStack({
      name,
      template: readFileSync(join(TEMPLATES_DIR, 'test/secret-lab.yaml'), 'utf8'),
      parameters: { create_wait_secs: seconds },
    });
    return { ...ref, status: 'CREATE_IN_PROGRESS', statusReason: '' };
  };

  it('heartbeats on every poll of a long create, not only when a resource finishes', async () => {
    // One resource stays CREATE_IN_PROGRESS for 3 s (a Nova server booting): the count of
    // finished resources does not change meanwhile, and the activity must still look alive.
    const stack = await createSlowStack('hb-wait-g1', 3);
    const mock = new MockActivityEnvironment();
    let beats = 0;
    mock.on('heartbeat', () => {
      beats += 1;
    });
    const polls = () =>
      env.emulator.admin.requestCounts().then((c) => c.byRoute['stacks.show'] ?? 0);
    const before = await polls();
    const done: StackInfo = await mock.run(activitiesWith(env.config).waitForStackCreated, {
      labId: 'lab_hbwait',
      provider: 'cloud-a',
      stack,
      generation: 1,
      deadline: Date.now() + 60_000,
    });
    expect(done.status).toBe('CREATE_COMPLETE');
    const polled = (await polls()) - before;
    expect(polled).toBeGreaterThan(8);
    expect(beats).toBeGreaterThanOrEqual(polled);
  });

  it("treats every output of a lab it knows no policy for as secret (none reaches the workflow's history)", async () => {
    const stack = await createSlowStack('unknown-outputs-g1', 0);
    await env.heat('cloud-a').waitForStackStatus(stack, ['CREATE_COMPLETE'], {
      deadline: Date.now() + 30_000,
      minIntervalMs: 50,
    });
    const withoutDemo: Config = { ...env.config, labs: {} };
    const outputs = await new MockActivityEnvironment().run(
      activitiesWith(withoutDemo).readOutputs,
      { labId: 'lab_unknownoutputs', lab: 'demo', provider: 'cloud-a', stack, generation: 1 },
    );
    expect(outputs).toEqual({});
    const stored = await env.store.secrets.get('lab_unknownoutputs');
    expect(Object.keys(stored!.secrets).sort()).toEqual(['password', 'public_ip']);
  });

  const suspendedStack = async (name: string) => {
    const heat = env.heat('cloud-a');
    const stack = await createSlowStack(name, 0);
    await heat.waitForStackStatus(stack, ['CREATE_COMPLETE'], {
      deadline: Date.now() + 30_000,
      minIntervalMs: 50,
    });
    await heat.suspendStack(stack);
    await heat.waitForStackStatus(stack, ['SUSPEND_COMPLETE'], {
      deadline: Date.now() + 30_000,
      minIntervalMs: 50,
    });
    return stack;
  };
  const statusOf = async (name: string) =>
    (await env.emulator.admin.stacks()).find((s) => s.name === name)?.status;

  it('never sends a resume again after an answer that was lost (Heat would fail the stack for good)', async () => {
    const stack = await suspendedStack('lost-answer-g1');
    await env.emulator.admin.updateSettings({ actionDelayMs: 400 });
    try {
      await env.emulator.admin.injectFault({
        method: 'POST',
        path: '/actions$',
        fault: { kind: 'status', status: 500, afterHandling: true },
        times: 1,
      });
      await expect(env.heat('cloud-a').resumeStack(stack)).rejects.toThrow();
      const resumed: StackInfo | null = await new MockActivityEnvironment().run(
        activitiesWith(env.config).resumeStack,
        { labId: 'lab_lostanswer', provider: 'cloud-a', stack, deadline: Date.now() + 30_000 },
      );
      expect(resumed?.status).toBe('RESUME_COMPLETE');
      expect(await statusOf('lost-answer-g1')).toBe('RESUME_COMPLETE');
    } finally {
      await env.emulator.admin.updateSettings({ actionDelayMs: 20 });
    }
  });

  it('answers "rebuild" for a stack a second resume left RESUME_FAILED with a resource in progress for good', async () => {
    const stack = await suspendedStack('stuck-resume-g1');
    await env.emulator.admin.updateSettings({ actionDelayMs: 400 });
    try {
      await env.heat('cloud-a').resumeStack(stack);
      await env.heat('cloud-a').resumeStack(stack);
      expect(await statusOf('stuck-resume-g1')).toBe('RESUME_FAILED');
      const resumed = await new MockActivityEnvironment().run(
        activitiesWith(env.config).resumeStack,
        { labId: 'lab_stuckresume', provider: 'cloud-a', stack, deadline: Date.now() + 30_000 },
      );
      expect(resumed).toBeNull();
    } finally {
      await env.emulator.admin.updateSettings({ actionDelayMs: 20 });
    }
  });

  it('keeps non-secret outputs public when the workflow passes its last known secret names', async () => {
    const stack = await createSlowStack('carried-outputs-g1', 0);
    await env.heat('cloud-a').waitForStackStatus(stack, ['CREATE_COMPLETE'], {
      deadline: Date.now() + 30_000,
      minIntervalMs: 50,
    });
    const outputs = await new MockActivityEnvironment().run(
      activitiesWith({ ...env.config, labs: {} }).readOutputs,
      {
        labId: 'lab_carriedoutputs',
        lab: 'demo',
        provider: 'cloud-a',
        stack,
        generation: 1,
        secretOutputs: ['password'],
      },
    );
    expect(outputs).toEqual({ public_ip: '192.0.2.10' });
  });
});
