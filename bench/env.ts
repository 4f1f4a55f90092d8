/**
 * A self-contained bench environment: its own Temporal dev server (in memory), its own
 * Mongo-compatible server (or MONGODB_URI), the emulator and the product, all on free ports and
 * under a temporary directory, so a bench never collides with a running `npm start`. The API
 * runs in this process; the worker too, unless `workerProcess` puts it in a child of its own.
 */
import {
  bundleWorkflowCode,
  DefaultLogger,
  makeTelemetryFilterString,
  Runtime as TemporalRuntime,
} from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseConfig, type Config, type Environment } from '../src/config';
import { startEmulator, type RunningEmulator } from '../src/emulator';
import { startMongoServer, type MongoServer } from '../src/local/mongo-server';
import { startTemporalDevServer, type TemporalDevServer } from '../src/local/temporal-dev-server';
import { readTools } from '../src/local/tools';
import { createLogger } from '../src/log';
import { startRuntime, type Runtime } from '../src/runtime';
import { withDeadline } from '../src/util/deadline';
import { cpuSeconds } from './cpu';
import { request, requestPatiently } from './http';
import { startWorkerProcess, type WorkerProcess } from './worker-process';

export const COURSE = 'course-v1:Bench+Labs+2026';
const TASK_QUEUE = 'labs-bench';
const EMULATOR_PASSWORD = 'bench';

export interface BenchEnv {
  apiUrl: string;
  serviceToken: string;
  adminToken: string;
  runtime: Runtime;
  emulator: RunningEmulator;
  config: Config;
  mongoKind: string;
  temporal: TemporalDevServer;
  mongo?: MongoServer;
  /** The worker's own process, when the environment was started with `workerProcess`. */
  worker?: WorkerProcess;
  /** FerretDB's debug endpoint (Prometheus metrics), when the bench started FerretDB. */
  ferretMetricsUrl?: string;
  close(): Promise<void>;
}

export interface BenchEnvOptions {
  /** config.api.heartbeatFlush, as a duration string (default 5s). */
  heartbeatFlush?: string;
  /** The `demo` lab's timeouts, as duration strings (defaults 1h and 14d). */
  idleTimeout?: string;
  deleteAfter?: string;
  /** The emulator's per-resource delays in ms (default 50 each). */
  emulatorDelayMs?: { create: number; action: number; delete: number };
  /** `worker.maxCachedWorkflows` (default: the product's). */
  workerCache?: number;
  /** Runs the worker as its own process, so its memory and CPU are its own. */
  workerProcess?: boolean;
  /** A warm pool (YAML, e.g. `{ size: 5 }`): adds a lab `pooled`, the `demo` lab with this pool. */
  pool?: string;
  /** More of the configuration: top-level blocks (e.g. `webhooks`) and labs (indented entries). */
  extra?: { yaml?: string; labs?: string };
  /** More environment for the configuration and the worker (e.g. a webhook's secretEnv). */
  env?: Record<string, string>;
}

function configYaml(
  authUrl: string,
  endpoints: { temporalAddress: string; mongoUri: string },
  options: BenchEnvOptions,
): string {
  return `
temporal: { address: "${endpoints.temporalAddress}", namespace: default, taskQueue: ${TASK_QUEUE} }
mongodb: { uri: "${endpoints.mongoUri}" }
api: { host: 127.0.0.1, port: 0, heartbeatFlush: ${options.heartbeatFlush ?? '5s'} }
providers:
  - name: local
    auth: { authUrl: "${authUrl}", username: labs, passwordEnv: BENCH_EMULATOR_PASSWORD, projectName: labs, userDomainName: Default, projectDomainName: Default }
    region: RegionOne
    capacity: -1
${options.workerCache ? `worker: { maxCachedWorkflows: ${options.workerCache} }\n` : ''}${options.extra?.yaml ?? ''}
labs:
${labYaml('demo', options)}${options.pool ? labYaml('pooled', options, `pool: ${options.pool}`) : ''}${shellLabYaml(options)}${options.extra?.labs ?? ''}`;
}

/**
 * A lab you can log into (the terminal bench): the emulator's SSH gateway opens a real bash for
 * the stack's private key, as the `shell` lab of config/example.yaml.
 */
