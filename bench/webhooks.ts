/**
 * Lifecycle webhooks under a suspend wave (issue 19): N idle labs reach their suspend deadlines
 * close together. Half are of a lab a webhook endpoint subscribes to (lab.suspend_warning,
 * lab.suspended); the other half are of an identical lab that no endpoint subscribes to. They
 * are the baseline, measured in the same wave under the same load. The endpoint is a loopback
 * receiver in this process that verifies every signature. Figures: the deliveries received,
 * their lag (arrival minus the event's occurredAt), and how late each lab's `suspended`
 * transition came after its deadline, subscribed labs against the baseline: what delivering
 * the events costs the suspends.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import type { LabView } from '../src/api/labs/schema';
import { labPolicyOf, parseConfig, type Config, type Environment } from '../src/config';
import { startEmulator } from '../src/emulator';
import { startMongoServer, type MongoServer } from '../src/local/mongo-server';
import { startTemporalDevServer } from '../src/local/temporal-dev-server';
import { readTools } from '../src/local/tools';
import { createLogger } from '../src/log';
import { startRuntime } from '../src/runtime';
import type { DeliveryState } from '../src/store';
import { withDeadline } from '../src/util/deadline';
import type { LabEvent } from '../workflows/events';
import { labDeadlines } from '../workflows/policy';
import { COURSE, countStates, ferretRate, launchLabs, type BenchEnv } from './env';
import { percentile, request } from './http';
import { reportEvery, sleep } from './progress';
import { fmt, row, type Row } from './report';
import { startWorkerProcess } from './worker-process';

export interface WebhooksScale {
  /** Labs launched: half of the subscribed lab, half of the baseline lab. */
  labs: number;
  /** Launches in flight at once, for each of the two labs. */
  concurrency: number;
  /** Both labs' idleTimeout: longer than the launches take, so the wave follows them. */
  idleTimeout: string;
  /** Both labs' notifications.suspendWarning (only the subscribed lab's is sent). */
  suspendWarning: string;
  /** How long after the launches (plus idleTimeout) the wave and its deliveries may take. */
  graceMs: number;
}

const NAME = 'webhooks';
const SUBSCRIBED = 'subscribed';
const BASELINE = 'baseline';
const ENDPOINT = 'course-team';
const SECRET_ENV = 'BENCH_WEBHOOK_SECRET';
const EMULATOR_PASSWORD = 'bench';
const TASK_QUEUE = 'labs-bench';

/** One request to the receiver; `event` is null when its body was not an event. */
interface Arrival {
  id: string;
  arrivedAt: number;
  verified: boolean;
  event: LabEvent | null;
}

interface Receiver {
  url: string;
  arrivals: Arrival[];
  close(): Promise<void>;
}

