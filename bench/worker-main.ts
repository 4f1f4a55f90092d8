/**
 * The lab worker as its own process, for benchmarks that measure the worker: the same
 * startRuntime with the worker role that `npm run worker` runs (configuration from LABS_CONFIG,
 * the environment read by src/config), plus what the product does not expose: Temporal's
 * Prometheus metrics (`--metrics host:port`) and a memory line on stdout every two seconds.
 * The workflow code comes bundled (`--bundle file`), built once per bench run.
 *   node --import tsx bench/worker-main.ts --metrics 127.0.0.1:9464 --bundle /tmp/workflows.js
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { environmentVariables, loadConfig, readEnvironment } from '../src/config';
import { createLogger } from '../src/log';
import { startRuntime, type Runtime as LabRuntime } from '../src/runtime';
import { endpointsOf } from '../src/single-role';
import { WORKER_STARTED } from './worker-process';

/** Finer than the SDK's default buckets, so a p99 read from them means something. */
const LATENCY_BUCKETS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000,
];

async function main(): Promise<void> {
  const arg = (name: string) => {
    const at = process.argv.indexOf(name);
    return at > 0 ? process.argv[at + 1] : undefined;
  };
  const bindAddress = arg('--metrics');
  const codePath = arg('--bundle');
  if (!bindAddress || !codePath)
    throw new Error('usage: worker-main.ts --metrics host:port --bundle workflows.js');
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: {
      metrics: {
        prometheus: {
          bindAddress,
          histogramBucketOverrides: Object.fromEntries(
            [
              'workflow_task_schedule_to_start_latency',
              'workflow_task_execution_latency',
              'workflow_task_replay_latency',
              'activity_schedule_to_start_latency',
              'activity_execution_latency',
            ].map((name) => [name, LATENCY_BUCKETS_MS]),
          ),
        },
      },
    },
  });
  const env = readEnvironment();
  const config = loadConfig(env.configPath, environmentVariables());
  const runtime: LabRuntime = await startRuntime({
    config,
    env,
    endpoints: endpointsOf(config, env),
    logger: createLogger(env.logLevel, 'bench-worker'),
    roles: { api: false, worker: true },
    workflowBundle: { codePath },
  });
  const stop = async () => {
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  console.log(JSON.stringify({ msg: WORKER_STARTED }));
  setInterval(() => console.log(JSON.stringify({ memory: process.memoryUsage() })), 2000);
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
