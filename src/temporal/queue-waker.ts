import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { capacityFreedSignal } from '../../workflows/messages';

/**
 * Tells a queued lab that capacity was freed. False when its workflow is gone (closed, or never
 * started): the caller removes its queue entry, which would otherwise block the labs behind it
 * (first come, first served) and the pools' refills forever.
 */
/** Whether a lab's workflow still runs: a describe, which wakes nothing. */
export function labLiveness(client: Client): (labId: string) => Promise<boolean> {
  return async (labId) => {
    try {
      return (await client.workflow.getHandle(labId).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  };
}

export function queuedLabWaker(
  client: Client,
): (labId: string, provider: string) => Promise<boolean> {
  return async (labId, provider) => {
    try {
      await client.workflow.getHandle(labId).signal(capacityFreedSignal, { version: 1, provider });
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  };
}
