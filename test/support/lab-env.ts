import { Client } from '@temporalio/client';
import { connectTemporal } from '../../src/temporal/connection';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
} from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { parseConfig, type Config } from '../../src/config';
import { startEmulator, type RunningEmulator } from '../../src/emulator';
import { createLogger, type Logger } from '../../src/log';
import { createHeatClient, type HeatClient } from '../../src/openstack';
import { SecretBox } from '../../src/secrets/envelope';
import { DEFAULT_CLIENT_WATCH, openStore, type Store } from '../../src/store';
import { launchLab, type LaunchRequest } from '../../src/temporal/lab-client';
import { labIdFor } from '../../src/temporal/ids';
import { ensurePoolWorkflows } from '../../src/temporal/pools';
import { assembleLabWorker } from '../../src/temporal/worker';
import { labStatusQuery } from '../../workflows/messages';
import type { LabSnapshot, LabState } from '../../workflows/state';
import { testServers, uniqueDbName } from './servers';
import { eventually } from './wait';

export const SECRETS_KEY = { id: 'test1', key: Buffer.alloc(32, 42) };

/** A lab configuration for tests: fast timeouts, the emulator as every provider. */
export function labsYaml(
  authUrl: string,
  options: {
    capacity?: number;
    providers?: string[];
    idleTimeout?: string;
    deleteAfter?: string;
    maxLifetime?: string;
    launchTimeout?: string;
    heartbeatFlush?: string;
    policyRefresh?: string;
    /** The demo lab's `pool` block, as YAML flow (e.g. "{ size: 3, checkEvery: 1s }"). */
    pool?: string;
    /** A real Keystone/Heat instead of the emulator, for every provider. */
    realHeat?: { authUrl: string; username: string; project: string };
  } = {},
): string {
  const providers = options.providers ?? ['cloud-a'];
  const capacity = options.capacity ?? -1;
  return `
api: { host: 127.0.0.1, port: 0, heartbeatFlush: ${options.heartbeatFlush ?? '100ms'} }
policyRefresh: ${options.policyRefresh ?? '1h'}
providers:
${providers
  .map(
    (name) => `  - name: ${name}
    auth: { authUrl: "${options.realHeat?.authUrl ?? authUrl}", username: ${options.realHeat?.username ?? 'labs'}, passwordEnv: EMULATOR_PASSWORD, projectName: ${options.realHeat?.project ?? name}, userDomainName: Default, projectDomainName: Default }
    region: RegionOne
    capacity: ${capacity}`,
  )
  .join('\n')}
labs:
  demo:
    template: test/secret-lab.yaml
    parameters: { create_wait_secs: 0 }
    providers: [${providers.join(', ')}]
    connection: { protocol: ssh, hostOutput: public_ip, port: 22, username: learner }
    secretOutputs: [password]
    launchTimeout: ${options.launchTimeout ?? '1m'}
    idleTimeout: ${options.idleTimeout ?? '1h'}
    deleteAfter: ${options.deleteAfter ?? '14d'}
${options.maxLifetime ? `    maxLifetime: ${options.maxLifetime}\n` : ''}${options.pool ? `    pool: ${options.pool}\n` : ''}  broken:
    template: test/fail.yaml
    providers: [${providers.join(', ')}]
    connection: { protocol: ssh, host: 192.0.2.1, port: 22 }
    launchTimeout: 1m
  shell:
    template: test/shell-lab.yaml
    providers: [${providers.join(', ')}]
    connection: { protocol: ssh, hostOutput: host, portOutput: port, username: learner }
    secretOutputs: [private_key]
    launchTimeout: 1m
    idleTimeout: ${options.idleTimeout ?? '1h'}
    deleteAfter: ${options.deleteAfter ?? '14d'}
    checks:
      - { name: notes, title: 'notes.txt says hello', script: shell/notes-file.sh, timeout: 10s }
      - { name: project, title: 'a project folder', script: shell/project-dir.sh, timeout: 10s, weight: 2 }
`;
}

let bundle: Promise<{ code: string }> | undefined;
let runtimeInstalled = false;
/** Worker logs at WARN: the suites' output stays readable. */
function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}
/** The workflow bundle, built once per test file. */
export function workflowBundle(): Promise<{ code: string }> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: quietBundlerLogger,
  });
  return bundle;
}
const quietBundlerLogger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error: console.error,
  log() {},
} as never;

export interface LabEnv {
  emulator: RunningEmulator;
  /** What the activities log to (silent unless the test gave one); the API env logs here too. */
  logger: Logger;
  store: Store;
  client: Client;
  config: Config;
  taskQueue: string;
  heat: (provider: string) => HeatClient;
  /**
   * Starts a worker (one at a time) on this env's task queue; `maxCachedWorkflows: 0` makes it
   * replay the whole history on every workflow task, as after a restart or a cache eviction.
   */
  /**
   * `ownStore`: the worker opens its own connection to the database and closes it when it stops,
   * as a worker process does (the soak restarts it like a process, client included).
   */
  startWorker(
    config?: Config,
    options?: { maxCachedWorkflows?: number; ownStore?: boolean },
  ): Promise<Worker>;
  stopWorker(): Promise<void>;
  /** Starts the pool workflow of every lab with a `pool` in `config` (as a worker process does). */
  startPools(config?: Config): Promise<string[]>;
  launch(request?: Partial<LaunchRequest>): Promise<LabSnapshot>;
  labId(request?: Partial<LaunchRequest>): string;
  status(labId: string): Promise<LabSnapshot>;
  waitForState(
    labId: string,
    state: LabState | LabState[],
    timeoutMs?: number,
  ): Promise<LabSnapshot>;
  /** Stacks of a lab in the emulator that Heat has not deleted. */
  liveStacks(labId: string): Promise<Array<{ name: string; status: string }>>;
  close(): Promise<void>;
}