function shellLabYaml(options: BenchEnvOptions): string {
  return `  shell:
    template: test/shell-lab.yaml
    providers: [local]
    connection: { protocol: ssh, hostOutput: host, portOutput: port, username: learner }
    secretOutputs: [private_key]
    launchTimeout: 10m
    idleTimeout: ${options.idleTimeout ?? '1h'}
    deleteAfter: ${options.deleteAfter ?? '14d'}
`;
}

/** The bench's lab (the test template, quick to build); `pooled` is the same lab with a warm pool. */
export function labYaml(name: string, options: BenchEnvOptions, extra?: string): string {
  return `  ${name}:
    template: test/secret-lab.yaml
    parameters: { create_wait_secs: 0 }
    providers: [local]
    connection: { protocol: ssh, hostOutput: public_ip, port: 22, username: learner }
    secretOutputs: [password]
    launchTimeout: 10m
    idleTimeout: ${options.idleTimeout ?? '1h'}
    deleteAfter: ${options.deleteAfter ?? '14d'}
${extra ? `    ${extra}\n` : ''}`;
}

let temporalRuntimeInstalled = false;

let bundlePath: Promise<string> | undefined;
/**
 * The workflow code, bundled once per run into a file that every environment's worker loads
 * (in this process or its own): bundling took seconds per environment, eight times a run.
 */
export function benchWorkflowBundle(): Promise<string> {
  bundlePath ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: quietBundler,
  }).then(({ code }) => {
    const file = join(mkdtempSync(join(tmpdir(), 'labs-bench-bundle-')), 'workflows.js');
    writeFileSync(file, code);
    process.once('exit', () => rmSync(dirname(file), { recursive: true, force: true }));
    return file;
  });
  return bundlePath;
}
const quietBundler = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string) => console.error(message),
  log: () => undefined,
};

