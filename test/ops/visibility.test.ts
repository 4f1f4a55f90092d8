import { eventually } from '../api/api-env';
import { startLabEnv, type LabEnv } from '../support/lab-env';

/**
 * What support staff do in Temporal UI: find labs by search attribute with the queries of
 * docs/operations.md ("Temporal UI: finding labs"), and read in the current details what a lab
 * is doing and why.
 */
describe('Temporal UI: labs findable by search attributes, with details in words', () => {
  let env: LabEnv;
  beforeAll(async () => {
    env = await startLabEnv();
    await env.startWorker();
  });
  afterAll(() => env?.close());

  const ids = async (query: string): Promise<string[]> => {
    const found: string[] = [];
    for await (const wf of env.client.workflow.list({ query })) found.push(wf.workflowId);
    return found;
  };
  const details = async (labId: string): Promise<string> => {
    const meta = await env.client.workflow
      .getHandle(labId)
      .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    return meta.currentDetails ?? '';
  };

  it('answers the docs/operations.md queries for failed labs of a course, a learner, a lab and a provider', async () => {
    const course = 'course-v1:Org+Vis101+2026';
    const broken = await env.launch({ courseId: course, learnerId: 'anon-vis-1', lab: 'broken' });
    const fine = await env.launch({ courseId: course, learnerId: 'anon-vis-2' });
    await env.waitForState(broken.labId, 'failed');
    await env.waitForState(fine.labId, 'ready');

    // Visibility is eventually consistent: each query is retried until it shows the lab.
    const finds = (query: string, labId: string) =>
      eventually(query, async () => (await ids(query)).includes(labId) || undefined);
    await finds(`LabState = "failed" AND CourseId = "${course}"`, broken.labId);
    expect(await ids(`LabState = "failed" AND CourseId = "${course}"`)).toEqual([broken.labId]);
    await finds(`LearnerId = "anon-vis-2"`, fine.labId);
    await finds(`LabName = "broken" AND CourseId = "${course}"`, broken.labId);
    await finds(
      `Provider = "cloud-a" AND LabState = "ready" AND CourseId = "${course}"`,
      fine.labId,
    );

    const failed = await details(broken.labId);
    expect(failed).toContain('**failed**');
    expect(failed).toContain('is failed; it waits for support staff');
    expect(failed).toMatch(/why: .+/);
    expect(failed).toMatch(/error: \w+: .+/);
    expect(failed).toMatch(/waiting for: a retry from support staff/);
    expect(failed).toContain(`labctl retry ${broken.labId} --wait`);

    const ready = await details(fine.labId);
    expect(ready).toContain('is up, for the learner to use');
    expect(ready).toMatch(/provider: cloud-a, stack demo-\S+-g1 \(CREATE_COMPLETE\)/);
    expect(ready).toMatch(/waiting for: a heartbeat, or idleness until \d{4}-/);
    // Non-secret only: the secret output never reaches Temporal UI.
    const stored = await env.store.secrets.get(fine.labId);
    expect(stored).toBeTruthy();
    expect(ready).not.toMatch(/password/i);
  });
});
