import {
  GracefulShutdownPeriodExpiredError,
  NativeConnection,
  Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import type { Activities } from '../../activities';

/**
 * On shutdown, activities get this long to finish before they are cancelled (a Heat wait stops
 * at once; every activity is idempotent and retried by the next worker)...
 */
const SHUTDOWN_GRACE = '5s';
/** ...and the worker stops after this at the latest, so a deploy or a restart never hangs on it. */
const SHUTDOWN_FORCE = '60s';

/**
 * A worker for the lab task queue. Tests and benchmarks pass a prebuilt bundle
 * (`workflowBundle`) so workflow code is bundled once per run, not once per worker.
 */
export async function createLabWorker(options: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: Activities;
  workflowBundle?: WorkerOptions['workflowBundle'];
  maxCachedWorkflows?: number;
}): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: options.activities,
    shutdownGraceTime: SHUTDOWN_GRACE,
    shutdownForceTime: SHUTDOWN_FORCE,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('../../workflows') }),
    ...(options.maxCachedWorkflows !== undefined
      ? { maxCachedWorkflows: options.maxCachedWorkflows }
      : {}),
  });
}

/**
 * Waits for a worker's run to end after shutdown(). A shutdown that outlived SHUTDOWN_FORCE is
 * over too (what was left in flight is retried by the next worker); other failures are not.
 */
export async function drained(running: Promise<void>): Promise<void> {
  await running.catch((err: unknown) => {
    if (!(err instanceof GracefulShutdownPeriodExpiredError)) throw err;
  });
}
