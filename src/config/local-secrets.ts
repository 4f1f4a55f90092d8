import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type EnvLookup = Record<string, string | undefined>;

/** Secrets `npm start` generates when the environment lacks them, kept so a restart keeps every lab usable. */
const GENERATED: Record<string, () => string> = {
  LABS_SERVICE_TOKENS: () => `svc_${randomBytes(24).toString('base64url')}`,
  LABS_ADMIN_TOKENS: () => `adm_${randomBytes(24).toString('base64url')}`,
  LABS_SECRETS_KEY: () => `local1:${randomBytes(32).toString('base64')}`,
  LABS_EMULATOR_PASSWORD: () => randomBytes(18).toString('base64url'),
};

export interface LocalSecrets {
  /** The environment with the missing values filled in. */
  env: EnvLookup;
  /** Names whose values came from (or were just written to) the local file. */
  generated: string[];
  file: string;
}

/**
 * For local runs only: values set in the environment win; missing ones are read from
 * `<dataDir>/local-secrets.json`, or generated and written there (mode 0600).
 */
export function ensureLocalSecrets(dataDir: string, env: EnvLookup): LocalSecrets {
  const file = join(dataDir, 'local-secrets.json');
  const stored: Record<string, string> = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)
    : {};
  const generated: string[] = [];
  let changed = false;
  const merged: EnvLookup = { ...env };
  for (const [name, make] of Object.entries(GENERATED)) {
    if (env[name]) continue;
    if (!stored[name]) {
      stored[name] = make();
      changed = true;
    }
    merged[name] = stored[name];
    generated.push(name);
  }
  if (changed) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 });
  }
  return { env: merged, generated, file };
}
