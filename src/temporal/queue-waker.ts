import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { capacityFreedSignal } from '../../workflows/messages';

/**
 * Tells a queued lab that capacity was freed. False when its workflow is gone (closed, or never
 * started): the caller removes its queue entry, which would otherwise block the labs behind it
 * (first come, first served) and the pools' refills forever.
 */
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
