import { stackNameFor } from '../../workflows/policy';
import { ADMIN_TOKEN, SERVICE_TOKEN, eventually, startApiEnv, type ApiEnv } from '../api/api-env';
import { labctl } from '../support/labctl';

const UI = 'http://temporal-ui.example:8233';
const COURSE = 'course-v1:Org+Ctl101+2026';

describe('labctl against a running API', () => {
  let t: ApiEnv;
  let env: Record<string, string>;
  const run = (...args: string[]) => labctl(args, env);

  const launch = async (learnerId: string) => {
    const res = await t.service.post('/v1/labs', { courseId: COURSE, learnerId, lab: 'demo' });
    expect([200, 202]).toContain(res.status);
    return (res.data as { id: string }).id;
  };
  const reach = (id: string, state: string) =>
    eventually(`${id} ${state}`, async () => {
      const res = await t.admin.get(`/v1/labs/${id}?wait=5`);
      return (res.data as { state: string }).state === state || undefined;
    });

  let readyId: string;
  let otherId: string;
  beforeAll(async () => {
    t = await startApiEnv();
    await t.lab.startWorker();
    env = { LABCTL_URL: t.url, LABCTL_TOKEN: ADMIN_TOKEN, LABCTL_TEMPORAL_UI: UI };
    readyId = await launch('anon-ctl-1');
    otherId = await launch('anon-ctl-2');
    await Promise.all([reach(readyId, 'ready'), reach(otherId, 'ready')]);
  });
  afterAll(() => t?.close());

  it('lists labs as a table and as JSON, filtered, following cursors with --all', async () => {
    const table = await run('list', '--course', COURSE);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+STATE\s+COURSE\s+LEARNER\s+LAB\s+PROVIDER\s+UPDATED\s+ERROR$/);
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(
            `^${otherId}\\s+ready\\s+${COURSE.replace(/\+/g, '\\+')}\\s+anon-ctl-2\\s+demo\\s+cloud-a`,
          ),
        ),
        expect.stringMatching(new RegExp(`^${readyId}\\s+ready\\s+`)),
      ]),
    );

    const json = await run(
      'list',
      '--course',
      COURSE,
      '--state',
      'ready',
      '--limit',
      '1',
      '--all',
      '--json',
    );
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { labs: Array<{ id: string }>; nextCursor: null };
    expect(parsed.labs.map((l) => l.id).sort()).toEqual([readyId, otherId].sort());
    expect(parsed.nextCursor).toBeNull();

    const onePage = await run('list', '--course', COURSE, '--limit', '1');
    expect(onePage.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(onePage.stderr).toMatch(/more labs: add --all, or --cursor \S+/);
  });

  it('shows a lab with its recent events and its workflow link in Temporal UI', async () => {
    const shown = await run('show', readyId);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^id\\s+${readyId}$`, 'm'));
    expect(shown.stdout).toMatch(/^state\s+ready$/m);
    expect(shown.stdout).toContain(`${UI}/namespaces/default/workflows/${readyId}`);
    expect(shown.stdout).toMatch(
      /recent events \(newest first\)\nAT\s+FROM\s+TO\s+GEN\s+PROVIDER\s+REASON/,
    );
    expect(shown.stdout).toMatch(/\s+launching\s+ready\s+1\s+cloud-a\s+/);

    const json = JSON.parse((await run('show', readyId, '--json')).stdout) as {
      lab: { id: string };
      events: Array<{ to: string }>;
      temporalUi: string;
    };
    expect(json.lab.id).toBe(readyId);
    expect(json.events[0]?.to).toBe('ready');
    expect(json.events.map((e) => e.to)).toContain('launching');
    expect(json.temporalUi).toBe(`${UI}/namespaces/default/workflows/${readyId}`);
  });

  it('retries a failed lab and waits, with progress, until it is ready', async () => {
    const learnerId = 'anon-ctl-fail';
    const id = t.lab.labId({ courseId: COURSE, learnerId });
    // The first create fails in Heat (the only provider, so the lab fails); the retry builds
    // generation 2 under a new stack name, which succeeds.
    await t.lab.emulator.admin.failNextCreate({
      stackName: stackNameFor('demo', id, 1),
      reason: 'Quota exceeded for instances (injected)',
    });
    expect(await launch(learnerId)).toBe(id);
    await reach(id, 'failed');

    const failed = await run('list', '--course', COURSE, '--state', 'failed');
    expect(failed.stdout).toMatch(new RegExp(`^${id}\\s+failed\\s+`, 'm'));

    // What docs/operations.md (Runbook) tells support staff to pipe into
    // `xargs -n1 labctl retry --wait`.
    const ids = await run('list', '--course', COURSE, '--state', 'failed', '--all', '-q');
    expect(ids.stdout).toBe(`${id}\n`);

    const retried = await run('retry', id, '--wait', '--timeout', '2m');
    expect(retried.stderr).toContain(`retry: accepted for ${id}`);
    expect({ code: retried.code, stderr: retried.stderr }).toMatchObject({ code: 0 });
    // A progress line per state or build progress seen; the emulator builds in milliseconds, so
    // the long-poll may see the lab only before (failed) and after (ready) its rebuild.
    expect(retried.stderr).toMatch(new RegExp(`^${id}: ready \\[\\d+s\\]$`, 'm'));
    expect(retried.stdout).toMatch(new RegExp(`^${id}\\s+ready\\s+`, 'm'));
  });

  it('suspends and deletes with --wait until the lab settles', async () => {
    const suspended = await run('suspend', otherId, '--wait', '--json');
    expect(suspended.code).toBe(0);
    expect((JSON.parse(suspended.stdout) as { state: string }).state).toBe('suspended');
    const deleted = await run('delete', otherId, '--wait');
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toMatch(new RegExp(`^${otherId}\\s+deleted\\s+`, 'm'));
  });

  it('shows providers with capacity, use and queue', async () => {
    const table = await run('providers');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^PROVIDER\s+REGION\s+CAPACITY\s+USED\s+FREE\s+QUEUED$/m);
    expect(table.stdout).toMatch(/^cloud-a\s+RegionOne\s+unlimited\s+\d+\s+-\s+0$/m);
    const json = JSON.parse((await run('providers', '--json')).stdout) as {
      providers: Array<{ name: string; used: number }>;
    };
    expect(json.providers[0]).toMatchObject({ name: 'cloud-a' });
    expect(json.providers[0]!.used).toBeGreaterThanOrEqual(1);
  });

  it('ends with exit codes a script can use, and says what went wrong', async () => {
    const unknown = await run('show', 'lab_aaaaaaaaaaaaaaaaaaaaaaaaaa');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('404 not_found: no lab lab_aaaaaaaaaaaaaaaaaaaaaaaaaa');

    const refused = await run('retry', readyId);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/409 invalid_state: .*\n {2}details: \{"action":"retry"/);

    const service = await labctl(['providers'], { ...env, LABCTL_TOKEN: SERVICE_TOKEN });
    expect(service.code).toBe(1);
    expect(service.stderr).toContain('403 forbidden');
    expect(service.stderr).toContain('hint: labctl needs an admin token');

    const unreachable = await labctl(['list'], { ...env, LABCTL_URL: 'http://127.0.0.1:1' });
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain('cannot reach the API at http://127.0.0.1:1');

    const usage = await run('show', 'not-a-lab-id');
    expect(usage.code).toBe(2);
    const noToken = await labctl(['list'], { LABCTL_URL: t.url });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('no admin token');
  });
});
