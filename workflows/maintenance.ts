/**
 * The maintenance workflow: one per deployment (task queue), started by every worker process
 * (idempotently, see src/temporal/maintenance.ts). It sweeps what is past retention, sleeps
 * `retention.sweepEvery` (a day by default) and continues as new, so its history stays a few
 * events long. FerretDB v1 has no TTL index ("Index option expireAfterSeconds is not
 * implemented yet"), and a TTL could not tell a live lab's documents anyway: the sweep does it.
 */
import { continueAsNew, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { SweepCursor } from '../activities/maintenance';

export interface MaintenanceWorkflowInput {
  version: 1;
  /** Where an interrupted sweep goes on (a run that continued as new mid-sweep). */
  from?: SweepCursor | null;
}

/** Mongo-only work that may take minutes on a first sweep; retried until the database answers. */
const { sweepRetention } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '10m' },
});

export async function maintenanceWorkflow(input: MaintenanceWorkflowInput): Promise<void> {
  let from = input.from ?? null;
  let sweepEveryMs: number;
  do {
    const result = await sweepRetention({ from });
    from = result.next;
    sweepEveryMs = result.sweepEveryMs;
    if (from && workflowInfo().continueAsNewSuggested)
      return continueAsNew<typeof maintenanceWorkflow>({ version: 1, from });
  } while (from);
  await sleep(sweepEveryMs);
  return continueAsNew<typeof maintenanceWorkflow>({ version: 1 });
}