/** A course team's endpoint on loopback: stamps each request's arrival, checks it, answers 200. */
async function startReceiver(secret: string): Promise<Receiver> {
  const verifier = new Webhook(secret);
  const arrivals: Arrival[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrivedAt = Date.now();
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => String(req.headers[name] ?? '');
      const headers = {
        'webhook-id': header('webhook-id'),
        'webhook-timestamp': header('webhook-timestamp'),
        'webhook-signature': header('webhook-signature'),
      };
      let verified = true;
      try {
        verifier.verify(body, headers);
      } catch {
        verified = false;
      }
      let event: LabEvent | null = null;
      try {
        event = JSON.parse(body) as LabEvent;
      } catch {
        // counted as a request whose event is unreadable
      }
      arrivals.push({ id: headers['webhook-id'], arrivedAt, verified, event });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/labs`,
    arrivals,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface WebhooksEnv extends BenchEnv {
  receiver: Receiver;
}

function isWebhooksEnv(env: BenchEnv): env is WebhooksEnv {
  return 'receiver' in env;
}

/** The two labs are the same but for their names; only the first has an endpoint. */
function configYaml(
  at: { temporalAddress: string; mongoUri: string; authUrl: string; receiverUrl: string },
  scale: WebhooksScale,
): string {
  const lab = (name: string) => `  ${name}:
    template: test/secret-lab.yaml
    parameters: { create_wait_secs: 0 }
    providers: [local]
    connection: { protocol: ssh, hostOutput: public_ip, port: 22, username: learner }
    secretOutputs: [password]
    launchTimeout: 10m
    idleTimeout: ${scale.idleTimeout}
    notifications: { suspendWarning: ${scale.suspendWarning}, deleteWarning: "off" }
`;
  return `
temporal: { address: "${at.temporalAddress}", namespace: default, taskQueue: ${TASK_QUEUE} }
mongodb: { uri: "${at.mongoUri}" }
api: { host: 127.0.0.1, port: 0 }
providers:
  - name: local
    auth: { authUrl: "${at.authUrl}", username: labs, passwordEnv: BENCH_EMULATOR_PASSWORD, projectName: labs, userDomainName: Default, projectDomainName: Default }
    region: RegionOne
    capacity: -1
webhooks:
  - name: ${ENDPOINT}
    url: "${at.receiverUrl}"
    secretEnv: ${SECRET_ENV}
    events: [lab.suspend_warning, lab.suspended]
    labs: [${SUBSCRIBED}]
labs:
${lab(SUBSCRIBED)}${lab(BASELINE)}`;
}

/**
 * The bench's own environment, built as env.ts's startBenchEnv builds one with `workerProcess`
 * (its Temporal, Mongo, emulator, the worker in a child process, the API here). It is copied
 * here because the receiver's URL and secret must go into the configuration, and
 * BenchEnvOptions has no way to add a webhook or a lab. A server that has started is stopped
 * again if a later one fails to start.
 */
export async function startWebhooksEnv(scale: WebhooksScale): Promise<WebhooksEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'labs-bench-webhooks-'));
  const started: Array<{ what: string; ms: number; stop: () => Promise<unknown> }> = [];
  const close = async () => {
    // Each step has a deadline: a wedged FerretDB must not hold the run (see env.ts).
    for (const { what, ms, stop } of started.reverse())
      await withDeadline(`closing ${what}`, ms, stop).catch((err: Error) =>
        console.error(`${err.message}; moving on`),
      );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const receiver = await startReceiver(secret);
    started.push({ what: 'the webhook receiver', ms: 5_000, stop: () => receiver.close() });
    const tools = readTools();
    const temporal = await startTemporalDevServer({
      cli: tools.temporalCli,
      logDir: dir,
      headless: true,
    });
    started.push({ what: 'the Temporal dev server', ms: 30_000, stop: () => temporal.stop() });
    let mongo: MongoServer | undefined;
    let mongoUri: string;
    const external = process.env.MONGODB_URI;
    if (external) {
      const url = new URL(external.replace(/^mongodb:/, 'http:'));
      url.pathname = `/labs_bench_${Date.now()}`;
      mongoUri = url.toString().replace(/^http:/, 'mongodb:');
    } else {
      const server = await startMongoServer({ tools, dataDir: join(dir, 'mongo'), logDir: dir });
      started.push({ what: 'the Mongo server', ms: 30_000, stop: () => server.stop() });
      mongo = server;
      mongoUri = `${server.uri}labs_bench`;
    }
    const emulator = await startEmulator({
      createDelayMs: 50,
      actionDelayMs: 50,
      deleteDelayMs: 50,
    });
    started.push({ what: 'the emulator', ms: 10_000, stop: () => emulator.close() });
    const configPath = join(dir, 'bench-webhooks.yaml');
    writeFileSync(
      configPath,
      configYaml(
        {
          temporalAddress: temporal.address,
          mongoUri,
          authUrl: emulator.authUrl,
          receiverUrl: receiver.url,
        },
        scale,
      ),
    );
    const config: Config = parseConfig(readFileSync(configPath, 'utf8'), configPath, {
      BENCH_EMULATOR_PASSWORD: EMULATOR_PASSWORD,
      [SECRET_ENV]: secret,
    });
    const serviceToken = randomBytes(24).toString('base64url');
    const adminToken = randomBytes(24).toString('base64url');
    const secretsKey = { id: 'bench', key: randomBytes(32) };
    const worker = await startWorkerProcess({
      configPath,
      logDir: dir,
      env: {
        BENCH_EMULATOR_PASSWORD: EMULATOR_PASSWORD,
        [SECRET_ENV]: secret,
        LABS_SECRETS_KEY: `${secretsKey.id}:${secretsKey.key.toString('base64')}`,
        LABS_DATA_DIR: dir,
        LOG_LEVEL: 'warn',
      },
    });
    started.push({ what: 'the worker process', ms: 30_000, stop: () => worker.stop() });
    const environment: Environment = {
      configPath,
      serviceTokens: [serviceToken],
      adminTokens: [adminToken],
      secretsKeys: [secretsKey],
      dataDir: dir,
      logLevel: 'silent',
    };
    const runtime = await startRuntime({
      config,
      env: environment,
      endpoints: {
        temporalAddress: temporal.address,
        namespace: 'default',
        taskQueue: TASK_QUEUE,
        mongoUri,
      },
      logger: createLogger('silent', 'bench'),
      roles: { api: true, worker: false },
      // A class's launches all come through one service token (see env.ts).
      apiOptions: { rateLimit: { perSecond: 1_000_000, burst: 1_000_000 } },
    });
    started.push({ what: 'the API', ms: 20_000, stop: () => runtime.close() });
    let ferretMetricsUrl: string | undefined;
    if (mongo?.kind === 'ferretdb') {
      const cmdline = readFileSync(`/proc/${mongo.pid}/cmdline`, 'utf8').split('\0');
      const debug = cmdline.find((a) => a.startsWith('--debug-addr='));
      if (debug) ferretMetricsUrl = `http://${debug.slice('--debug-addr='.length)}/debug/metrics`;
    }
    return {
      apiUrl: runtime.apiUrl!,
      serviceToken,
      adminToken,
      runtime,
      emulator,
      config,
      mongoKind: mongo?.kind ?? 'MONGODB_URI',
      temporal,
      mongo,
      worker,
      ferretMetricsUrl,
      receiver,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** One lab after the wave, from GET /v1/labs: its suspend deadline and when it was suspended. */
interface Outcome {
  id: string;
  state: string;
  deadline: number | null;
  suspendedAt: number | null;
}

export async function benchWebhooks(
  env: BenchEnv,
  scale: WebhooksScale,
): Promise<{ rows: Row[]; details: Record<string, unknown> }> {
  if (!isWebhooksEnv(env)) throw new Error('the webhooks bench runs in startWebhooksEnv');
  const { receiver } = env;
  const perLab = Math.floor(scale.labs / 2);
  const expected = 2 * perLab; // a suspend warning and a suspend per subscribed lab
  const run = Date.now().toString(36);
  const ferret = ferretRate(env);
  const states = async () =>
    Object.entries(await countStates(env))
      .map(([state, n]) => `${state} ${n}`)
      .join(', ') || 'no labs';
  const received = () => new Set(receiver.arrivals.map((a) => a.id)).size;

  // Both labs launched side by side, so their deadlines interleave over the same seconds.
  console.log(`[${NAME}] launching ${perLab} ${SUBSCRIBED} and ${perLab} ${BASELINE} labs ...`);
  let answered = 0;
  const t0 = Date.now();
  const launching = reportEvery(
    NAME,
    10_000,
    async () => `launching: ${answered}/${2 * perLab} answered; ${await states()}${await ferret()}`,
  );
  const [subscribed, baseline] = await Promise.all(
    [SUBSCRIBED, BASELINE].map((lab) =>
      launchLabs(
        env,
        Array.from({ length: perLab }, (_, i) => `hooks-${run}-${lab}-${i}`),
        scale.concurrency,
        { lab, patient: true, onAnswer: () => answered++ },
      ),
    ),
  ).finally(() => launching.stop());
  const launched = { subscribed: subscribed!, baseline: baseline! };
  const launchSeconds = (Date.now() - t0) / 1000;
  const total = launched.subscribed.labs.length + launched.baseline.labs.length;
  console.log(
    `[${NAME}] ${total}/${2 * perLab} launches accepted in ${fmt(launchSeconds, 1)} s (${fmt(total / launchSeconds, 1)}/s); the labs go idle`,
  );

  const policy = labPolicyOf(env.config, SUBSCRIBED)!;
  const waitUntil = Date.now() + policy.idleTimeout + policy.idleSlack + scale.graceMs;
  const waiting = reportEvery(
    NAME,
    10_000,
    async () =>
      `${await states()}; deliveries received ${received()}/${expected}, pending ${await pendingDeliveries(env)}${await ferret()}`,
  );
  try {
    for (;;) {
      const suspended = await countStates(env, ['suspended']).then(
        (counts) => counts.suspended ?? 0,
        () => 0,
      );
      if (suspended >= total && received() >= expected) break;
      if (Date.now() > waitUntil) {
        console.log(`[${NAME}] waited long enough: ${suspended}/${total} labs suspended`);
        break;
      }
      await sleep(2000);
    }
  } finally {
    waiting.stop();
  }

  const outcomes = {
    subscribed: await outcomesOf(env, SUBSCRIBED, launched.subscribed.labs),
    baseline: await outcomesOf(env, BASELINE, launched.baseline.labs),
  };
  const recorded = await recordedDeliveries(
    env,
    launched.subscribed.labs.map((l) => l.id),
  );
  const result = rowsOf({
    scale,
    perLab,
    expected,
    launchSeconds,
    launched,
    outcomes,
    recorded,
    receiver,
  });
  console.log(`[${NAME}] ${result.summary}`);
  return { rows: result.rows, details: result.details };
}

/** Deliveries waiting for an attempt, as staff see them (the API lists at most 500). */
async function pendingDeliveries(env: BenchEnv): Promise<string> {
  const answer = await request(`${env.apiUrl}/v1/webhooks/deliveries?state=pending&limit=500`, {
    token: env.adminToken,
  });
  if (answer.status !== 200) return `? (${answer.status})`;
  const n = (JSON.parse(answer.body) as { deliveries: unknown[] }).deliveries.length;
  return n >= 500 ? '500+' : String(n);
}

/** The lab's state, the deadline it was suspended against and when, from GET /v1/labs. */
async function outcomesOf(
  env: BenchEnv,
  lab: string,
  labs: Array<{ id: string }>,
): Promise<Outcome[]> {
  const policy = labPolicyOf(env.config, lab)!;
  const views = new Map<string, LabView>();
  let cursor: string | null = null;
  do {
    const query = `courseId=${encodeURIComponent(COURSE)}&lab=${lab}&limit=500${cursor ? `&cursor=${cursor}` : ''}`;
    const answer = await request(`${env.apiUrl}/v1/labs?${query}`, {
      token: env.adminToken,
      timeoutMs: 60_000,
    });
    if (answer.status !== 200) throw new Error(`GET /v1/labs: ${answer.status} ${answer.body}`);
    const page = JSON.parse(answer.body) as { labs: LabView[]; nextCursor: string | null };
    for (const view of page.labs) views.set(view.id, view);
    cursor = page.nextCursor;
  } while (cursor);
  return labs.map(({ id }) => {
    const view = views.get(id);
    if (!view) return { id, state: 'not listed', deadline: null, suspendedAt: null };
    // The workflow's own rule: idleTimeout + idleSlack after the last activity (its readiness).
    const lastActivityAt = view.lastActivityAt ? Date.parse(view.lastActivityAt) : null;
    const deadline = labDeadlines(
      { lastActivityAt, suspendedAt: null, lifeStartedAt: 0 },
      policy,
      0,
    ).suspendAt;
    // A suspended lab is deleted deleteAfter after its suspend: deleteAt gives the suspend's ms.
    const suspendedAt =
      view.state === 'suspended' && view.deleteAt
        ? Date.parse(view.deleteAt) - policy.deleteAfter
        : null;
    return { id, state: view.state, deadline, suspendedAt };
  });
}

/** Deliveries of the subscribed labs by state, as GET /v1/webhooks/deliveries records them. */
async function recordedDeliveries(
  env: BenchEnv,
  ids: string[],
): Promise<{ byState: Partial<Record<DeliveryState, number>>; retried: number; unread: number }> {
  const byState: Partial<Record<DeliveryState, number>> = {};
  let retried = 0;
  let unread = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        const answer = await request(
          `${env.apiUrl}/v1/webhooks/deliveries?labId=${encodeURIComponent(id)}&limit=20`,
          { token: env.adminToken },
        ).catch(() => undefined);
        if (answer?.status !== 200) {
          unread++;
          continue;
        }
        const { deliveries } = JSON.parse(answer.body) as {
          deliveries: Array<{ state: DeliveryState; attempts: number }>;
        };
        for (const d of deliveries) {
          byState[d.state] = (byState[d.state] ?? 0) + 1;
          if (d.attempts > 1) retried++;
        }
      }
    }),
  );
  return { byState, retried, unread };
}

