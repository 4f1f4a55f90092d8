import { DefaultLogger, Runtime as TemporalRuntime } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { parseConfig, type Environment } from '../../src/config';
import { createLogger } from '../../src/log';
import { startRuntime, type Runtime } from '../../src/runtime';
import { maintenanceWorkflowId } from '../../src/temporal/maintenance';
import { SECRETS_KEY, workflowBundle } from '../support/lab-env';
import { testServers, uniqueDbName } from '../support/servers';
import { eventually, waitFor } from '../support/wait';

const DAY = 86_400_000;

/** Retention of a day, swept every second: documents two days old are past it. */
const config = () =>
  parseConfig(
    `
providers:
  - name: cloud-a
    auth: { authUrl: "http://127.0.0.1:9/v3", username: labs, passwordEnv: PW, projectName: labs, userDomainName: Default, projectDomainName: Default }
    region: RegionOne
    capacity: 10
labs:
  demo:
    template: test/secret-lab.yaml
    providers: [cloud-a]
    connection: { protocol: ssh, hostOutput: public_ip, port: 22 }
retention: { events: 1d, deletedLabs: 1d, poolRecords: 1d, sweepEvery: 1s }
`,
    'test-labs.yaml',
    { PW: 'pw' },
  );

const environment: Environment = {
  configPath: 'test-labs.yaml',
  serviceTokens: [],
  adminTokens: [],
  secretsKeys: [SECRETS_KEY],
  dataDir: '/nonexistent',
  logLevel: 'silent',
};

describe('the maintenance workflow a worker process runs', () => {
  let runtime: Runtime;
  let taskQueue: string;

  const start = async () => {
    const { temporalAddress, mongoUri } = testServers();
    return startRuntime({
      config: config(),
      env: environment,
      endpoints: {
        temporalAddress,
        namespace: 'default',
        taskQueue,
        mongoUri: `${mongoUri.replace(/\/?$/, '/')}${dbName}`,
      },
      logger: createLogger('silent', 'test'),
      roles: { api: false, worker: true },
      workflowBundle: await workflowBundle(),
    });
  };
  const dbName = uniqueDbName('maintenance');

  beforeAll(async () => {
    TemporalRuntime.install({ logger: new DefaultLogger('WARN') });
    taskQueue = `labs-${randomUUID()}`;
    runtime = await start();
  });
  afterAll(async () => {
    await runtime?.client.workflow
      .getHandle(maintenanceWorkflowId(taskQueue))
      .terminate('test over')
      .catch(() => undefined);
    await runtime?.close();
  });

  const seedOld = async (tag: string) => {
    const old = new Date(Date.now() - 2 * DAY);
    await runtime.store.events.collection.insertOne({
      _id: `lab_${tag}:1`,
      labId: `lab_${tag}`,
      at: old,
      from: 'deleting',
      to: 'deleted',
      generation: 1,
      provider: 'cloud-a',
      reason: 'test',
      error: null,
    });
    await runtime.store.pools.misses.insertOne({ _id: `lab_${tag}:g1`, lab: 'demo', at: old });
  };
  const gone = async (tag: string) =>
    (await runtime.store.events.collection.countDocuments({ labId: `lab_${tag}` })) === 0 &&
    (await runtime.store.pools.misses.countDocuments({ _id: `lab_${tag}:g1` })) === 0;

  it('is started once by the worker, sweeps, then sweeps again after sweepEvery (continue-as-new)', async () => {
    const handle = runtime.client.workflow.getHandle(maintenanceWorkflowId(taskQueue));
    const first = await eventually('the maintenance workflow to run', async () => {
      const d = await handle.describe().catch(() => undefined);
      return d?.status.name === 'RUNNING' ? d : undefined;
    });

    await seedOld('first');
    await waitFor('a sweep to remove what is past retention', () => gone('first'), 20_000);
    // A recent event is kept.
    await runtime.store.events.collection.insertOne({
      _id: 'lab_recent:1',
      labId: 'lab_recent',
      at: new Date(),
      from: null,
      to: 'queued',
      generation: 1,
      provider: null,
      reason: 'test',
      error: null,
    });
    await seedOld('second');
    await waitFor('the next sweep', () => gone('second'), 20_000);
    expect(await runtime.store.events.collection.countDocuments({ labId: 'lab_recent' })).toBe(1);
    const later = await handle.describe();
    expect(later.runId).not.toBe(first.runId); // continued as new between sweeps

    // A worker process that restarts finds it running and leaves it be.
    await runtime.close();
    runtime = await start();
    const after = await runtime.client.workflow
      .getHandle(maintenanceWorkflowId(taskQueue))
      .describe();
    expect(after.status.name).toBe('RUNNING');
    let runs = 0;
    for await (const _ of runtime.client.workflow.list({
      query: `WorkflowId = '${maintenanceWorkflowId(taskQueue)}' AND ExecutionStatus = 'Running'`,
    }))
      runs += 1;
    expect(runs).toBeLessThanOrEqual(1);
  }, 90_000);
});