export async function startLabEnv(
  options: Parameters<typeof labsYaml>[1] & {
    emulator?: Parameters<typeof startEmulator>[0];
    password?: string;
    logger?: Logger;
    /** The activities' clock (pool schedules, timestamps); the real one unless a test moves time. */
    now?: () => Date;
    /** A MongoDB-compatible server of the test's own (e.g. one it kills), not the shared one. */
    mongoUri?: string;
  } = {},
): Promise<LabEnv> {
  installQuietRuntime();
  const servers = testServers();
  const emulator = await startEmulator({
    createDelayMs: 20,
    actionDelayMs: 20,
    deleteDelayMs: 20,
    ...options.emulator,
  });
  const config = parseConfig(labsYaml(emulator.authUrl, options), 'test-labs.yaml', {
    EMULATOR_PASSWORD: options.password ?? 'pw',
  });
  const mongoUri = options.mongoUri ?? servers.mongoUri;
  // A replaced client is rare and worth seeing in a test's output (the soak counts on it).
  const watch = {
    ...DEFAULT_CLIENT_WATCH,
    onReplaced: (reason: string) =>
      process.stderr.write(`[store] replaced a stuck MongoDB client (${reason})\n`),
  };
  const store = await openStore(mongoUri, { dbName: uniqueDbName('labs'), watch });
  const temporal = await connectTemporal(servers.temporalAddress);
  const client = new Client({ connection: temporal.connection });
  const taskQueue = `labs-${randomUUID()}`;
  const heatClients = new Map<string, HeatClient>();
  const heatFor = (cfg: Config) => (name: string) => {
    const key = `${name}`;
    let c = heatClients.get(key);
    if (!c) {
      c = createHeatClient(
        cfg.providers.find((p) => p.name === name)!,
        { retry: { attempts: 3, baseDelayMs: 50, maxDelayMs: 200 } },
      );
      heatClients.set(key, c);
    }
    return c;
  };
  let worker:
    | { worker: Worker; running: Promise<void>; connection: NativeConnection; store?: Store }
    | undefined;
  const logger = options.logger ?? createLogger('silent', 'test');

  const env: LabEnv = {
    emulator,
    logger,
    store,
    client,
    config,
    taskQueue,
    heat: heatFor(config),
    async startWorker(cfg = config, { ownStore = false, ...workerOptions } = {}) {
      if (worker) throw new Error('a worker is already running');
      const workerStore = ownStore
        ? await openStore(mongoUri, { dbName: store.labs.collection.dbName, watch })
        : store;
      const nativeConnection = await NativeConnection.connect({ address: servers.temporalAddress });
      const w = await assembleLabWorker({
        connection: nativeConnection,
        client,
        namespace: 'default',
        taskQueue,
        deps: {
          config: cfg,
          store: workerStore,
          heat: heatFor(cfg),
          secretBox: new SecretBox([SECRETS_KEY]),
          logger,
          pollIntervalMs: { min: 50, max: 250 },
          ...(options.now ? { now: options.now } : {}),
        },
        workflowBundle: await workflowBundle(),
        ...workerOptions,
      });
      worker = {
        worker: w,
        running: w.run(),
        connection: nativeConnection,
        store: ownStore ? workerStore : undefined,
      };
      return w;
    },
    async stopWorker() {
      if (!worker) return;
      const { worker: w, running, connection: c, store: own } = worker;
      worker = undefined;
      w.shutdown();
      await running;
      await c.close();
      await own?.close();
    },
    startPools(cfg = config) {
      return ensurePoolWorkflows(client, taskQueue, cfg);
    },
    launch(request = {}) {
      return launchLab(client, taskQueue, {
        courseId: 'course-v1:Org+Lab101+2026',
        learnerId: `anon-${randomUUID().slice(0, 8)}`,
        lab: 'demo',
        ...request,
      });
    },
    labId(request = {}) {
      return labIdFor(
        request.courseId ?? 'course-v1:Org+Lab101+2026',
        request.learnerId ?? '',
        request.lab ?? 'demo',
      );
    },
    status(labId) {
      return client.workflow.getHandle(labId).query(labStatusQuery);
    },
    async waitForState(labId, state, timeoutMs = 30_000) {
      const wanted = Array.isArray(state) ? state : [state];
      let last: LabSnapshot | undefined;
      return eventually(
        `lab ${labId} to reach ${wanted.join('|')}`,
        async () => {
          last = await env.status(labId).catch(() => last);
          return last && wanted.includes(last.state) ? last : undefined;
        },
        timeoutMs,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}; last state ${last?.state}, error ${JSON.stringify(last?.error)}`,
        );
      });
    },
    async liveStacks(labId) {
      const suffix = labId.replace(/^lab_/, '');
      return (await emulator.admin.stacks())
        .filter((s) => s.name.includes(suffix) && s.status !== 'DELETE_COMPLETE')
        .map((s) => ({ name: s.name, status: s.status }));
    },
    async close() {
      await env.stopWorker();
      await temporal.close();
      await store.close();
      await emulator.close();
    },
  };
  return env;
}
