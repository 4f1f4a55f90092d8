import { MockActivityEnvironment } from '@temporalio/testing';
import { onLab as runOnLab, type Connection } from '../support/on-lab';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActivityDeps } from '../../activities/context';
import { createHookActivities, type HookOutcome } from '../../activities/hooks';
import { TEMPLATES_DIR, type Config, type HookName, type LabHooks } from '../../src/config';
import { SecretBox } from '../../src/secrets/envelope';
import { SECRETS_KEY, startLabEnv, type LabEnv } from '../support/lab-env';
import { eventually, startApiEnv, type ApiEnv } from './api-env';

const COURSE = 'course-v1:Org+Hook101+2026';
type Lab = { id: string; state: string };

describe('in-lab hooks: runLabHook runs a script on the lab and reports, never throws', () => {
  let lab: LabEnv;
  let t: ApiEnv;
  let labId: string;
  /** Scripts of this test only (hooks/ holds the shipped examples). */
  const testHooksDir = mkdtempSync(join(tmpdir(), 'lab-hooks-'));

  /** The shell lab of `lab.config` with these hooks (the worker keeps the lab env's own config). */
  const withHooks = (hooks: LabHooks): Config => ({
    ...lab.config,
    labs: { ...lab.config.labs, shell: { ...lab.config.labs.shell!, hooks } },
  });
  const depsWith = (config: Config): ActivityDeps => ({
    config,
    store: lab.store,
    heat: lab.heat,
    secretBox: new SecretBox([SECRETS_KEY]),
    logger: lab.logger,
    wakeQueuedLab: () => Promise.resolve(true),
    wakePool: () => Promise.resolve(),
    templatesDir: TEMPLATES_DIR,
  });
  const runHook = (
    activities: ReturnType<typeof createHookActivities>,
    hook: HookName,
    generation = 1,
  ): Promise<HookOutcome> =>
    new MockActivityEnvironment().run(activities.runLabHook, {
      labId,
      lab: 'shell',
      generation,
      hook,
    });

  const onLab = (command: string) => runOnLab(t.service, labId, command);

  beforeAll(async () => {
    writeFileSync(join(testHooksDir, 'sleep.sh'), 'sleep 30\n');
    lab = await startLabEnv();
    await lab.startWorker();
    t = await startApiEnv({}, {}, lab);
    const res = await t.service.post<Lab>('/v1/labs', {
      courseId: COURSE,
      learnerId: 'anon-hooks',
      lab: 'shell',
    });
    expect([200, 202]).toContain(res.status);
    labId = res.data.id;
    await eventually(
      `${labId} ready`,
      async () =>
        (await t.service.get<Lab>(`/v1/labs/${labId}`)).data.state === 'ready' || undefined,
    );
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await lab?.close();
    rmSync(testHooksDir, { recursive: true, force: true });
  });

  it('runs a hook that succeeds: its marker is on the lab, named after the hook', async () => {
    const activities = createHookActivities(
      depsWith(withHooks({ preSuspend: { script: 'save-work.sh', timeout: 10_000 } })),
    );
    const result = await runHook(activities, 'preSuspend');
    expect(result).toMatchObject({
      hook: 'preSuspend',
      outcome: 'ok',
      exitCode: 0,
      message: 'exit 0',
    });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(await onLab('cat ~/.labs-hook-ran')).toMatch(/^preSuspend ran at /);
  });

  it('reports a failing hook with its exit status and last words, credentials left out', async () => {
    const activities = createHookActivities(
      depsWith(withHooks({ postResume: { script: 'fail.sh', timeout: 10_000 } })),
    );
    const result = await runHook(activities, 'postResume');
    expect(result).toMatchObject({ hook: 'postResume', outcome: 'failed', exitCode: 3 });
    expect(result.message).toContain('example failure');
    expect(result.message).toMatch(/^exit 3: /);
    expect(result.message).not.toContain('\n');
    const { data } = await t.service.get<Connection>(`/v1/labs/${labId}/connection`);
    const keyLine = data.secrets.private_key!.split('\n')[1]!;
    expect(JSON.stringify(result)).not.toContain(keyLine);
  });

  it('stops a hook past its timeout and says so, within a few seconds', async () => {
    const activities = createHookActivities(
      depsWith(
        withHooks({ preDelete: { script: 'sleep.sh', timeout: 1_000, resumeSuspended: false } }),
      ),
      { hooksDir: testHooksDir },
    );
    const began = Date.now();
    const result = await runHook(activities, 'preDelete');
    expect(result).toMatchObject({
      hook: 'preDelete',
      outcome: 'timed_out',
      exitCode: null,
      message: 'did not finish within 1 s',
    });
    expect(Date.now() - began).toBeLessThan(10_000);
  });

  it('answers not_configured for a hook the lab does not have', async () => {
    const activities = createHookActivities(depsWith(lab.config));
    expect(await runHook(activities, 'preSuspend')).toMatchObject({
      hook: 'preSuspend',
      outcome: 'not_configured',
      exitCode: null,
    });
  });

  it('answers unreachable, without throwing, for a generation the lab is not on', async () => {
    const activities = createHookActivities(
      depsWith(withHooks({ preSuspend: { script: 'save-work.sh', timeout: 10_000 } })),
    );
    const result = await runHook(activities, 'preSuspend', 2);
    expect(result).toMatchObject({ hook: 'preSuspend', outcome: 'unreachable', exitCode: null });
    expect(result.message).toBe('cannot reach the lab: the lab is on stack generation 1, not 2');
  });
});
