import { parseConfig, type Config } from '../../src/config';
import { poolStatusQuery, poolWorkflowId, type PoolStatus } from '../../workflows/pool-messages';
import { labsYaml, type LabEnv } from '../support/lab-env';
import { eventually } from '../support/wait';

/** Pool stacks Heat still has (the emulator's view), by name. */
export async function livePoolStacks(
  env: LabEnv,
): Promise<Array<{ name: string; status: string }>> {
  return (await env.emulator.admin.stacks())
    .filter((s) => s.name.startsWith('pool-') && s.status !== 'DELETE_COMPLETE')
    .map((s) => ({ name: s.name, status: s.status }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function poolStatus(env: LabEnv, lab = 'demo'): Promise<PoolStatus> {
  return env.client.workflow.getHandle(poolWorkflowId(lab, env.taskQueue)).query(poolStatusQuery);
}

/** Waits until the pool reports `ready` stacks ready and nothing building. */
export function waitForPool(env: LabEnv, ready: number, timeoutMs = 60_000): Promise<PoolStatus> {
  let last: PoolStatus | undefined;
  return eventually(
    `the pool to hold ${ready} ready stacks`,
    async () => {
      last = await poolStatus(env).catch(() => last);
      if (!last || last.ready !== ready || last.building !== 0) return undefined;
      // The workflow counts a stack ready a moment before its record reaches Mongo, and
      // launches claim from the records: wait for both to agree.
      const recorded = await env.store.pools.readyStacks(last.lab);
      return recorded.length === ready ? last : undefined;
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last ${JSON.stringify(last)}`);
  });
}

/** The env's configuration with another pool block (as an operator's change plus restart). */
export function withPool(
  env: LabEnv,
  pool: string,
  options: Parameters<typeof labsYaml>[1] = {},
): Config {
  return parseConfig(labsYaml(env.emulator.authUrl, { ...options, pool }), 'changed.yaml', {
    EMULATOR_PASSWORD: 'pw',
  });
}