export async function startBenchEnv(options: BenchEnvOptions = {}): Promise<BenchEnv> {
  // The SDK's runtime is a process-wide singleton: several environments in one run share it.
  if (!temporalRuntimeInstalled) {
    TemporalRuntime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
    });
    temporalRuntimeInstalled = true;
  }
  const dir = mkdtempSync(join(tmpdir(), 'labs-bench-'));
  const tools = readTools();
  // The servers start side by side, and stop so too: a run starts eight environments.
  const external = process.env.MONGODB_URI;
  const [temporal, mongo] = await Promise.all([
    startTemporalDevServer({ cli: tools.temporalCli, logDir: dir, headless: true }),
    external ? undefined : startMongoServer({ tools, dataDir: join(dir, 'mongo'), logDir: dir }),
  ]);
  let mongoUri: string;
  let mongoKind: string;
  if (mongo) {
    mongoUri = `${mongo.uri}labs_bench`;
    mongoKind = `${mongo.kind}${mongo.backend ? ` (${mongo.backend})` : ''}`;
  } else {
    const url = new URL(String(external).replace(/^mongodb:/, 'http:'));
    url.pathname = `/labs_bench_${Date.now()}`;
    mongoUri = url.toString().replace(/^http:/, 'mongodb:');
    mongoKind = 'MONGODB_URI';
  }
  const delays = options.emulatorDelayMs ?? { create: 50, action: 50, delete: 50 };
  const emulator = await startEmulator({
    createDelayMs: delays.create,
    actionDelayMs: delays.action,
    deleteDelayMs: delays.delete,
  });
  const configPath = join(dir, 'bench-labs.yaml');
  writeFileSync(
    configPath,
    configYaml(emulator.authUrl, { temporalAddress: temporal.address, mongoUri }, options),
  );
  const config = parseConfig(readFileSync(configPath, 'utf8'), configPath, {
    BENCH_EMULATOR_PASSWORD: EMULATOR_PASSWORD,
    ...options.env,
  });
  const serviceToken = randomBytes(24).toString('base64url');
  const adminToken = randomBytes(24).toString('base64url');
  const secretsKey = { id: 'bench', key: randomBytes(32) };
  const env: Environment = {
    configPath,
    serviceTokens: [serviceToken],
    adminTokens: [adminToken],
    secretsKeys: [secretsKey],
    dataDir: dir,
    logLevel: 'silent',
  };
  const workflowBundle = await benchWorkflowBundle();
  const worker = options.workerProcess
    ? await startWorkerProcess({
        workflowBundle,
        configPath,
        logDir: dir,
        env: {
          BENCH_EMULATOR_PASSWORD: EMULATOR_PASSWORD,
          LABS_SECRETS_KEY: `${secretsKey.id}:${secretsKey.key.toString('base64')}`,
          LABS_DATA_DIR: dir,
          LOG_LEVEL: 'warn',
          ...options.env,
        },
      })
    : undefined;
  const runtime = await startRuntime({
    config,
    env,
    endpoints: {
      temporalAddress: temporal.address,
      namespace: 'default',
      taskQueue: TASK_QUEUE,
      mongoUri,
    },
    logger: createLogger('silent', 'bench'),
    roles: { api: true, worker: !worker },
    workflowBundle: { codePath: workflowBundle },
    // The default limit (50/s per token) is for runaway clients; a class's launches come
    // through one service token, which is what the storm measures.
    apiOptions: { rateLimit: { perSecond: 1_000_000, burst: 1_000_000 } },
  });
  let ferretMetricsUrl: string | undefined;
  if (mongo?.kind === 'ferretdb') {
    const cmdline = readFileSync(`/proc/${mongo.pid}/cmdline`, 'utf8').split('\0');
    const debug = cmdline.find((a) => a.startsWith('--debug-addr='));
    if (debug) ferretMetricsUrl = `http://${debug.slice('--debug-addr='.length)}/debug/metrics`;
  }
  return {
    apiUrl: runtime.apiUrl!,
    serviceToken,
    adminToken,
    runtime,
    emulator,
    config,
    mongoKind,
    temporal,
    mongo,
    worker,
    ferretMetricsUrl,
    async close() {
      // A wedged FerretDB must not hold the run (the full run of 2026-11-25 hung here after the
      // course bench): each step gets a deadline, and a step that misses it is reported and left.
      const step = (what: string, ms: number, work: () => Promise<unknown>) =>
        withDeadline(`closing ${what}`, ms, work).catch((err: Error) =>
          console.error(`${err.message}; moving on`),
        );
      await step('the product', 20_000, () => Promise.all([runtime.close(), worker?.stop()]));
      await step('the worker process', 30_000, async () => worker?.stop());
      await Promise.all([
        step('the emulator', 10_000, () => emulator.close()),
        step('the Mongo server', 30_000, async () => mongo?.stop()),
        step('the Temporal dev server', 30_000, () => temporal.stop()),
      ]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** FerretDB's client request counter (all commands), when its debug endpoint is known. */
export async function ferretRequests(env: BenchEnv): Promise<number | undefined> {
  if (!env.ferretMetricsUrl) return undefined;
  try {
    const text = (await request(env.ferretMetricsUrl, { timeoutMs: 5000 })).body;
    let sum = 0;
    for (const line of text.split('\n'))
      if (line.startsWith('ferretdb_client_requests_total'))
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    return sum;
  } catch {
    return undefined;
  }
}

/**
 * Launches labs through the API, `concurrency` at a time; returns ids, tokens and latencies.
 * `patient` launches wait out a 429 or 503 and try again, as a well-behaved client would.
 */
export async function launchLabs(
  env: BenchEnv,
  learners: string[],
  concurrency: number,
  options: {
    onAnswer?: (ok: boolean, latencyMs: number) => void;
    patient?: boolean;
    /** Epoch ms after which no further launch is sent. */
    stopAt?: number;
    /** The lab of the configuration to launch (default `demo`). */
    lab?: string;
  } = {},
): Promise<{
  labs: Array<{ id: string; token: string; learner: string; sentAt: number }>;
  latenciesMs: number[];
  errors: number;
  seconds: number;
}> {
  const labs: Array<{ id: string; token: string; learner: string; sentAt: number }> = [];
  const latenciesMs: number[] = [];
  let errors = 0;
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, learners.length) }, async () => {
      while (next < learners.length && Date.now() < (options.stopAt ?? Infinity)) {
        const learner = learners[next++]!;
        const sentAt = Date.now();
        const start = process.hrtime.bigint();
        const answer = await (options.patient ? requestPatiently : request)(
          `${env.apiUrl}/v1/labs`,
          {
            method: 'POST',
            token: env.serviceToken,
            body: { courseId: COURSE, learnerId: learner, lab: options.lab ?? 'demo' },
            timeoutMs: 60_000,
          },
        ).catch(() => undefined);
        const latencyMs = Number(process.hrtime.bigint() - start) / 1e6;
        latenciesMs.push(latencyMs);
        const ok = answer !== undefined && answer.status < 300;
        options.onAnswer?.(ok, latencyMs);
        if (!answer || !ok) {
          errors++;
          continue;
        }
        const lab = JSON.parse(answer.body) as { id: string; heartbeatToken: string };
        labs.push({ id: lab.id, token: lab.heartbeatToken, learner, sentAt });
      }
    }),
  );
  return { labs, latenciesMs, errors, seconds: (Date.now() - t0) / 1000 };
}

