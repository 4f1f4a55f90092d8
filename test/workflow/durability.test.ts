import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config';
import { SecretBox } from '../../src/secrets/envelope';
import {
  LAB_WORKFLOW_TYPE,
  deleteLabUpdate,
  resetLabUpdate,
  suspendLabUpdate,
  type LabWorkflowInput,
} from '../../workflows/messages';
import { searchableText } from '../support/history-text';
import { waitFor } from '../support/wait';
import {
  labsYaml,
  SECRETS_KEY,
  startLabEnv,
  workflowBundle,
  type LabEnv,
} from '../support/lab-env';

const HISTORIES = join(__dirname, '../fixtures/histories');
/**
 * The full life recorded by the current workflow code. Released versions' files stay as they
 * are (a change to the workflow is gated with patched() and recorded under a new name).
 */
const CURRENT_VERSION_HISTORY = 'lab-v10-usage-ledger-full-life.json';

describe('the lab workflow across crashes, long lives and policy changes', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv({ deleteAfter: '3s', idleTimeout: '1h', policyRefresh: '1s' });
    await env.startWorker();
  });
  afterAll(() => env.close());

  it('finishes a create with one stack when the worker is stopped in the middle of it', async () => {
    await env.emulator.admin.setCreateDelay(1500);
    const { labId } = await env.launch({ learnerId: 'anon-crash' });
    await env.waitForState(labId, 'launching');
    await waitFor('the lab to settle', async () =>
      (await env.liveStacks(labId)).some((s) => s.status === 'CREATE_IN_PROGRESS'),
    );
    await env.stopWorker();
    await env.startWorker();
    await env.waitForState(labId, 'ready', 90_000);
    expect(await env.liveStacks(labId)).toEqual([
      { name: `demo-${labId.slice(4)}-g1`, status: 'CREATE_COMPLETE' },
    ]);
    await env.emulator.admin.setCreateDelay(20);
  }, 120_000);

  it('never puts a secret output in the workflow history, search attributes or summary', async () => {
    const { labId } = await env.launch({ learnerId: 'anon-secret' });
    await env.waitForState(labId, 'ready');
    const sealed = (await env.store.secrets.get(labId))!.secrets.password!;
    const password = new SecretBox([SECRETS_KEY]).open(sealed, {
      labId,
      generation: 1,
      name: 'password',
    });
    expect(password).toHaveLength(20);
    const handle = env.client.workflow.getHandle(labId);
    const history = searchableText(await handle.fetchHistory());
    const description = searchableText(await handle.describe());
    const projection = searchableText(await env.store.labs.get(labId));
    for (const text of [history, description, projection]) expect(text).not.toContain(password);
    expect(history).toContain('192.0.2.10');
  });

  it('keeps the lab intact through continue-as-new', async () => {
    const input: LabWorkflowInput & { historyLimit: number } = {
      version: 1,
      labId: env.labId({ learnerId: 'anon-can' }),
      courseId: 'course-v1:Org+Lab101+2026',
      learnerId: 'anon-can',
      lab: 'demo',
      historyLimit: 20,
    };
    const handle = await env.client.workflow.start(LAB_WORKFLOW_TYPE, {
      workflowId: input.labId,
      taskQueue: env.taskQueue,
      args: [input],
    });
    const ready = await env.waitForState(input.labId, 'ready');
    await handle.executeUpdate(suspendLabUpdate, { args: [{ version: 1 }] });
    await env.waitForState(input.labId, 'suspended');
    // The lab continues as new on its next turn of the suspended loop, just after the state
    // is visible (CI read the first run there once).
    await waitFor(
      'the workflow to continue as new',
      async () =>
        (await env.client.workflow.getHandle(input.labId).describe()).runId !==
        handle.firstExecutionRunId,
    );
    const latest = env.client.workflow.getHandle(input.labId);
    await latest.executeUpdate(resetLabUpdate, { args: [{ version: 1 }] });
    await waitFor(
      'the lab to be ready again',
      async () =>
        (await env.status(input.labId)).generation === 2 &&
        (await env.status(input.labId)).state === 'ready',
    );
    const after = await env.status(input.labId);
    expect(after).toMatchObject({
      labId: input.labId,
      learnerId: 'anon-can',
      lifeStartedAt: ready.lifeStartedAt,
    });
    expect(await env.liveStacks(input.labId)).toHaveLength(1);
  });

  it('deletes a lab suspended for deleteAfter, and never a lab in use', async () => {
    const inUse = await env.launch({ learnerId: 'anon-in-use' });
    const { labId } = await env.launch({ learnerId: 'anon-retained' });
    await env.waitForState(labId, 'ready');
    await env.client.workflow
      .getHandle(labId)
      .executeUpdate(suspendLabUpdate, { args: [{ version: 1 }] });
    const suspended = await env.waitForState(labId, 'suspended');
    await env.client.workflow.getHandle(labId).result();
    const doc = await env.store.labs.get(labId);
    expect(doc?.state).toBe('deleted');
    expect(doc!.deletedAt!.getTime() - suspended.suspendedAt!).toBeGreaterThanOrEqual(3000);
    expect(await env.liveStacks(labId)).toEqual([]);
    const events = await env.store.events.recent(labId);
    expect(events.map((e) => e.reason)).toContain('suspended for 3s (deleteAfter)');
    expect((await env.status(inUse.labId)).state).toBe('ready');
  });

  it('applies a changed idleTimeout to labs already running, from their next timer on', async () => {
    const { labId } = await env.launch({ learnerId: 'anon-policy' });
    await env.waitForState(labId, 'ready');
    await env.stopWorker();
    const shorter = parseConfig(
      labsYaml(env.emulator.authUrl, { idleTimeout: '1s', policyRefresh: '1s' }),
      'changed.yaml',
      { EMULATOR_PASSWORD: 'pw' },
    );
    await env.startWorker(shorter);
    await env.waitForState(labId, 'suspended', 30_000);
    await env.stopWorker();
    await env.startWorker();
  });

  it('replays committed histories of every released workflow version without nondeterminism', async () => {
    const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    const histories = files.map((f) => ({
      workflowId: f,
      history: JSON.parse(readFileSync(join(HISTORIES, f), 'utf8')),
    }));
    const results = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle() },
      histories,
    ))
      results.push(result);
    expect(results.map((r) => [r.workflowId, r.error?.message])).toEqual(
      files.map((f) => [f, undefined]),
    );
  });

  it('records a full lab life as a history for future replay tests (when LABS_RECORD_HISTORIES is set)', async () => {
    const { labId } = await env.launch({ learnerId: 'anon-history' });
    await env.waitForState(labId, 'ready');
    const handle = env.client.workflow.getHandle(labId);
    await handle.executeUpdate(suspendLabUpdate, { args: [{ version: 1 }] });
    await env.waitForState(labId, 'suspended');
    await env.launch({ learnerId: 'anon-history' });
    await env.waitForState(labId, 'ready');
    await handle.executeUpdate(resetLabUpdate, { args: [{ version: 1 }] });
    await waitFor(
      'the lab to be ready again',
      async () =>
        (await env.status(labId)).generation === 2 && (await env.status(labId)).state === 'ready',
    );
    await handle.executeUpdate(deleteLabUpdate, { args: [{ version: 1 }] });
    await handle.result();
    const history = await handle.fetchHistory();
    expect(history.events?.length).toBeGreaterThan(20);
    const file = join(HISTORIES, CURRENT_VERSION_HISTORY);
    if (process.env.LABS_RECORD_HISTORIES) writeFileSync(file, historyToJSON(history));
    expect(existsSync(file)).toBe(true);
  });
});
