import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Activities } from '../../activities';

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
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('../../workflows') }),
    ...(options.maxCachedWorkflows !== undefined
      ? { maxCachedWorkflows: options.maxCachedWorkflows }
      : {}),
  });
}
