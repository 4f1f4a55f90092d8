import { createCapacityActivities } from './capacity';
import { createCheckActivities } from './checks';
import type { ActivityDeps } from './context';
import { createHookActivities } from './hooks';
import { createMaintenanceActivities } from './maintenance';
import { createPoolActivities } from './pools';
import { createProjectionActivities } from './projection';
import { createStackActivities } from './stacks';
import { createWebhookActivities } from './webhooks';

export type { ActivityDeps } from './context';
export { FailureType } from './errors';

/** Every activity of the lab, pool and maintenance workflows, built from its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createCapacityActivities(deps),
    ...createStackActivities(deps),
    ...createProjectionActivities(deps),
    ...createPoolActivities(deps),
    ...createMaintenanceActivities(deps),
    ...createCheckActivities(deps),
    ...createHookActivities(deps),
    ...createWebhookActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
