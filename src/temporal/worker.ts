import type { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type Activities } from '../../activities';
import type { ActivityDeps } from '../../activities/context';
import { TEMPLATES_DIR } from '../config';
import { labLiveness, queuedLabWaker } from './lab-client';
import { poolWaker } from './pools';

/**
 * On shutdown, activities get this long to finish before they are cancelled (a Heat wait stops
 * at once; every activity is idempotent and retried by the next worker), so a restart does not
 * wait for a stack build. No force time: with SDK 1.24 a forced stop leaves the native worker
 * referenced and the run ends in IllegalStateError (seen in the soak).
 */
const SHUTDOWN_GRACE = '5s';

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
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('../../workflows') }),
    ...(options.maxCachedWorkflows !== undefined
      ? { maxCachedWorkflows: options.maxCachedWorkflows }
      : {}),
    // The server scales the workflow-task pollers to the backlog (decision 0024): with the
    // SDK's fixed 10, two of them on the normal queue, new labs' first tasks and those moved
    // off a busy sticky queue waited minutes there in the full course bench.
    workflowTaskPollerBehavior: { type: 'autoscaling' },
  });
}

/**
 * The lab worker with its activities wired to Temporal (queue wakes, liveness, pool wakes): one
 * assembly for the product (src/runtime.ts) and the tests' environment (test/support/lab-env.ts),
 * which differ only in the dependencies they pass.
 */
export function assembleLabWorker(options: {
  connection: NativeConnection;
  client: Client;
  namespace: string;
  taskQueue: string;
  deps: Omit<ActivityDeps, 'wakeQueuedLab' | 'isLabAlive' | 'wakePool' | 'templatesDir'>;
  workflowBundle?: WorkerOptions['workflowBundle'];
  maxCachedWorkflows?: number;
}): Promise<Worker> {
  const { client, taskQueue } = options;
  const activities = createActivities({
    ...options.deps,
    templatesDir: TEMPLATES_DIR,
    wakeQueuedLab: queuedLabWaker(client),
    isLabAlive: labLiveness(client),
    wakePool: poolWaker(client, taskQueue),
  });
  return createLabWorker({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue,
    activities,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : {}),
    ...(options.maxCachedWorkflows !== undefined
      ? { maxCachedWorkflows: options.maxCachedWorkflows }
      : {}),
  });
}
