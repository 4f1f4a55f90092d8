/**
 * The product's worker (`npm run worker`: src/temporal/worker-main.ts) as a child process of a
 * test, on the test's Temporal, MongoDB and emulator. The soak runs its worker this way: a
 * worker that shares the test's event loop with the soak's clients, the API and the emulator
 * took 17-60 s per workflow task on two cores, which no deployment does.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild } from '../../src/local/child';
import { SECRETS_KEY } from './lab-env';

const ROOT = join(__dirname, '../..');

export interface WorkerProcess {
  pid: number;
  /** SIGTERM (the worker drains), then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts the worker on `yaml` (a lab configuration without `temporal` and `mongodb` blocks, as
 * labsYaml writes) plus the given endpoints, and resolves once it polls its task queue.
 */
export async function startWorkerProcess(options: {
  yaml: string;
  temporalAddress: string;
  taskQueue: string;
  /** A mongodb:// URI whose path names the database. */
  mongoUri: string;
  emulatorPassword: string;
  /** Where its log goes (appended). */
  logFile: string;
  startTimeoutMs?: number;
  /** More environment for the worker (e.g. a webhook's secret, named by its `secretEnv`). */
  env?: Record<string, string>;
}): Promise<WorkerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'labs-worker-'));
  const configPath = join(dir, 'labs.yaml');
  const healthFile = join(dir, 'healthy');
  writeFileSync(
    configPath,
    `${options.yaml}
temporal: { address: "${options.temporalAddress}", namespace: default, taskQueue: "${options.taskQueue}" }
mongodb: { uri: "${options.mongoUri}" }
`,
  );
  const child = startChild(
    'worker',
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/temporal/worker-main.ts')],
    {
      cwd: ROOT,
      logFile: options.logFile,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LABS_CONFIG: configPath,
        LABS_DATA_DIR: dir,
        LABS_SECRETS_KEY: `${SECRETS_KEY.id}:${SECRETS_KEY.key.toString('base64')}`,
        EMULATOR_PASSWORD: options.emulatorPassword,
        LOG_LEVEL: 'warn',
        // Touched once the worker runs (src/single-role.ts): how this knows it started.
        LABS_WORKER_HEALTH_FILE: healthFile,
        ...options.env,
      },
    },
  );
  const started = new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
    const look = setInterval(() => {
      if (existsSync(healthFile)) {
        clearInterval(look);
        resolve();
      } else if (Date.now() > deadline) {
        clearInterval(look);
        reject(new Error(`the worker process did not start in time (log: ${options.logFile})`));
      }
    }, 100);
    void child.exited.then((code) => {
      clearInterval(look);
      reject(new Error(`the worker process exited (${code}); log: ${options.logFile}`));
    });
  });
  try {
    await started;
  } catch (err) {
    await child.stop(1_000);
    throw err;
  }
  // SIGTERM drains the worker (runSingleRole); one that does not exit in time is killed.
  const stop = (graceMs = 20_000) => child.stop(graceMs);
  const pid = child.pid;
  return { pid, stop };
}
