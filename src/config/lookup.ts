import { idleSlackFor, type LabPolicy } from '../../workflows/policy';
import { mayLimit } from '../usage/verdict';
import type { Config, LabConfig } from './types';

/**
 * The lab of the configuration with this name, or undefined. Names reach here from requests
 * (`POST /v1/labs {"lab": ...}`) and from workflow histories, so they are never used as a bare
 * object key: `config.labs["constructor"]` (or `__proto__`, `toString`) is a property of every
 * object and would pass for a lab. Only the configuration's own entries count.
 */
export function labNamed(config: Pick<Config, 'labs'>, name: string): LabConfig | undefined {
  return Object.hasOwn(config.labs, name) ? config.labs[name] : undefined;
}

/**
 * The policy a lab runs on, from the configuration: what the workflow reads each time it arms a
 * timer (activities/projection.ts currentPolicy) and what the API shows deadlines with.
 */
export function labPolicyOf(config: Config, name: string): LabPolicy | null {
  const lab = labNamed(config, name);
  if (!lab) return null;
  return {
    providers: lab.providers.map((p) => p.name),
    launchTimeout: lab.launchTimeout,
    idleTimeout: lab.idleTimeout,
    deleteAfter: lab.deleteAfter,
    maxLifetime: lab.maxLifetime ?? null,
    idleSlack: idleSlackFor(config.api.heartbeatFlush),
    refreshEvery: config.policyRefresh,
    pooled: lab.pool !== undefined,
    secretOutputs: lab.secretOutputs ?? [],
    events: {
      webhooks: config.webhooks
        .filter((hook) => hook.labs === null || hook.labs.includes(name))
        .map((hook) => ({ endpoint: hook.name, types: hook.events })),
      suspendWarning: lab.notifications.suspendWarning,
      deleteWarning: lab.notifications.deleteWarning,
    },
    usageLimited: mayLimit(config, name),
    hooks: {
      postResume: lab.hooks.postResume !== undefined,
      preSuspend: lab.hooks.preSuspend !== undefined,
      preDelete: lab.hooks.preDelete !== undefined,
      preDeleteResumes: lab.hooks.preDelete?.resumeSuspended ?? false,
    },
  };
}
