import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createLogger } from '../../src/log';
import { CapturedLog } from '../support/captured-log';
import { SecretBox, type Envelope } from '../../src/secrets/envelope';
import { reencryptSecrets } from '../../src/secrets/reencrypt';
import { labIdFor } from '../../src/temporal/ids';
import { searchableText } from '../support/history-text';
import { testServers } from '../support/servers';
import { ADMIN_TOKEN, SERVICE_TOKEN, eventually, startApiEnv, type ApiEnv } from '../api/api-env';

const COURSE = 'course-v1:Org+Secrets101+2026';
type Lab = { id: string; state: string; heartbeatToken?: string };

describe('secret hygiene: no secret output or token anywhere but where it belongs', () => {
  const log = new CapturedLog();
  let t: ApiEnv;
  beforeAll(async () => {
    t = await startApiEnv({ logger: createLogger('debug', 'labs', log) });
    await t.lab.startWorker();
  });
  afterAll(() => t?.close());

  it('a whole lab life leaves its secrets and tokens out of histories, visibility, Mongo, answers and logs', async () => {
    const answers: unknown[] = [];
    const secrets: string[] = [];
    const heartbeatTokens: string[] = [];
    const terminalTokens: string[] = [];
    const record = <T>(res: { data: T }): T => {
      answers.push(res.data);
      return res.data;
    };
    const waitFor = (id: string, state: string) =>
      eventually(
        `${id} ${state}`,
        async () => {
          const lab = record(await t.service.get<Lab>(`/v1/labs/${id}?wait=5`));
          return lab.state === state ? lab : undefined;
        },
        30_000,
      );
    const readSecret = async (id: string) => {
      const res = await t.service.get<{ secrets: Record<string, string> }>(
        `/v1/labs/${id}/connection`,
      );
      expect(res.status).toBe(200);
      const password = res.data.secrets.password!;
      expect(password.length).toBeGreaterThanOrEqual(8);
      secrets.push(password);
    };
    const launch = async () => {
      const res = await t.service.post<Lab>('/v1/labs', {
        courseId: COURSE,
        learnerId: 'anon-secrets',
        lab: 'demo',
      });
      expect([200, 202]).toContain(res.status);
      heartbeatTokens.push(res.data.heartbeatToken!);
      // The launch answer carries its token by design; everything else must not.
      const { heartbeatToken: _token, ...rest } = res.data;
      answers.push(rest);
      return res.data.id;
    };

    const id = await launch();
    expect(id).toBe(labIdFor(COURSE, 'anon-secrets', 'demo'));
    await waitFor(id, 'ready');
    await readSecret(id);
    const terminal = await t.service.post<{ token: string }>(`/v1/labs/${id}/terminal-token`);
    expect(terminal.status).toBe(200);
    terminalTokens.push(terminal.data.token);
    expect((await t.as(heartbeatTokens[0]!).post(`/v1/labs/${id}/heartbeat`)).status).toBe(204);
    record(await t.service.post(`/v1/labs/${id}/suspend`));
    await waitFor(id, 'suspended');
    await launch(); // resumes
    await waitFor(id, 'ready');
    await readSecret(id);
    record(await t.service.post(`/v1/labs/${id}/reset`));
    await waitFor(id, 'ready');
    await readSecret(id);
    record(await t.admin.get('/v1/labs', { params: { courseId: COURSE } }));
    record(await t.admin.get(`/v1/labs/${id}/events`));
    record(await t.admin.get(`/v1/labs/${id}`));
    record(await t.admin.get('/v1/providers'));
    record(await t.service.delete(`/v1/labs/${id}`));
    await waitFor(id, 'deleted');
    // A new life under the same id: a second workflow run, once the first has completed (a
    // launch that reaches the first run before it completes starts the new life in that run).
    await t.lab.client.workflow.getHandle(id).result();
    await launch();
    await waitFor(id, 'ready');
    await readSecret(id);
    record(await t.service.delete(`/v1/labs/${id}`));
    await waitFor(id, 'deleted');
    await t.api.services.heartbeats.flush();
    // A reset builds a new stack with a new password.
    expect(new Set(secrets).size).toBeGreaterThan(1);

    const places: Record<string, string> = {};
    // Every run of the lab's workflow: history, search attributes and memo (describe).
    const runs: string[] = [];
    for await (const execution of t.lab.client.workflow.list({ query: `WorkflowId = '${id}'` }))
      runs.push(execution.runId);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (const runId of runs) {
      const handle = t.lab.client.workflow.getHandle(id, runId);
      places[`history ${runId}`] = searchableText(await handle.fetchHistory());
      places[`describe ${runId}`] = searchableText(await handle.describe());
    }
    // Every Mongo document outside the encrypted `secrets` collection.
    const collections = (await t.lab.store.db.listCollections().toArray()).map((c) => c.name);
    expect(collections).toEqual(expect.arrayContaining(['labs', 'events', 'secrets']));
    for (const name of collections.filter((c) => c !== 'secrets'))
      places[`mongo ${name}`] = searchableText(
        await t.lab.store.db.collection(name).find({}).toArray(),
      );
    // In `secrets`, only sealed envelopes (what is left of them after the delete).
    places['mongo secrets'] = searchableText(
      await t.lab.store.db.collection('secrets').find({}).toArray(),
    );
    places['API answers'] = searchableText(answers);
    places.logs = log.text;
    expect(places['history ' + runs[0]]).toContain('192.0.2.10');
    expect(log.text).toContain(id);

    const needles: Record<string, string> = {
      SERVICE_TOKEN,
      ADMIN_TOKEN,
      ...Object.fromEntries(secrets.map((s, i) => [`secret ${i}`, s])),
      ...Object.fromEntries(heartbeatTokens.map((s, i) => [`heartbeat token ${i}`, s])),
      ...Object.fromEntries(terminalTokens.map((s, i) => [`terminal token ${i}`, s])),
      // A token's signature alone is as good as the token.
      ...Object.fromEntries(
        [...heartbeatTokens, ...terminalTokens].map((s, i) => [
          `token ${i} MAC`,
          s.split('.').at(-1)!,
        ]),
      ),
    };
    const found: string[] = [];
    for (const [where, text] of Object.entries(places))
      for (const [what, value] of Object.entries(needles))
        if (text.includes(value)) found.push(`${what} in ${where}`);
    expect(found).toEqual([]);
  }, 120_000);

  it('rotation: a new key seals, old envelopes open by key id, reencrypt moves them, idempotent', async () => {
    const oldKey = { id: 'k2026a', key: Buffer.alloc(32, 1) };
    const newKey = { id: 'k2026b', key: Buffer.alloc(32, 2) };
    const lostKey = { id: 'k2025', key: Buffer.alloc(32, 3) };
    const before = new SecretBox([oldKey]);
    const after = new SecretBox([newKey, oldKey]);
    const labs = ['a', 'b', 'c', 'd'].map((c) => `lab_${c.repeat(26)}`);
    const at = (labId: string, name = 'password', generation = 1) => ({ labId, generation, name });
    const now = new Date();
    // Only this test's documents (the lab life above may have left an envelope under test1).
    await t.lab.store.secrets.collection.deleteMany({});
    await t.lab.store.secrets.put(
      labs[0]!,
      1,
      { password: before.seal('pw-a', at(labs[0]!)) },
      now,
    );
    await t.lab.store.secrets.put(
      labs[1]!,
      2,
      {
        password: before.seal('pw-b', at(labs[1]!, 'password', 2)),
        private_key: after.seal('key-b', at(labs[1]!, 'private_key', 2)),
      },
      now,
    );
    await t.lab.store.secrets.put(labs[2]!, 1, { password: after.seal('pw-c', at(labs[2]!)) }, now);
    await t.lab.store.secrets.put(
      labs[3]!,
      1,
      { password: new SecretBox([lostKey]).seal('pw-d', at(labs[3]!)) },
      now,
    );

    const sealed = after.seal('fresh', at(labs[0]!));
    expect(sealed.keyId).toBe('k2026b');
    expect(after.open(before.seal('old', at(labs[0]!)), at(labs[0]!))).toBe('old');
    expect(() => after.open(sealed, at(labs[1]!))).toThrow(); // bound to its lab

    const counts = await reencryptSecrets(t.lab.store.secrets, after);
    expect(counts).toMatchObject({ resealed: 2, current: 2, unreadable: 1, skipped: 0 });
    const onlyNew = new SecretBox([newKey]);
    const read = async (labId: string, name: string) => {
      const doc = (await t.lab.store.secrets.get(labId))!;
      const envelope: Envelope = doc.secrets[name]!;
      return {
        keyId: envelope.keyId,
        value: onlyNew.open(envelope, at(labId, name, doc.generation)),
      };
    };
    expect(await read(labs[0]!, 'password')).toEqual({ keyId: 'k2026b', value: 'pw-a' });
    expect(await read(labs[1]!, 'password')).toEqual({ keyId: 'k2026b', value: 'pw-b' });
    expect(await read(labs[1]!, 'private_key')).toEqual({ keyId: 'k2026b', value: 'key-b' });
    expect((await t.lab.store.secrets.get(labs[3]!))!.secrets.password!.keyId).toBe('k2025');
    expect(await reencryptSecrets(t.lab.store.secrets, after)).toMatchObject({
      resealed: 0,
      unreadable: 1,
    });

    // The command, as an operator runs it, configured only through the environment.
    const { mongoUri } = testServers();
    const env = {
      ...process.env,
      MONGODB_URI: `${mongoUri.replace(/\/?$/, '/')}${t.lab.store.db.databaseName}`,
      LABS_SECRETS_KEY: `k2027:${Buffer.alloc(32, 4).toString('base64')},${newKey.id}:${newKey.key.toString('base64')},${lostKey.id}:${lostKey.key.toString('base64')}`,
      LABS_EMULATOR_PASSWORD: 'unused',
    };
    const run = promisify(execFile);
    const first = await run('npx', ['tsx', 'src/cli/reencrypt.ts'], { env, cwd: process.cwd() });
    expect(JSON.parse(first.stdout)).toMatchObject({
      currentKey: 'k2027',
      resealed: 5,
      unreadable: 0,
    });
    const second = await run('npx', ['tsx', 'src/cli/reencrypt.ts'], { env, cwd: process.cwd() });
    expect(JSON.parse(second.stdout)).toMatchObject({ resealed: 0, current: 5, unreadable: 0 });
    const latest = new SecretBox([{ id: 'k2027', key: Buffer.alloc(32, 4) }]);
    const d = (await t.lab.store.secrets.get(labs[3]!))!.secrets.password!;
    expect(latest.open(d, at(labs[3]!))).toBe('pw-d');
  }, 60_000);
});
