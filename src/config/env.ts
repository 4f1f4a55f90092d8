import { resolve } from 'node:path';
import { ConfigError, type ConfigProblem } from './errors';
import type { Environment, SecretsKey } from './types';

export const DEFAULT_CONFIG = resolve(__dirname, '../../config/example.yaml');
export const DEFAULT_DATA_DIR = resolve(__dirname, '../../.data');

type EnvLookup = Record<string, string | undefined>;

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

/** `keyId:base64-of-32-bytes`, comma-separated: the first encrypts, all decrypt. */
export function parseSecretsKeys(
  value: string | undefined,
  problems: ConfigProblem[],
): SecretsKey[] {
  const keys: SecretsKey[] = [];
  list(value).forEach((entry, i) => {
    const at = `LABS_SECRETS_KEY[${i}]`;
    const sep = entry.indexOf(':');
    const id = sep > 0 ? entry.slice(0, sep) : '';
    const key = Buffer.from(sep > 0 ? entry.slice(sep + 1) : '', 'base64');
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      problems.push({
        file: '(environment)',
        path: at,
        message: 'must be keyId:base64 with a key id of letters, digits, "_" or "-"',
      });
    } else if (key.length !== 32) {
      problems.push({
        file: '(environment)',
        path: at,
        message: `key "${id}" must be 32 bytes in base64 (got ${key.length})`,
      });
    } else if (keys.some((k) => k.id === id)) {
      problems.push({ file: '(environment)', path: at, message: `key id "${id}" appears twice` });
    } else {
      keys.push({ id, key });
    }
  });
  return keys;
}

/** The only reader of process.env in the product: everything else receives these values. */
export function readEnvironment(env: EnvLookup = process.env): Environment {
  const problems: ConfigProblem[] = [];
  const secretsKeys = parseSecretsKeys(env.LABS_SECRETS_KEY, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    configPath: resolve(env.LABS_CONFIG || DEFAULT_CONFIG),
    serviceTokens: list(env.LABS_SERVICE_TOKENS),
    adminTokens: list(env.LABS_ADMIN_TOKENS),
    secretsKeys,
    mongodbUri: env.MONGODB_URI || undefined,
    dataDir: resolve(env.LABS_DATA_DIR || DEFAULT_DATA_DIR),
    logLevel: env.LOG_LEVEL || 'info',
    workerHealthFile: env.LABS_WORKER_HEALTH_FILE || undefined,
  };
}

/** What labctl needs: where the API is, the admin token, and where Temporal UI is for links. */
export interface LabctlEnvironment {
  apiUrl: string;
  token: string | undefined;
  temporalUi: string;
  namespace: string;
}

export function readLabctlEnvironment(env: EnvLookup = process.env): LabctlEnvironment {
  return {
    apiUrl: env.LABCTL_URL || 'http://127.0.0.1:8080',
    token: env.LABCTL_TOKEN || undefined,
    temporalUi: env.LABCTL_TEMPORAL_UI || 'http://127.0.0.1:8233',
    namespace: env.LABCTL_TEMPORAL_NAMESPACE || 'default',
  };
}

/** Provider passwords are named by the config (passwordEnv/secretEnv) and looked up here. */
export function environmentVariables(env: EnvLookup = process.env): EnvLookup {
  return { ...env };
}
