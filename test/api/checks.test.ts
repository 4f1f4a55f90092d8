import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../src/log';
import { CapturedLog } from '../support/captured-log';
import { labctl } from '../support/labctl';
import { onLab as runOnLab, type Connection } from '../support/on-lab';
import { searchableText } from '../support/history-text';
import { startLabEnv, type LabEnv } from '../support/lab-env';
import { ADMIN_TOKEN, eventually, startApiEnv, type ApiEnv } from './api-env';

const COURSE = 'course-v1:Org+Check101+2026';
type Lab = { id: string; state: string };
type Run = {
  id: string;
  labId: string;
  state: 'running' | 'passed' | 'failed' | 'error';
  startedAt: string;
  finishedAt: string | null;
  score: { earned: number; possible: number };
  results: Array<{
    name: string;
    title: string;
    passed: boolean;
    timedOut: boolean;
    hint: string | null;
  }>;
  error: string | null;
};

describe('graded checks: scripts run on the learner’s lab over SSH', () => {
  const log = new CapturedLog();
  let lab: LabEnv;
  let t: ApiEnv;

  const onLab = (id: string, command: string) => runOnLab(t.service, id, command);
  const launchShell = async (learnerId: string): Promise<string> => {
    const res = await t.service.post<Lab>('/v1/labs', {
      courseId: COURSE,
      learnerId,
      lab: 'shell',
    });
    expect([200, 202]).toContain(res.status);
    await eventually(
      `${res.data.id} ready`,
      async () =>
        (await t.service.get<Lab>(`/v1/labs/${res.data.id}`)).data.state === 'ready' || undefined,
    );
    return res.data.id;
  };
  const start = async (id: string, names?: string[]): Promise<Run> => {
    const res = await t.service.post<Run>(`/v1/labs/${id}/checks`, names ? { names } : {});
    expect(res.status).toBe(202);
    return res.data;
  };
  const finished = async (run: Run): Promise<Run> => {
    const res = await t.service.get<Run>(`/v1/labs/${run.labId}/checks/${run.id}?wait=30`);
    expect(res.status).toBe(200);
    expect(res.data.state).not.toBe('running');
    return res.data;
  };

  beforeAll(async () => {
    lab = await startLabEnv({ logger: createLogger('debug', 'labs', log) });
    // The shell lab with one more check that sleeps past its 2 s timeout.
    const shell = lab.config.labs.shell!;
    const slow = {
      name: 'slow',
      title: 'a slow check',
      script: 'test/sleeper.sh',
      timeout: 2_000,
      weight: 1,
    };
    const config = {
      ...lab.config,
      labs: { ...lab.config.labs, shell: { ...shell, checks: [...shell.checks, slow] } },
    };
    await lab.startWorker(config);
    t = await startApiEnv({}, {}, { ...lab, config });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await lab?.close();
  });

  it('scores a partial run with the failing check’s hint, then the full score once fixed', async () => {
    const id = await launchShell('anon-checks');
    const names = ['notes', 'project'];
    const first = await start(id, names);
    expect(first).toMatchObject({
      id: expect.stringMatching(/^chk_[0-9a-f]{32}$/),
      labId: id,
      state: 'running',
      finishedAt: null,
      score: { earned: 0, possible: 3 },
    });
    expect(await finished(first)).toMatchObject({
      state: 'failed',
      score: { earned: 0, possible: 3 },
      results: [
        {
          name: 'notes',
          title: 'notes.txt says hello',
          passed: false,
          timedOut: false,
          hint: 'there is no notes.txt in your home folder yet (try: echo hello > ~/notes.txt)',
        },
        { name: 'project', passed: false, hint: expect.stringContaining('mkdir ~/project') },
      ],
      error: null,
    });

    await onLab(id, 'mkdir ~/project');
    const partial = await finished(await start(id, names));
    expect(partial.state).toBe('failed');
    expect(partial.score).toEqual({ earned: 2, possible: 3 });
    expect(partial.results.map((r) => [r.name, r.passed])).toEqual([
      ['notes', false],
      ['project', true],
    ]);

    await onLab(id, 'echo hello > ~/notes.txt');
    const full = await finished(await start(id, names));
    expect(full).toMatchObject({ state: 'passed', score: { earned: 3, possible: 3 } });
    expect(full.results.every((r) => r.passed && r.hint === null)).toBe(true);

    const list = await t.service.get<{ checks: Run[] }>(`/v1/labs/${id}/checks?limit=2`);
    expect(list.data.checks.map((r) => r.id)).toEqual([full.id, partial.id]);
    // The audit trail has one line per run with its score; the history only ids and scores.
    // The run's audit line follows its result (the workflow writes it once the run is recorded).
    await eventually('the run in the audit trail', async () => {
      const events = await t.service.get<{ events: Array<{ reason: string }> }>(
        `/v1/labs/${id}/events?limit=50`,
      );
      return events.data.events.some((e) => e.reason === `checks ${full.id}: passed (3/3)`);
    });
    const { data: connection } = await t.service.get<Connection>(`/v1/labs/${id}/connection`);
    const recorded = await lab.client.workflow.getHandle(id).fetchHistory();
    // Three runs of a lab's checks, for the replay test (test/workflow/durability.test.ts).
    if (process.env.LABS_RECORD_HISTORIES)
      writeFileSync(
        join(__dirname, '../fixtures/histories/lab-v7-progress-checks.json'),
        historyToJSON(recorded),
      );
    const history = searchableText(recorded);
    expect(history).toContain(full.id);
    // Neither the lab's private key nor what the scripts printed reach the history or the logs.
    expect(history).not.toContain('says hello');
    expect(history).not.toContain('no notes.txt');
    const keyLine = connection.secrets.private_key!.split('\n')[1]!;
    expect(history).not.toContain(keyLine);
    expect(log.text).not.toContain(keyLine);
    expect(log.text).not.toContain('no notes.txt');
  });

  it('makes one run of two concurrent requests, and answers 409, 422 and 404 where it must', async () => {
    const id = await launchShell('anon-checks-twice');
    const [a, b] = await Promise.all([start(id, ['notes']), start(id, ['notes'])]);
    expect(b.id).toBe(a.id);
    await finished(a);

    expect(
      (await t.service.post(`/v1/labs/${id}/checks`, { names: ['nginx'] })).data,
    ).toMatchObject({
      error: { code: 'unknown_check' },
    });
    const demo = await t.service.post<Lab>('/v1/labs', {
      courseId: COURSE,
      learnerId: 'anon-checks-demo',
      lab: 'demo',
    });
    await eventually(
      'demo ready',
      async () =>
        (await t.service.get<Lab>(`/v1/labs/${demo.data.id}`)).data.state === 'ready' || undefined,
    );
    const none = await t.service.post(`/v1/labs/${demo.data.id}/checks`, {});
    expect(none.status).toBe(422);
    expect(none.data).toMatchObject({ error: { code: 'no_checks' } });
    const unknownRun = await t.service.get(`/v1/labs/${id}/checks/chk_${'0'.repeat(32)}`);
    expect(unknownRun.status).toBe(404);

    expect((await t.service.post(`/v1/labs/${id}/suspend`)).status).toBe(202);
    await eventually(
      'suspended',
      async () =>
        (await t.service.get<Lab>(`/v1/labs/${id}`)).data.state === 'suspended' || undefined,
    );
    const refused = await t.service.post(`/v1/labs/${id}/checks`, {});
    expect(refused.status).toBe(409);
  });

  it('kills a script past its timeout on the lab, and a suspend asked meanwhile waits for the run', async () => {
    const id = await launchShell('anon-checks-slow');
    const run = await start(id, ['slow']);
    // Asked while the slow check runs: accepted at once, served after the run.
    expect((await t.service.post(`/v1/labs/${id}/suspend`)).status).toBe(202);
    const done = await finished(run);
    expect(done).toMatchObject({ state: 'failed', score: { earned: 0, possible: 1 } });
    expect(done.results).toEqual([
      {
        name: 'slow',
        title: 'a slow check',
        passed: false,
        timedOut: true,
        hint: 'did not finish within 2 s',
      },
    ]);
    await eventually(
      'suspended',
      async () =>
        (await t.service.get<Lab>(`/v1/labs/${id}`)).data.state === 'suspended' || undefined,
    );
    const events = await t.service.get<{
      events: Array<{ at: string; to: string; reason: string }>;
    }>(`/v1/labs/${id}/events?limit=50`);
    const suspending = events.data.events.find((e) => e.to === 'suspending')!;
    expect(Date.parse(suspending.at)).toBeGreaterThanOrEqual(Date.parse(done.finishedAt!));

    // Resumed, the lab shows no trace of the sleep: timeout(1) killed its whole process group
    // (a zombie counts as gone: this machine's init does not reap orphans).
    expect(
      (
        await t.service.post<Lab>('/v1/labs', {
          courseId: COURSE,
          learnerId: 'anon-checks-slow',
          lab: 'shell',
        })
      ).status,
    ).toBe(202);
    await eventually(
      'ready again',
      async () => (await t.service.get<Lab>(`/v1/labs/${id}`)).data.state === 'ready' || undefined,
    );
    expect(
      await onLab(
        id,
        's=$(ps -o stat= -p "$(cat ~/sleeper.pid)"); case "$s" in ""|Z*) echo gone;; *) echo alive;; esac',
      ),
    ).toBe('gone\n');
  });

  it('refuses a lab whose host key changed within its generation: the run ends in error, no grade', async () => {
    const id = await launchShell('anon-checks-hostkey');
    await lab.store.hostKeys.collection.insertOne({
      _id: `${id}:1`,
      labId: id,
      generation: 1,
      fingerprint: 'SHA256:somebody-else',
      at: new Date(),
    });
    const done = await finished(await start(id, ['notes']));
    expect(done).toMatchObject({ state: 'error', score: { earned: 0, possible: 1 }, results: [] });
    expect(done.error).toMatch(/host key changed/);
  });

  it('labctl: support staff run the checks with --wait and list the runs', async () => {
    const id = await launchShell('anon-checks-ctl');
    await onLab(id, 'mkdir ~/project');
    const env = { LABCTL_URL: t.url, LABCTL_TOKEN: ADMIN_TOKEN };
    const checked = await labctl(['check', id, '--wait'], env);
    expect(checked.code).toBe(0);
    expect(checked.stderr).toMatch(/checks: chk_[0-9a-f]{32} running on /);
    const lines = checked.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^chk_[0-9a-f]{32}\s+failed\s+score 2\/4\s+started /);
    expect(lines).toContainEqual(expect.stringMatching(/^\s+FAIL\s+notes: notes.txt says hello$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\s+pass\s+project: a project folder$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\s+TIMEOUT\s+slow: a slow check$/));
    const history = await labctl(['checks', id], env);
    expect(history.code).toBe(0);
    const [header, row] = history.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+STATE\s+SCORE\s+STARTED\s+FINISHED\s+FAILED$/);
    expect(row).toMatch(/^chk_[0-9a-f]{32}\s+failed\s+2\/4\s+.*notes, slow$/);
  });
});
