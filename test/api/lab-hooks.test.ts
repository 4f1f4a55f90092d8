import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config';
import { startLabEnv, type LabEnv } from '../support/lab-env';
import { onLab } from '../support/on-lab';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { eventually, startApiEnv, type ApiEnv } from './api-env';

const COURSE = 'course-v1:Org+Hooks201+2026';
type Lab = { id: string; state: string };

/**
 * In-lab hooks (issue 19) run by the lab workflow on the emulator's SSH shells: the `shell` lab
 * idles after 3 s; its preSuspend hook fails, its postResume and preDelete hooks leave a marker.
 */
describe('in-lab hooks: scripts around a lab’s transitions that never hold it up', () => {
  let lab: LabEnv;
  let t: ApiEnv;
  let receiver: WebhookReceiver;
  const SECRET = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;

  const reasons = async (id: string): Promise<string[]> =>
    (
      await t.service.get<{ events: Array<{ reason: string }> }>(`/v1/labs/${id}/events`, {
        params: { limit: 100 },
      })
    ).data.events
      .map((e) => e.reason)
      .reverse();
  const waitForState = (id: string, state: string) =>
    eventually(`${id} ${state}`, async () => {
      const { data } = await t.service.get<Lab>(`/v1/labs/${id}`);
      return data.state === state || undefined;
    });
  const launch = async (learnerId: string, name = 'shell'): Promise<string> => {
    const res = await t.service.post<Lab>('/v1/labs', {
      courseId: COURSE,
      learnerId,
      lab: name,
    });
    expect([200, 202]).toContain(res.status);
    return res.data.id;
  };

  beforeAll(async () => {
    receiver = await startWebhookReceiver(SECRET);
    lab = await startLabEnv({ idleTimeout: '3s' });
    const shell = lab.config.labs.shell!;
    const config: Config = {
      ...lab.config,
      webhooks: [
        {
          name: 'grades',
          url: receiver.url,
          secrets: [SECRET],
          events: ['check.completed'],
          labs: ['shell'],
        },
      ],
      labs: {
        ...lab.config.labs,
        // The same lab, but its preDelete resumes a suspended stack to run.
        'shell-resumes': {
          ...shell,
          name: 'shell-resumes',
          hooks: { preDelete: { script: 'save-work.sh', timeout: 10_000, resumeSuspended: true } },
        },
        shell: {
          ...shell,
          hooks: {
            preSuspend: { script: 'fail.sh', timeout: 10_000 },
            postResume: { script: 'save-work.sh', timeout: 10_000 },
            preDelete: { script: 'save-work.sh', timeout: 10_000, resumeSuspended: false },
          },
        },
      },
    };
    await lab.startWorker(config);
    t = await startApiEnv({}, {}, { ...lab, config });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await lab?.close();
    await receiver?.close();
  });

  it('suspends a lab whose preSuspend hook fails, runs postResume after the resume and preDelete before the delete', async () => {
    const id = await launch('anon-hooks');
    await waitForState(id, 'suspended');
    // The lab suspended although its hook failed; the audit trail says how it failed.
    expect(await reasons(id)).toContain('preSuspend hook: failed (exit 3: example failure)');

    await launch('anon-hooks');
    await waitForState(id, 'ready');
    await eventually('the postResume hook', async () =>
      (await reasons(id)).find((r) => r.startsWith('postResume hook: ok')),
    );
    expect(await onLab(t.service, id, 'cat ~/.labs-hook-ran')).toMatch(/^postResume ran at /m);

    // A grading service subscribed to check runs hears of this one when it completes.
    const run = (await t.service.post<{ id: string }>(`/v1/labs/${id}/checks`, {})).data;
    const [completed] = await eventually('the check.completed event', async () => {
      const got = receiver.of(id);
      return got.length > 0 ? got : undefined;
    });
    expect(completed).toMatchObject({
      verified: true,
      event: { type: 'check.completed', data: { labId: id, checkId: run.id, state: 'ready' } },
    });

    expect((await t.service.delete<Lab>(`/v1/labs/${id}`)).status).toBe(202);
    await waitForState(id, 'deleted');
    const trail = await reasons(id);
    const preDelete = trail.findIndex((r) => r.startsWith('preDelete hook: ok'));
    expect(preDelete).toBeGreaterThan(-1);
    // The hook ran on the stack before it was deleted.
    expect(preDelete).toBeLessThan(trail.indexOf('stack deleted'));

    // A history with every hook, for the replay test (test/workflow/durability.test.ts).
    if (process.env.LABS_RECORD_HISTORIES)
      writeFileSync(
        join(__dirname, '../fixtures/histories/lab-v8-lab-hooks.json'),
        historyToJSON(await lab.client.workflow.getHandle(id).fetchHistory()),
      );
  }, 90_000);

  it('skips preDelete on a suspended stack unless the lab asks to resume it', async () => {
    const id = await launch('anon-hooks-suspended');
    await waitForState(id, 'suspended');
    expect((await t.service.delete<Lab>(`/v1/labs/${id}`)).status).toBe(202);
    await waitForState(id, 'deleted');
    const trail = await reasons(id);
    expect(trail).toContain('preDelete hook: skipped (the stack is suspended)');
    expect(trail.some((r) => r.startsWith('preDelete hook: ok'))).toBe(false);
  }, 60_000);

  it('resumes a suspended stack for preDelete when the lab asks for it', async () => {
    const id = await launch('anon-hooks-resumes', 'shell-resumes');
    await waitForState(id, 'suspended');
    expect((await t.service.delete<Lab>(`/v1/labs/${id}`)).status).toBe(202);
    await waitForState(id, 'deleted');
    const trail = await reasons(id);
    expect(trail.some((r) => r.startsWith('preDelete hook: ok'))).toBe(true);
    expect(trail.findIndex((r) => r.startsWith('preDelete hook: ok'))).toBeLessThan(
      trail.indexOf('stack deleted'),
    );
  }, 60_000);
});