function rowsOf(input: {
  scale: WebhooksScale;
  perLab: number;
  expected: number;
  launchSeconds: number;
  launched: Record<'subscribed' | 'baseline', Awaited<ReturnType<typeof launchLabs>>>;
  outcomes: Record<'subscribed' | 'baseline', Outcome[]>;
  recorded: Awaited<ReturnType<typeof recordedDeliveries>>;
  receiver: Receiver;
}): { rows: Row[]; details: Record<string, unknown>; summary: string } {
  const { perLab, expected, outcomes, recorded, receiver } = input;
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const s = (ms: number) => `${fmt(ms / 1000, 2)} s`;
  const tally = (xs: Outcome[]) =>
    xs.reduce<Record<string, number>>((t, o) => ({ ...t, [o.state]: (t[o.state] ?? 0) + 1 }), {});
  const describe = (t: Record<string, number>) =>
    Object.entries(t)
      .map(([state, n]) => `${state} ${n}`)
      .join(', ');
  const lateness = (xs: Outcome[]) =>
    sorted(
      xs.flatMap((o) =>
        o.suspendedAt !== null && o.deadline !== null ? [o.suspendedAt - o.deadline] : [],
      ),
    );
  const late = { subscribed: lateness(outcomes.subscribed), baseline: lateness(outcomes.baseline) };
  const suspended = {
    subscribed: late.subscribed.length,
    baseline: late.baseline.length,
  };

  // Each event once (a retry repeats its webhook-id); its lag is that of its first arrival.
  const subscribedIds = new Set(outcomes.subscribed.map((o) => o.id));
  const firsts = new Map<string, Arrival>();
  for (const a of receiver.arrivals) if (!firsts.has(a.id)) firsts.set(a.id, a);
  const events = [...firsts.values()].filter(
    (a): a is Arrival & { event: LabEvent } =>
      a.event !== null && subscribedIds.has(a.event.data.labId),
  );
  const ofType = (type: LabEvent['type']) => events.filter((a) => a.event.type === type);
  const lags = (xs: typeof events) =>
    sorted(xs.map((a) => a.arrivedAt - Date.parse(a.event.occurredAt)));
  const lag = lags(events);
  const warnings = ofType('lab.suspend_warning');
  const suspends = ofType('lab.suspended');
  const others = receiver.arrivals.filter(
    (a) => a.event === null || !subscribedIds.has(a.event.data.labId),
  ).length;
  const verified = receiver.arrivals.filter((a) => a.verified).length;
  const requests = receiver.arrivals.length;

  // The method, checked against the workflow's own figures: a warning carries the deadline it
  // announces, and a suspend event is stamped in the transition's workflow task.
  const byId = new Map(outcomes.subscribed.map((o) => [o.id, o]));
  const deadlinesAgree = warnings.filter(
    (a) => byId.get(a.event.data.labId)?.deadline === Date.parse(a.event.data.suspendAt ?? ''),
  ).length;
  const suspendsAgree = suspends.filter(
    (a) => byId.get(a.event.data.labId)?.suspendedAt === Date.parse(a.event.occurredAt),
  ).length;

  const all = [...outcomes.subscribed, ...outcomes.baseline];
  const times = (pick: (o: Outcome) => number | null) =>
    sorted(all.map(pick).filter((t): t is number => t !== null));
  const deadlines = times((o) => o.deadline);
  const suspendTimes = times((o) => o.suspendedAt);
  const span = (xs: number[]) => (xs.length ? xs[xs.length - 1]! - xs[0]! : NaN);
  const waveMs = span(suspendTimes);
  const firstDeadlineToLastSuspend = suspendTimes.length
    ? suspendTimes[suspendTimes.length - 1]! - deadlines[0]!
    : NaN;

  const p = (xs: number[], q: number) => percentile(xs, q);
  const p99 = { subscribed: p(late.subscribed, 99), baseline: p(late.baseline, 99) };
  const ratio = (a: number, b: number) => `${fmt(a / b, 2)}x`;
  const launchErrors = input.launched.subscribed.errors + input.launched.baseline.errors;
  const accepted = input.launched.subscribed.labs.length + input.launched.baseline.labs.length;
  const apiStates = describe(recorded.byState) || 'none';
  const rows = [
    row(
      NAME,
      'labs suspended',
      `${suspended.subscribed}/${perLab} subscribed`,
      'all',
      suspended.subscribed === perLab && suspended.baseline === perLab,
      {
        baseline: `${suspended.baseline}/${perLab} unsubscribed`,
        notes: `states from GET /v1/labs: subscribed ${describe(tally(outcomes.subscribed))}; baseline ${describe(tally(outcomes.baseline))}; ${accepted} launches accepted in ${fmt(input.launchSeconds, 1)} s (${fmt(accepted / input.launchSeconds, 1)}/s, ${input.scale.concurrency} in flight per lab, ${launchErrors} errors); idleTimeout ${input.scale.idleTimeout}, no heartbeats`,
      },
    ),
    row(
      NAME,
      'deliveries received / expected',
      `${events.length}/${expected} (${fmt((100 * events.length) / expected, 1)}%)`,
      '100%',
      events.length === expected,
      {
        notes: `distinct webhook-ids at the receiver: ${warnings.length} lab.suspend_warning, ${suspends.length} lab.suspended; GET /v1/webhooks/deliveries of the subscribed labs: ${apiStates}, ${recorded.retried} needed more than one attempt${recorded.unread ? `, ${recorded.unread} labs unread` : ''}; ${requests - firsts.size} repeated requests; ${others} requests not of a subscribed lab's event`,
      },
    ),
    row(
      NAME,
      'delivery lag p50 / p99',
      `${s(p(lag, 50))} / ${s(p(lag, 99))}`,
      'p99 <= 5 s',
      p(lag, 99) <= 5000,
      {
        notes: `receiver arrival - event occurredAt (first attempt to arrive); lab.suspend_warning p50 ${s(p(lags(warnings), 50))}, p99 ${s(p(lags(warnings), 99))}; lab.suspended p50 ${s(p(lags(suspends), 50))}, p99 ${s(p(lags(suspends), 99))}; max ${s(lag[lag.length - 1] ?? NaN)}`,
      },
    ),
    row(NAME, 'suspend lateness p50', s(p(late.subscribed, 50)), 'report', undefined, {
      baseline: `${s(p(late.baseline, 50))} unsubscribed`,
      ratio: ratio(p(late.subscribed, 50), p(late.baseline, 50)),
      notes: `the suspended transition (GET /v1/labs: deleteAt - deleteAfter) - the deadline (lastActivityAt + idleTimeout + idleSlack); checked against the events: ${deadlinesAgree}/${warnings.length} warnings announced that deadline, ${suspendsAgree}/${suspends.length} lab.suspended occurredAt equal that transition; max ${s(late.subscribed[late.subscribed.length - 1] ?? NaN)} subscribed, ${s(late.baseline[late.baseline.length - 1] ?? NaN)} unsubscribed`,
    }),
    row(
      NAME,
      'suspend lateness p99',
      s(p99.subscribed),
      '<= baseline x 1.2 + 1 s',
      p99.subscribed <= p99.baseline * 1.2 + 1000,
      {
        baseline: `${s(p99.baseline)} unsubscribed`,
        ratio: ratio(p99.subscribed, p99.baseline),
      },
    ),
    row(
      NAME,
      'signatures verified',
      `${verified}/${requests}`,
      'all',
      requests > 0 && verified === requests,
      { notes: 'Standard Webhooks library (standardwebhooks), as the docs tell receivers to' },
    ),
    row(
      NAME,
      'suspend wave (first to last suspend)',
      `${suspendTimes.length} suspends in ${s(waveMs)}`,
      'report',
      undefined,
      {
        notes: `deadlines spread over ${s(span(deadlines))}; first deadline to last suspend ${s(firstDeadlineToLastSuspend)}`,
      },
    ),
  ];
  const summary = `suspended ${suspended.subscribed}+${suspended.baseline}/${2 * perLab}; deliveries ${events.length}/${expected}; lag p99 ${s(p(lag, 99))}; lateness p99 ${s(p99.subscribed)} subscribed, ${s(p99.baseline)} unsubscribed; ${suspendTimes.length} suspends in ${s(waveMs)}`;
  return {
    rows,
    summary,
    details: {
      labs: 2 * perLab,
      launchSeconds: input.launchSeconds,
      launchErrors,
      states: { subscribed: tally(outcomes.subscribed), baseline: tally(outcomes.baseline) },
      deliveries: {
        expected,
        received: events.length,
        requests,
        verified,
        recorded: recorded.byState,
        retried: recorded.retried,
      },
      lagMs: lag,
      latenessMs: late,
      wave: { suspendsMs: waveMs, deadlinesMs: span(deadlines), firstDeadlineToLastSuspend },
      methodCheck: { deadlinesAgree, suspendsAgree },
    },
  };
}
