import SwaggerParser from '@apidevtools/swagger-parser';
import { Client } from '@temporalio/client';
import { connectTemporal } from '../../src/temporal/connection';
import { openStore } from '../../src/store';
import { testServers, uniqueDbName } from '../support/servers';
import { startLabEnv, type LabEnv } from '../support/lab-env';
import { SERVICE_TOKEN, startApiEnv, type ApiEnv } from './api-env';
import axios from 'axios';
import { createApp } from '../../src/api/app';
import { createLogger } from '../../src/log';
import { testEnvironment } from './api-env';
import type { AddressInfo } from 'node:net';

describe('operations: OpenAPI, metrics, dependencies down', () => {
  let lab: LabEnv;
  let t: ApiEnv;
  beforeAll(async () => {
    lab = await startLabEnv();
    t = await startApiEnv({}, {}, lab);
  });
  afterAll(async () => {
    await t.close();
    await lab.close();
  });

  it('serves a valid OpenAPI 3.1 document of exactly the mounted routes', async () => {
    const res = await t.http.get('/openapi.json');
    expect(res.status).toBe(200);
    const document = res.data as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(document.openapi).toBe('3.1.0');
    await SwaggerParser.validate(structuredClone(document) as never);

    const documented = Object.entries(document.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const mounted = t.api.router.stack.flatMap((layer) =>
      layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${layer.path}`),
    );
    expect([...documented].sort()).toEqual([...mounted].sort());
    // Every route of DESIGN's table.
    expect([...documented].sort()).toEqual(
      [
        'POST /v1/labs',
        'GET /v1/labs',
        'GET /v1/labs/:id',
        'DELETE /v1/labs/:id',
        'POST /v1/labs/:id/heartbeat',
        'POST /v1/labs/:id/reset',
        'POST /v1/labs/:id/suspend',
        'POST /v1/labs/:id/retry',
        'GET /v1/labs/:id/connection',
        'GET /v1/labs/:id/events',
        'POST /v1/labs/:id/terminal-token',
        'GET /v1/labs/:id/terminal',
        'POST /v1/labs/:id/checks',
        'GET /v1/labs/:id/checks',
        'GET /v1/labs/:id/checks/:checkId',
        'GET /v1/providers',
        'GET /v1/pools',
        'GET /v1/webhooks/deliveries',
        'POST /v1/usage/grants',
        'GET /v1/usage/grants',
        'POST /v1/usage/rebuild',
        'GET /v1/reports/usage',
        'GET /v1/catalog',
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'GET /openapi.json',
      ].sort(),
    );
    const launch = document.paths['/v1/labs']!.post!;
    expect(Object.keys(launch.responses).sort()).toEqual(
      ['200', '202', '400', '401', '403', '413', '415', '422', '429', '503'].sort(),
    );
  });

  it('exports Prometheus metrics: requests by route, labs by state, heartbeat figures', async () => {
    await t.service.get('/v1/catalog');
    const text = (await t.http.get<string>('/metrics', { responseType: 'text' })).data;
    expect(text).toMatch(
      /labs_api_requests_total\{route="\/v1\/catalog",method="GET",status="200"\} 1/,
    );
    expect(text).toContain('labs_api_request_duration_seconds_bucket');
    expect(text).toMatch(/labs_by_state\{state="ready"\} \d+/);
    for (const name of [
      'labs_api_heartbeats_received_total',
      'labs_api_heartbeat_writes_total',
      'labs_api_heartbeat_signals_total',
      'labs_api_dependency_errors_total',
    ])
      expect(text).toContain(`# TYPE ${name} counter`);
  });

  it('answers 503 (never hangs) when Mongo or Temporal is down or no worker answers', async () => {
    const servers = testServers();
    const closedStore = await openStore(servers.mongoUri, { dbName: uniqueDbName('down') });
    await closedStore.close();
    const deadConnection = await connectTemporal('127.0.0.1:1', { lazy: true });
    const down = createApp(
      {
        config: lab.config,
        env: testEnvironment(),
        store: closedStore,
        temporal: {
          client: new Client({ connection: deadConnection.connection }),
          taskQueue: 'nobody',
        },
        logger: createLogger('silent', 'api-test'),
      },
      { deadlines: { mongoMs: 1_000, temporalMs: 1_000 } },
    );
    const server = down.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const http = axios.create({
      baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      validateStatus: () => true,
      headers: { Authorization: `Bearer ${SERVICE_TOKEN}` },
      timeout: 10_000,
    });
    try {
      const id = `lab_${'d'.repeat(26)}`;
      const launch = { courseId: 'course-v1:Org+Down+2026', learnerId: 'anon', lab: 'demo' };
      const answers = {
        get: (await http.get(`/v1/labs/${id}`)).status,
        heartbeat: (await http.post(`/v1/labs/${id}/heartbeat`)).status,
        launch: (await http.post('/v1/labs', launch)).status,
        readyz: (await http.get('/readyz')).status,
      };
      expect(answers).toEqual({ get: 503, heartbeat: 503, launch: 503, readyz: 503 });

      // Temporal up, no worker on the task queue: a launch needs none (Temporal takes the
      // workflow's start at once: 202 queued), but an action is an update its validator must
      // accept, which never happens: 503 within the API's Temporal deadline.
      const noWorker = await startApiEnv({}, { deadlines: { temporalMs: 1_000 } }, lab);
      try {
        const launched = await noWorker.service.post<{ id: string; state: string }>(
          '/v1/labs',
          launch,
        );
        expect([launched.status, launched.data.state]).toEqual([202, 'queued']);
        const started = Date.now();
        const res = await noWorker.service.post(`/v1/labs/${launched.data.id}/suspend`);
        expect(res.status).toBe(503);
        expect(res.data.error.message).toContain('temporal');
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        await noWorker.close();
      }
    } finally {
      server.close();
      await down.close();
      await deadConnection.close();
    }
  });
});
