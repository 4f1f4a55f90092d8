import { deleteLabUpdate, suspendLabUpdate } from '../../workflows/messages';
import { startLabEnv, type LabEnv } from '../support/lab-env';

/**
 * A whole lab life against a real Keystone and Heat: the cloud given by the HEAT_CONTRACT_*
 * variables, which `npm run test:real-heat` sets after starting Debian's keystone and heat
 * (scripts/real-heat.sh). jest.config.cjs leaves this file out of runs without them.
 */
function realHeatFromEnvironment() {
  const authUrl = process.env.HEAT_CONTRACT_AUTH_URL;
  if (!authUrl) throw new Error('HEAT_CONTRACT_AUTH_URL is not set: run `npm run test:real-heat`');
  return {
    authUrl,
    username: process.env.HEAT_CONTRACT_USERNAME ?? 'admin',
    project: process.env.HEAT_CONTRACT_PROJECT ?? 'admin',
    password: process.env.HEAT_CONTRACT_PASSWORD ?? '',
  };
}

describe('a lab on a real Heat', () => {
  let env: LabEnv;
  beforeAll(async () => {
    const realHeat = realHeatFromEnvironment();
    env = await startLabEnv({ realHeat, password: realHeat.password, idleTimeout: '1h' });
    await env.startWorker();
  });
  afterAll(() => env.close());

  it('launches, suspends, resumes and deletes, leaving no stack behind', async () => {
    const request = { learnerId: `anon-real-${Date.now()}` };
    const { labId } = await env.launch(request);
    const ready = await env.waitForState(labId, 'ready', 120_000);
    expect(ready.outputs).toEqual({ public_ip: '192.0.2.10' });
    const heat = env.heat('cloud-a');
    expect((await heat.findStack(ready.stack!.name))?.status).toBe('CREATE_COMPLETE');

    const handle = env.client.workflow.getHandle(labId);
    await handle.executeUpdate(suspendLabUpdate, { args: [{ version: 1 }] });
    await env.waitForState(labId, 'suspended', 60_000);
    expect((await heat.findStack(ready.stack!.name))?.status).toBe('SUSPEND_COMPLETE');

    await env.launch(request);
    await env.waitForState(labId, 'ready', 60_000);
    expect((await heat.findStack(ready.stack!.name))?.status).toBe('RESUME_COMPLETE');

    await handle.executeUpdate(deleteLabUpdate, { args: [{ version: 1 }] });
    await handle.result();
    const after = await heat.findStack(ready.stack!.id);
    expect(after === null || after.status === 'DELETE_COMPLETE').toBe(true);
  }, 300_000);
});
