/**
 * `npm run reencrypt`: after a secrets-key rotation (a new key first in LABS_SECRETS_KEY), re-seal
 * every stored secret still under an older key, so that key can be removed. Safe to run while
 * the API and workers serve, and to run again. Exit code 1 when a secret could not be opened.
 */
import { ConfigError, environmentVariables, loadConfig, readEnvironment } from '../config';
import { SecretBox } from '../secrets/envelope';
import { reencryptSecrets } from '../secrets/reencrypt';
import { openStore } from '../store';

async function main(): Promise<number> {
  const env = readEnvironment();
  const config = loadConfig(env.configPath, environmentVariables());
  const mongoUri = config.mongodb?.uri ?? env.mongodbUri;
  if (!mongoUri)
    throw new ConfigError([
      { file: config.file, path: 'mongodb', message: 'needs a `mongodb` block (or MONGODB_URI)' },
    ]);
  if (env.secretsKeys.length === 0)
    throw new ConfigError([
      { file: '(environment)', path: 'LABS_SECRETS_KEY', message: 'is not set' },
    ]);
  const box = new SecretBox(env.secretsKeys);
  const store = await openStore(mongoUri);
  try {
    const counts = await reencryptSecrets(store.secrets, box);
    process.stdout.write(`${JSON.stringify({ currentKey: env.secretsKeys[0]!.id, ...counts })}\n`);
    return counts.unreadable > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `reencrypt: ${err instanceof ConfigError ? err.message : ((err as Error).stack ?? String(err))}\n`,
    );
    process.exitCode = 2;
  },
);
