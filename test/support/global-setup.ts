import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMongoServer, type MongoServer } from '../../src/local/mongo-server';
import {
  startTemporalDevServer,
  type TemporalDevServer,
} from '../../src/local/temporal-dev-server';
import { readTools } from '../../src/local/tools';

/**
 * Starts one Temporal dev server and one MongoDB-compatible server for the whole run, on free
 * 127.0.0.1 ports; suites find them through the environment (see servers.ts).
 */
export default async function globalSetup(): Promise<void> {
  const tools = readTools();
  const workDir = mkdtempSync(join(tmpdir(), 'labs-test-'));
  const started = Date.now();
  const [temporal, mongo] = await Promise.all([
    startTemporalDevServer({ cli: tools.temporalCli, logDir: workDir, headless: true }),
    process.env.MONGODB_URI
      ? Promise.resolve(undefined)
      : startMongoServer({ tools, dataDir: join(workDir, 'mongo'), logDir: workDir }),
  ]);
  process.env.LABS_TEST_TEMPORAL_ADDRESS = temporal.address;
  process.env.LABS_TEST_MONGODB_URI = mongo?.uri ?? process.env.MONGODB_URI;
  process.env.LABS_TEST_WORK_DIR = workDir;
  (globalThis as { __labsServers?: Array<TemporalDevServer | MongoServer> }).__labsServers = [
    temporal,
    ...(mongo ? [mongo] : []),
  ];
  console.log(
    `\n[test] Temporal ${temporal.address}, ${mongo ? `${mongo.kind}${mongo.backend ? ` (${mongo.backend})` : ''} ${mongo.uri}` : 'MONGODB_URI'}; logs in ${workDir} (${Date.now() - started} ms)${mongo?.fallback ? `\n[test] FerretDB on SQLite: ${mongo.fallback}` : ''}`,
  );
}
