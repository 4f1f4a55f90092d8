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