/**
 * How many of the environment's running lab workflows are in each of `states`, from Temporal's
 * visibility (the LabState search attribute): counting from Mongo would scan the labs
 * collection on FerretDB, and at thousands of labs that read competes with the product.
 */
export async function countStates(
  env: BenchEnv,
  states: string[] = ['queued', 'launching', 'ready', 'suspending', 'suspended', 'resuming'],
): Promise<Record<string, number>> {
  const counts = await withDeadline('counting lab states', 30_000, () =>
    Promise.all(
      states.map(
        async (state) =>
          [
            state,
            (
              await env.runtime.client.workflow.count(
                `ExecutionStatus = "Running" AND LabState = "${state}"`,
              )
            ).count,
          ] as const,
      ),
    ),
  );
  return Object.fromEntries(counts.filter(([, n]) => n > 0));
}

/**
 * For progress lines: FerretDB's requests per second since the previous call, and any server
 * of the environment that is no longer running (the machine is shared: a broad kill elsewhere
 * takes ours down too, and the figures after it measure that).
 */
export function ferretRate(env: BenchEnv): () => Promise<string> {
  let last: { at: number; count: number } | undefined;
  return async () => {
    const gone = Object.entries({
      temporal: env.temporal.pid,
      mongo: env.mongo?.pid,
      worker: env.worker?.pid,
    })
      .filter(([, pid]) => pid !== undefined && Number.isNaN(cpuSeconds(pid)))
      .map(([name]) => name);
    if (gone.length > 0) return `, GONE: ${gone.join(', ')} (the process no longer runs)`;
    const count = await ferretRequests(env);
    if (count === undefined) return '';
    const now = { at: Date.now(), count };
    const rate = last ? (now.count - last.count) / ((now.at - last.at) / 1000) : NaN;
    last = now;
    return Number.isNaN(rate) ? '' : `, FerretDB ${rate.toFixed(0)} req/s`;
  };
}

/** Waits until every lab's projection says `state` (reading Mongo directly, by _id). */
export async function waitForState(
  env: BenchEnv,
  ids: string[],
  state: string,
  timeoutMs: number,
): Promise<{ reached: number; seconds: number; readErrors: number; ids: string[] }> {
  const t0 = Date.now();
  const labs = env.runtime.store.db.collection<{ _id: string; state: string }>('labs');
  let there: string[] = [];
  let readErrors = 0;
  while (Date.now() - t0 < timeoutMs) {
    try {
      const now: string[] = [];
      for (let i = 0; i < ids.length; i += 500) {
        const docs = await labs
          .find({ _id: { $in: ids.slice(i, i + 500) } }, { projection: { state: 1 } })
          .maxTimeMS(10_000)
          .toArray();
        for (const d of docs) if (d.state === state) now.push(d._id);
      }
      there = now;
    } catch {
      readErrors++; // Mongo (FerretDB) not answering: counted, and tried again
    }
    if (there.length >= ids.length) break;
    process.stdout.write(
      `\r  ${state}: ${there.length}/${ids.length} (read errors ${readErrors})   `,
    );
    // Every 2 s: on FerretDB an $in is a scan of the collection, and the bench must not be
    // what loads the database it measures.
    await new Promise((r) => setTimeout(r, 2000));
  }
  process.stdout.write('\n');
  return { reached: there.length, seconds: (Date.now() - t0) / 1000, readErrors, ids: there };
}
