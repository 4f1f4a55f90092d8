export * from './types';
export { ConfigError, type ConfigProblem } from './errors';
export { parseDuration, formatDuration, type Milliseconds } from '../../workflows/duration';
export { CHECKS_DIR, HOOKS_DIR, loadConfig, parseConfig, TEMPLATES_DIR } from './load';
export { labNamed, labPolicyOf } from './lookup';
export {
  readEnvironment,
  readLabctlEnvironment,
  type LabctlEnvironment,
  environmentVariables,
  parseSecretsKeys,
  DEFAULT_CONFIG,
  DEFAULT_DATA_DIR,
} from './env';
export { ensureLocalSecrets, type LocalSecrets } from './local-secrets';
