/**
 * One role per process (compose, Kubernetes, systemd): the API or the worker, against a
 * Temporal and a MongoDB that already run (the config's `temporal` and `mongodb` blocks, or
 * MONGODB_URI). Unlike `npm start` it starts no server of its own and generates no secret.
 */
import { utimes, writeFile } from 'node:fs/promises';
import {
  ConfigError,
  environmentVariables,
  loadConfig,
  readEnvironment,
  type Config,
  type Environment,
} from './config';
import { createLogger, type Logger } from './log';
import { startRuntime, type Endpoints, type Runtime } from './runtime';
import { installTemporalLogging } from './temporal/logging';

export type Role = 'api' | 'worker';

/** How often a running worker touches its health file; the health check allows a few misses. */
const HEALTH_TOUCH_MS = 10_000;

export function endpointsOf(config: Config, env: Environment): Endpoints {
  const problems: string[] = [];
  if (!config.temporal)
    problems.push('the configuration needs a `temporal` block (address, namespace, taskQueue)');
  const mongoUri = config.mongodb?.uri ?? env.mongodbUri;
  if (!mongoUri) problems.push('the configuration needs a `mongodb` block (or set MONGODB_URI)');
  if (problems.length > 0 || !config.temporal || !mongoUri)
    throw new ConfigError(problems.map((message) => ({ file: config.file, path: '', message })));
  return {
    temporalAddress: config.temporal.address,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    mongoUri,
  };
}

/** Refuses to serve with what would make every request fail or every secret unreadable. */
function checkEnvironment(role: Role, env: Environment): void {
  const problems: Array<{ path: string; message: string }> = [];
  if (env.secretsKeys.length === 0)
    problems.push({ path: 'LABS_SECRETS_KEY', message: 'is not set (keyId:base64-of-32-bytes)' });
  if (role === 'api' && env.serviceTokens.length + env.adminTokens.length === 0)
    problems.push({ path: 'LABS_SERVICE_TOKENS', message: 'no service or admin token is set' });
  if (problems.length > 0)
    throw new ConfigError(problems.map((p) => ({ file: '(environment)', ...p })));
}

export async function runSingleRole(role: Role): Promise<void> {
  let logger: Logger | undefined;
  let runtime: Runtime | undefined;
  let stopping = false;
  let healthTimer: NodeJS.Timeout | undefined;
  const stop = async (code: number, why: string) => {
    if (stopping) return;
    stopping = true;
    if (healthTimer) clearInterval(healthTimer);
    logger?.info({ role, why }, 'stopping');
    // Closing drains: the API ends long-polls and flushes heartbeats, the worker finishes its
    // activities (Temporal retries any it cannot), then the connections close.
    await runtime?.close();
    logger?.info({ role }, 'stopped');
    process.exit(code);
  };
  process.once('SIGTERM', () => void stop(0, 'SIGTERM'));
  process.once('SIGINT', () => void stop(0, 'SIGINT'));

  try {
    const env = readEnvironment();
    logger = createLogger(env.logLevel, `labs-${role}`);
    const config = loadConfig(env.configPath, environmentVariables());
    checkEnvironment(role, env);
    const endpoints = endpointsOf(config, env);
    installTemporalLogging(logger);
    runtime = await startRuntime({
      config,
      env,
      endpoints,
      logger,
      roles: { api: role === 'api', worker: role === 'worker' },
    });
    logger.info(
      {
        role,
        config: config.file,
        temporal: endpoints.temporalAddress,
        namespace: endpoints.namespace,
        taskQueue: endpoints.taskQueue,
        ...(runtime.apiUrl ? { api: runtime.apiUrl } : {}),
      },
      'started',
    );
    if (runtime.worker) {
      const worker = runtime.worker;
      // A worker that stopped on its own (e.g. Temporal gone for too long) is not healthy: exit
      // so the supervisor restarts it, instead of idling without polling.
      worker.done.then(
        () => void stop(stopping ? 0 : 1, 'the worker stopped'),
        (err: Error) => {
          logger?.error({ role, err: err.message }, 'the worker failed');
          void stop(1, 'the worker failed');
        },
      );
      const file = env.workerHealthFile;
      if (file) {
        const touch = async () => {
          if (worker.state() !== 'RUNNING') return;
          const now = new Date();
          await utimes(file, now, now).catch(() => writeFile(file, ''));
        };
        await touch();
        healthTimer = setInterval(() => void touch().catch(() => undefined), HEALTH_TOUCH_MS);
      }
    }
  } catch (err) {
    const message =
      err instanceof ConfigError ? err.message : `could not start: ${(err as Error).stack ?? err}`;
    if (logger) logger.fatal({ role, err: message }, 'could not start');
    else console.error(message);
    await stop(err instanceof ConfigError ? 2 : 1, 'start failed');
  }
}
