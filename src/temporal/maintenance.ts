import type { Client } from '@temporalio/client';
import type { MaintenanceWorkflowInput } from '../../workflows/maintenance';

export const MAINTENANCE_WORKFLOW_TYPE = 'maintenanceWorkflow';

/** One maintenance workflow per task queue (tests run many deployments in one namespace). */
export function maintenanceWorkflowId(taskQueue: string): string {
  return `maintenance:${taskQueue}`;
}

/**
 * Starts the retention sweep's workflow unless it runs already (idempotent: every worker process
 * calls this at start, and a running one is left as it is; it reads the configuration at each
 * sweep).
 */
export async function ensureMaintenanceWorkflow(client: Client, taskQueue: string): Promise<void> {
  const args: [MaintenanceWorkflowInput] = [{ version: 1 }];
  await client.workflow.start(MAINTENANCE_WORKFLOW_TYPE, {
    workflowId: maintenanceWorkflowId(taskQueue),
    taskQueue,
    args,
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    staticSummary: 'Retention sweep: deletes records past their retention, once a day',
  });
}
