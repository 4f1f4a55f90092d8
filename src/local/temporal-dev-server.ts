import { Connection } from '@temporalio/client';
import { join } from 'node:path';
import { LAB_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { freePort, startChild, waitUntil, type ChildServer } from './child';

export interface TemporalDevServer extends ChildServer {
  address: string;
  uiUrl?: string;
}

/**
 * Starts `temporal server start-dev` on 127.0.0.1 with the lab search attributes registered.
 * With `dbFile` the server keeps its data across restarts; without, it is in memory.
 */
export async function startTemporalDevServer(options: {
  cli: string;
  logDir: string;
  port?: number;
  uiPort?: number;
  headless?: boolean;
  dbFile?: string;
}): Promise<TemporalDevServer> {
  const port = options.port ?? (await freePort());
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--log-level',
    'warn',
    '--namespace',
    'default',
  ];
  const uiPort = options.headless ? undefined : (options.uiPort ?? (await freePort()));
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(uiPort), '--ui-ip', '127.0.0.1');
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  // The dev server picks its own metrics port; pin it to a free one so two servers never collide.
  args.push('--metrics-port', String(await freePort()));
  for (const key of LAB_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=Keyword`);
  // Heartbeat-rate workloads poll many task queues; keep the dev server's rate limits out of the way.
  args.push(
    '--dynamic-config-value',
    'frontend.rps=10000',
    '--dynamic-config-value',
    'frontend.namespaceRPS=10000',
  );

  const child = startChild('temporal', options.cli, args, {
    logFile: join(options.logDir, 'temporal.log'),
  });
  const address = `127.0.0.1:${port}`;
  try {
    await waitUntil(
      `Temporal dev server at ${address} (log: ${join(options.logDir, 'temporal.log')})`,
      async () => {
        const connection = await Connection.connect({ address, connectTimeout: 1000 });
        try {
          await connection.workflowService.getSystemInfo({});
          return true;
        } finally {
          await connection.close();
        }
      },
      60_000,
      child.exited,
    );
  } catch (err) {
    await child.stop();
    throw err;
  }
  return {
    ...child,
    address,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
  };
}
