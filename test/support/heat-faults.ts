import type { EmulatorAdminClient } from '../../src/emulator/admin-client';

/** Every matching Heat request answers 503 until the test clears the emulator's faults. */
export async function heatOutage(
  admin: EmulatorAdminClient,
  method: string,
  path: string,
): Promise<void> {
  await admin.injectFault({ method, path, fault: { kind: 'status', status: 503 }, times: 100_000 });
}

/**
 * A create that Heat commits while its answer is lost, after which every look at the stack
 * fails until the faults are cleared: the create activity runs out of retries with the stack
 * made. The lookup before the create still goes through (it finds nothing).
 */
export async function unconfirmedCreate(
  admin: EmulatorAdminClient,
  stackName: string,
): Promise<void> {
  await admin.injectFault({
    method: 'GET',
    path: `/stacks/${stackName}$`,
    fault: { kind: 'latency', ms: 0 },
    times: 1,
  });
  await admin.injectFault({
    method: 'POST',
    path: '/stacks$',
    fault: { kind: 'status', status: 500, afterHandling: true },
    times: 1,
  });
  await heatOutage(admin, 'GET', `/stacks/${stackName}`);
}
