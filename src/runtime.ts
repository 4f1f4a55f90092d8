import { Client } from '@temporalio/client';
import { NativeConnection, type WorkerOptions } from '@temporalio/worker';
import type { Server } from 'node:http';
import { createApp, type ApiOptions } from './api/app';
import type { Config, Environment } from './config';
import type { Logger } from './log';
import { createHeatClient, type HeatClient } from './openstack';
import { SecretBox } from './secrets/envelope';
import { DEFAULT_CLIENT_WATCH, openStore, type Store } from './store';
import { connectTemporal } from './temporal/connection';
import { ensureMaintenanceWorkflow } from './temporal/maintenance';
import { ensurePoolWorkflows } from './temporal/pools';
import { assembleLabWorker } from './temporal/worker';

export interface Endpoints {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  mongoUri: string;
}

export interface Runtime {
  store: Store;
  client: Client;
  /** Where the API listens, when this process serves it. */
  apiUrl?: string;
  /** When this process runs the worker: its state, and its run, which settles when it stops. */
  worker?: { state(): string; done: Promise<void> };
  close(): Promise<void>;
}

/**
 * Brings up the product's own parts (API and/or worker) against running Temporal, Mongo and
 * OpenStack endpoints. `npm start` runs both roles in one process; compose runs one each.
 */
export async function startRuntime(options: {
  config: Config;
  env: Environment;
  endpoints: Endpoints;
  logger: Logger;
  roles: { api: boolean; worker: boolean };
  workflowBundle?: WorkerOptions['workflowBundle'];
  heat?: (provider: string) => HeatClient;
  /** API tuning (rate limit, deadlines); benchmarks raise the per-token rate limit. */
  apiOptions?: ApiOptions;
}): Promise<Runtime> {
  const { config, env, endpoints, logger } = options;
  const store = await openStore(endpoints.mongoUri, {
    watch: {
      ...DEFAULT_CLIENT_WATCH,
      onReplaced: (reason) =>
        logger.warn(
          { reason },
          'replaced a MongoDB client that stopped reaching the server while a new one reached it',
        ),
    },
  });
  const temporal = await connectTemporal(endpoints.temporalAddress);
  const client = new Client({ connection: temporal.connection, namespace: endpoints.namespace });
  const closers: Array<() => Promise<void>> = [() => store.close(), () => temporal.close()];

  let running: Promise<void> | undefined;
  let workerHandle: Runtime['worker'];
  if (options.roles.worker) {
    const heatClients = new Map<string, HeatClient>();
    const heat =
      options.heat ??
      ((name: string) => {
        let c = heatClients.get(name);
        if (!c) {
          const provider = config.providers.find((p) => p.name === name);
          if (!provider) throw new Error(`unknown provider ${name}`);
          c = createHeatClient(provider);
          heatClients.set(name, c);
        }
        return c;
      });
    const workerConnection = await NativeConnection.connect({ address: endpoints.temporalAddress });
    const worker = await assembleLabWorker({
      connection: workerConnection,
      client,
      namespace: endpoints.namespace,
      taskQueue: endpoints.taskQueue,
      deps: {
        config,
        store,
        heat,
        secretBox: new SecretBox(env.secretsKeys),
        logger: logger.child({ role: 'activities' }),
      },
      workflowBundle: options.workflowBundle,
      maxCachedWorkflows: config.worker.maxCachedWorkflows,
    });
    const run = worker.run();
    running = run;
    await ensurePoolWorkflows(client, endpoints.taskQueue, config);
    await ensureMaintenanceWorkflow(client, endpoints.taskQueue);
    workerHandle = { state: () => worker.getState(), done: running };
    closers.unshift(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await run;
      await workerConnection.close();
    });
  }

  let apiUrl: string | undefined;
  if (options.roles.api) {
    const api = createApp(
      {
        config,
        env,
        store,
        temporal: { client, taskQueue: endpoints.taskQueue },
        logger: logger.child({ role: 'api' }),
      },
      options.apiOptions,
    );
    // Runs after the server stops taking requests and before the store closes (closers run in
    // order): the last coalesced heartbeats reach Mongo.
    closers.unshift(() => api.close());
    const server: Server = await new Promise((resolve, reject) => {
      const s = api.app.listen(config.api.port, config.api.host, () => resolve(s));
      api.attach(s);
      s.once('error', reject);
    });
    const address = server.address();
    apiUrl = `http://${config.api.host}:${typeof address === 'object' && address ? address.port : config.api.port}`;
    closers.unshift(() => {
      // Long-polls answer now instead of holding the server open for up to a minute.
      api.endLongPolls();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    server.closeIdleConnections?.();
  }

  return {
    store,
    client,
    apiUrl,
    worker: workerHandle,
    async close() {
      for (const close of closers)
        await close().catch((err: Error) =>
          logger.warn({ err: err.message }, 'error while stopping'),
        );
    },
  };
}
