import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import {
  POOL_WORKFLOW_TYPE,
  poolClaimedSignal,
  poolWorkflowId,
  type PoolWorkflowInput,
} from '../../workflows/pool-messages';
import { LabNameKey } from '../../workflows/search-attributes';

/**
 * Starts the pool workflow of every lab with a `pool` that has none running (idempotent: a
 * running one is left as it is and reads the new configuration at its next wake). A lab whose
 * pool was removed from the configuration keeps its workflow until that drains and ends.
 */
export async function ensurePoolWorkflows(
  client: Client,
  taskQueue: string,
  config: Config,
): Promise<string[]> {
  const pooled = Object.values(config.labs).filter((lab) => lab.pool);
  await Promise.all(
    pooled.map((lab) => {
      const args: [PoolWorkflowInput] = [{ version: 1, lab: lab.name }];
      return client.workflow.start(POOL_WORKFLOW_TYPE, {
        workflowId: poolWorkflowId(lab.name, taskQueue),
        taskQueue,
        args,
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        typedSearchAttributes: [{ key: LabNameKey, value: lab.name }],
        staticSummary: `Warm pool of lab ${lab.name}`,
      });
    }),
  );
  return pooled.map((lab) => lab.name);
}

/** What a claim calls so the pool refills at once (a Temporal signal). */
export function poolWaker(client: Client, taskQueue: string): (lab: string) => Promise<void> {
  return async (lab) => {
    await client.workflow
      .getHandle(poolWorkflowId(lab, taskQueue))
      .signal(poolClaimedSignal, { version: 1 });
  };
}
