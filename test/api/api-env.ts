import axios, { type AxiosInstance } from 'axios';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type ApiOptions, type LabsApi } from '../../src/api/app';
import type { Config, Environment } from '../../src/config';
import { SECRETS_KEY, startLabEnv, type LabEnv } from '../support/lab-env';

export const SERVICE_TOKEN = 'svc-test-token-0123456789';
export const ADMIN_TOKEN = 'adm-test-token-0123456789';

export const testEnvironment = (): Environment => ({
  configPath: 'test-labs.yaml',
  serviceTokens: [SERVICE_TOKEN],
  adminTokens: [ADMIN_TOKEN],
  secretsKeys: [SECRETS_KEY],
  dataDir: '/tmp',
  logLevel: 'silent',
});

export interface ApiEnv {
  lab: LabEnv;
  api: LabsApi;
  url: string;
  /** Never throws on a status: tests look at every answer. */
  http: AxiosInstance;
  as(token: string | null): AxiosInstance;
  service: AxiosInstance;
  admin: AxiosInstance;
  close(): Promise<void>;
}

/** Serves the real app on 127.0.0.1:0 over a lab env (emulator, Mongo, Temporal, worker). */
export async function startApiEnv(
  labOptions: Parameters<typeof startLabEnv>[0] = {},
  apiOptions: ApiOptions = {},
  existing?: LabEnv,
  /** 0: any free port; a fixed one lets a test stop the API and serve it again at the same URL. */
  port = 0,
  /** Fields of the configuration's `api` block for this API only (the worker keeps the lab env's). */
  apiConfig: Partial<Config['api']> = {},
): Promise<ApiEnv> {
  const lab = existing ?? (await startLabEnv(labOptions));
  const api = createApp(
    {
      config: { ...lab.config, api: { ...lab.config.api, ...apiConfig } },
      env: testEnvironment(),
      store: lab.store,
      temporal: { client: lab.client, taskQueue: lab.taskQueue },
      logger: lab.logger.child({ role: 'api' }),
    },
    apiOptions,
  );
  const server: Server = await new Promise((resolve) => {
    const s = api.app.listen(port, '127.0.0.1', () => resolve(s));
    api.attach(s);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const as = (token: string | null) =>
    axios.create({
      baseURL: url,
      validateStatus: () => true,
      headers: token ? { Authorization: `Bearer ${token}` } : {},
    });
  return {
    lab,
    api,
    url,
    http: as(null),
    as,
    service: as(SERVICE_TOKEN),
    admin: as(ADMIN_TOKEN),
    async close() {
      api.endLongPolls();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await api.close();
      if (!existing) await lab.close();
    },
  };
}

/** Sum of one metric's samples (all its labelled series) in the API's Prometheus text. */
export async function metricSum(t: ApiEnv, name: string): Promise<number> {
  const text = (await t.http.get<string>('/metrics', { responseType: 'text' })).data;
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

export { eventually } from '../support/wait';
