import { randomUUID } from 'node:crypto';

/** The servers global-setup started for this run. */
export function testServers(): { temporalAddress: string; mongoUri: string; workDir: string } {
  const temporalAddress = process.env.LABS_TEST_TEMPORAL_ADDRESS;
  const mongoUri = process.env.LABS_TEST_MONGODB_URI;
  const workDir = process.env.LABS_TEST_WORK_DIR;
  if (!temporalAddress || !mongoUri || !workDir)
    throw new Error('test servers not started: run the suites through jest (global-setup)');
  return { temporalAddress, mongoUri, workDir };
}

/** A database name no other suite uses, so suites running in parallel never see each other's data. */
export function uniqueDbName(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}
