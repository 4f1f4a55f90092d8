/**
 * The heartbeat load, generated on a thread of its own: in the API's event loop the generator
 * took a share of the very loop it measures (the bench process runs the API). The thread's code
 * is plain JavaScript over node:http, so it needs no TypeScript loader.
 */
import { Worker } from 'node:worker_threads';

export interface HeartbeatLoad {
  apiUrl: string;
  labs: Array<{ id: string; token: string }>;
  seconds: number;
  concurrency: number;
}

export interface LoadResult {
  count: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
}

const THREAD = `
const http = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const { apiUrl, labs, seconds, concurrency } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const beat = (lab) => new Promise((resolve) => {
  const req = http.request(apiUrl + '/v1/labs/' + lab.id + '/heartbeat', {
    method: 'POST', agent, timeout: 30000, headers: { authorization: 'Bearer ' + lab.token },
  }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode === 204)); });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => resolve(false));
  req.end();
});
(async () => {
  const latencies = [];
  let errors = 0, cursor = 0;
  const deadline = Date.now() + seconds * 1000;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < deadline) {
      const lab = labs[cursor++ % labs.length];
      const start = process.hrtime.bigint();
      const ok = await beat(lab);
      latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
      if (!ok) errors++;
    }
  }));
  agent.destroy();
  parentPort.postMessage({ latencies, errors, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
})();
`;

export function heartbeatLoad(load: HeartbeatLoad): Promise<{
  latencies: number[];
  errors: number;
  seconds: number;
}> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(THREAD, { eval: true, workerData: load });
    worker.once('message', (result) => {
      resolve(result as { latencies: number[]; errors: number; seconds: number });
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}
