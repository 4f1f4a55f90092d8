/**
 * Heartbeat throughput and latency against a running API (`npm start`), with N ready labs:
 *   LABS_CONFIG=bench/labs.yaml npm start          # in one terminal
 *   npx tsx bench/heartbeats-api.ts --labs 1000 --seconds 20 --concurrency 64
 * Tokens come from .data/local-secrets.json (what npm start generated) unless given.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { metric, percentile, request, requestPatiently, retried } from './http';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

async function main(): Promise<void> {
  const api = arg('api', 'http://127.0.0.1:8080');
  const secrets = JSON.parse(
    readFileSync(resolve(arg('data-dir', '.data'), 'local-secrets.json'), 'utf8'),
  ) as Record<string, string>;
  const service = arg('token', secrets.LABS_SERVICE_TOKENS!.split(',')[0]!);
  const admin = arg('admin-token', secrets.LABS_ADMIN_TOKENS!.split(',')[0]!);
  const labs = Number(arg('labs', '1000'));
  const seconds = Number(arg('seconds', '20'));
  const concurrency = Number(arg('concurrency', '64'));
  const run = arg('run', String(Date.now()));

  console.log(`launching ${labs} labs ...`);
  const started = Date.now();
  const launched: Array<{ id: string; token: string }> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < labs) {
        const i = next++;
        const answer = await requestPatiently(`${api}/v1/labs`, {
          method: 'POST',
          token: service,
          body: {
            courseId: 'course-v1:Bench+HB+2026',
            learnerId: `bench-${run}-${i}`,
            lab: 'demo',
          },
        });
        if (answer.status >= 300) throw new Error(`launch ${i}: ${answer.status} ${answer.body}`);
        const lab = JSON.parse(answer.body) as { id: string; heartbeatToken: string };
        launched.push({ id: lab.id, token: lab.heartbeatToken });
      }
    }),
  );
  console.log(
    `  launched in ${((Date.now() - started) / 1000).toFixed(1)} s (retried: ${JSON.stringify(retried)}); waiting for ready ...`,
  );
  // Each lab by id (FerretDB v1 answers `_id` lookups from its index, but scans for list filters).
  let pending = launched.map((l) => l.id);
  while (pending.length > 0) {
    const still: string[] = [];
    for (let i = 0; i < pending.length; i += 50) {
      const batch = pending.slice(i, i + 50);
      const states = await Promise.all(
        batch.map(
          async (id) =>
            (
              JSON.parse(
                (await requestPatiently(`${api}/v1/labs/${id}`, { token: admin })).body,
              ) as { state: string }
            ).state,
        ),
      );
      batch.forEach((id, k) => states[k] !== 'ready' && still.push(id));
    }
    pending = still;
    process.stdout.write(`\r  ready: ${labs - pending.length}/${labs}`);
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 2000));
  }
  console.log(`\n  all ${labs} ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const before = (await request(`${api}/metrics`)).body;
  const latencies: number[] = [];
  let errors = 0;
  const deadline = Date.now() + seconds * 1000;
  let cursor = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        const lab = launched[cursor++ % launched.length]!;
        const start = process.hrtime.bigint();
        const answer = await request(`${api}/v1/labs/${lab.id}/heartbeat`, {
          method: 'POST',
          token: lab.token,
        }).catch(() => undefined);
        latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
        if (answer?.status !== 204) errors++;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  await new Promise((r) => setTimeout(r, 6000)); // let the last coalesced flush happen before reading counters
  const after = (await request(`${api}/metrics`)).body;
  const delta = (name: string) => metric(after, name) - metric(before, name);
  latencies.sort((a, b) => a - b);
  const writes = delta('labs_api_heartbeat_writes_total');
  console.log(
    JSON.stringify(
      {
        labs,
        concurrency,
        seconds: Number(elapsed.toFixed(1)),
        heartbeats: latencies.length,
        errors,
        throughputPerSecond: Math.round(latencies.length / elapsed),
        p50ms: Number(percentile(latencies, 50).toFixed(2)),
        p99ms: Number(percentile(latencies, 99).toFixed(2)),
        maxMs: Number(latencies[latencies.length - 1]!.toFixed(2)),
        mongoActivityWrites: writes,
        mongoWritesPerSecond: Number((writes / elapsed).toFixed(1)),
        mongoFlushes: delta('labs_api_heartbeat_flushes_total'),
        mongoStateReads: delta('labs_api_heartbeat_state_reads_total'),
        temporalSignals: delta('labs_api_heartbeat_signals_total'),
      },
      null,
      2,
    ),
  );
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
