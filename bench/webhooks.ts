/**
 * Lifecycle webhooks under a suspend wave (issue 19): N idle labs reach their suspend deadlines
 * close together. Half are of a lab a webhook endpoint subscribes to (lab.suspend_warning,
 * lab.suspended); the other half are of an identical lab that no endpoint subscribes to. They
 * are the baseline, measured in the same wave under the same load. The endpoint is a loopback
 * receiver in this process that verifies every signature. Figures: the deliveries received,
 * their lag (arrival minus the event's occurredAt), and how late each lab's `suspended`
 * transition came after its deadline, subscribed labs against the baseline: what delivering
 * the events costs the suspends.
 *
 * Launching 1,000 labs takes minutes here (FerretDB), longer than the wave should last. So the
 * labs are launched in batches, each batch a pair of such labs whose idleTimeout is shorter than
 * the previous batch's by the time between batches: every batch's deadlines fall in the same
 * window, as wide as one batch's launches.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { LabView } from '../src/api/labs/schema';
import { formatDuration, labPolicyOf, type Config } from '../src/config';
import type { DeliveryState } from '../src/store';
import type { LabEvent } from '../workflows/events';
import { labDeadlines } from '../workflows/policy';
import {
  COURSE,
  countStates,
  ferretRate,
  labYaml,
  launchLabs,
  startBenchEnv,
  type BenchEnv,
} from './env';
import { percentile, request, requestPatiently } from './http';
import { reportEvery, sleep } from './progress';
import { fmt, row, type Row } from './report';

export interface WebhooksScale {
  /** Labs launched: half subscribed, half baseline. */
  labs: number;
  /** Launched in this many batches, one every `batchEveryMs` (longer than a batch takes). */
  batches: number;
  batchEveryMs: number;
  /** Launches in flight at once, for each lab of a batch. */
  concurrency: number;
  /** The last batch's idleTimeout: longer than its launches take, so the wave follows them. */
  idleTimeoutMs: number;
  /** Every lab's notifications.suspendWarning (only the subscribed labs' are sent). */
  suspendWarningMs: number;
  /** The most the wave and its deliveries may take after the last batch's deadline. */
  maxWaitMs: number;
}

const NAME = 'webhooks';
const SUBSCRIBED = 'subscribed';
const BASELINE = 'baseline';
const ENDPOINT = 'course-team';
const SECRET_ENV = 'BENCH_WEBHOOK_SECRET';
/** After the deadlines, waiting ends once neither suspends nor deliveries have moved this long. */
const STALL_MS = 60_000;

type Kind = 'subscribed' | 'baseline';
const KINDS: Kind[] = [SUBSCRIBED, BASELINE];

/** Batch b's two labs (`subscribed-1`, `baseline-1`, ...), how many of each, their idleTimeout. */
function batchesOf(scale: WebhooksScale) {
  const perKind = Math.floor(scale.labs / 2);
  return Array.from({ length: scale.batches }, (_, b) => ({
    lab: (kind: Kind) => `${kind}-${b + 1}`,
    count:
      Math.floor((perKind * (b + 1)) / scale.batches) - Math.floor((perKind * b) / scale.batches),
    idleTimeoutMs: scale.idleTimeoutMs + (scale.batches - 1 - b) * scale.batchEveryMs,
  }));
}

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

/** A batch's two labs are the same but for their names; only the subscribed has an endpoint. */
function configOf(receiverUrl: string, scale: WebhooksScale): { yaml: string; labs: string } {
  // env.ts's bench lab, with this batch's idleTimeout and the warning the endpoint hears.
  const lab = (name: string, idleTimeoutMs: number) =>
    labYaml(
      name,
      { idleTimeout: formatDuration(idleTimeoutMs) },
      `notifications: { suspendWarning: ${formatDuration(scale.suspendWarningMs)}, deleteWarning: "off" }`,
    );
  const batches = batchesOf(scale);
  return {
    yaml: `webhooks:
  - name: ${ENDPOINT}
    url: "${receiverUrl}"
    secretEnv: ${SECRET_ENV}
    events: [lab.suspend_warning, lab.suspended]
    labs: [${batches.map((b) => b.lab(SUBSCRIBED)).join(', ')}]
`,
    labs: batches.flatMap((b) => KINDS.map((kind) => lab(b.lab(kind), b.idleTimeoutMs))).join(''),
  };
}

/**
 * The bench's own environment: env.ts's, with the worker in a child process, plus a loopback
 * receiver whose URL and secret go into the configuration.
 */
export async function startWebhooksEnv(scale: WebhooksScale): Promise<WebhooksEnv> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const receiver = await startReceiver(secret);
  try {
    const env = await startBenchEnv({
      workerProcess: true,
      heartbeatFlush: '1s',
      extra: configOf(receiver.url, scale),
      env: { [SECRET_ENV]: secret },
    });
    return {
      ...env,
      receiver,
      async close() {
        await env.close();
        await receiver.close();
      },
    };
  } catch (err) {
    await receiver.close();
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
  const perKind = Math.floor(scale.labs / 2);
  const expected = 2 * perKind; // a suspend warning and a suspend per subscribed lab
  const run = Date.now().toString(36);
  const ferret = ferretRate(env);
  const states = async () =>
    Object.entries(await countStates(env))
      .map(([state, n]) => `${state} ${n}`)
      .join(', ') || 'no labs';
  const received = () => new Set(receiver.arrivals.map((a) => a.id)).size;

  // Each batch's two labs are launched side by side, so their deadlines interleave.
  const batches = batchesOf(scale);
  console.log(
    `[${NAME}] launching ${perKind} ${SUBSCRIBED} and ${perKind} ${BASELINE} labs in ${batches.length} batches ${fmt(scale.batchEveryMs / 1000)} s apart ...`,
  );
  let answered = 0;
  const t0 = Date.now();
  const launching = reportEvery(
    NAME,
    10_000,
    async () =>
      `launching: ${answered}/${2 * perKind} answered; ${await states()}${await ferret()}`,
  );
  const launched: Record<Kind, string[]> = { subscribed: [], baseline: [] };
  const batchSeconds: number[] = [];
  let launchErrors = 0;
  try {
    for (const [b, batch] of batches.entries()) {
      await sleep(t0 + b * scale.batchEveryMs - Date.now());
      const startedAt = Date.now();
      await Promise.all(
        KINDS.map(async (kind) => {
          const lab = batch.lab(kind);
          const result = await launchLabs(
            env,
            Array.from({ length: batch.count }, (_, i) => `hooks-${run}-${lab}-${i}`),
            scale.concurrency,
            { lab, patient: true, onAnswer: () => answered++ },
          );
          launched[kind].push(...result.labs.map((l) => l.id));
          launchErrors += result.errors;
        }),
      );
      batchSeconds.push((Date.now() - startedAt) / 1000);
      console.log(
        `[${NAME}] batch ${b + 1}: ${2 * batch.count} launches answered in ${fmt(batchSeconds[b]!, 1)} s (idleTimeout ${formatDuration(batch.idleTimeoutMs)})`,
      );
    }
  } finally {
    launching.stop();
  }
  const launchSeconds = (Date.now() - t0) / 1000;
  const total = launched.subscribed.length + launched.baseline.length;
  console.log(
    `[${NAME}] ${total}/${2 * perKind} launches accepted (${launchErrors} errors); the labs go idle`,
  );

  // The last batch has the shortest idleTimeout; the earlier ones' deadlines are due with its.
  const last = labPolicyOf(env.config, batches[batches.length - 1]!.lab(SUBSCRIBED))!;
  const dueAt = Date.now() + last.idleTimeout + last.idleSlack;
  const waiting = reportEvery(
    NAME,
    10_000,
    async () =>
      `${await states()}; deliveries received ${received()}/${expected}, pending ${await pendingDeliveries(env)}${await ferret()}`,
  );
  let workflowsSuspended = 0;
  let moved = { at: dueAt, mark: '' };
  try {
    for (;;) {
      workflowsSuspended = await countStates(env, ['suspended']).then(
        (counts) => counts.suspended ?? 0,
        () => workflowsSuspended,
      );
      const mark = `${workflowsSuspended} ${received()}`;
      if (mark !== moved.mark) moved = { at: Math.max(Date.now(), dueAt), mark };
      if (workflowsSuspended >= total && received() >= expected) break;
      // A machine that cannot keep up still gets its figures: the wait ends when nothing moves.
      if (Date.now() - moved.at > STALL_MS || Date.now() > dueAt + scale.maxWaitMs) {
        console.log(
          `[${NAME}] stopped waiting: ${workflowsSuspended}/${total} labs suspended, ${received()}/${expected} deliveries received`,
        );
        break;
      }
      await sleep(2000);
    }
  } finally {
    waiting.stop();
  }

  // GET /v1/labs reads Mongo's projection, which trails the workflows on a slow database.
  const suspendedIn = (views: Map<string, LabView>) =>
    [...views.values()].filter((v) => v.state === 'suspended').length;
  let views = await labViews(env);
  for (let i = 0; i < 12 && suspendedIn(views) < workflowsSuspended; i++) {
    await sleep(5000);
    views = await labViews(env);
  }
  const outcomes = {
    subscribed: launched.subscribed.map((id) => outcomeOf(id, views.get(id), env.config)),
    baseline: launched.baseline.map((id) => outcomeOf(id, views.get(id), env.config)),
  };
  const recorded = await recordedDeliveries(env, launched.subscribed);
  const result = rowsOf({
    scale,
    perKind,
    expected,
    launch: { seconds: launchSeconds, batchSeconds, accepted: total, errors: launchErrors },
    workflowsSuspended,
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

/** Every lab of the bench's course as GET /v1/labs shows it (pages of 500), by id. */
async function labViews(env: BenchEnv): Promise<Map<string, LabView>> {
  const views = new Map<string, LabView>();
  let cursor: string | null = null;
  do {
    const query = `courseId=${encodeURIComponent(COURSE)}&limit=500${cursor ? `&cursor=${cursor}` : ''}`;
    // A FerretDB overloaded by the wave answers 503 for a while: asked again, not a failed run.
    const answer = await requestPatiently(`${env.apiUrl}/v1/labs?${query}`, {
      token: env.adminToken,
      timeoutMs: 60_000,
    });
    if (answer.status !== 200) throw new Error(`GET /v1/labs: ${answer.status} ${answer.body}`);
    const page = JSON.parse(answer.body) as { labs: LabView[]; nextCursor: string | null };
    for (const view of page.labs) views.set(view.id, view);
    cursor = page.nextCursor;
  } while (cursor);
  return views;
}

/** A lab's state, the deadline it was to be suspended at and when it was, from its view. */
function outcomeOf(id: string, view: LabView | undefined, config: Config): Outcome {
  const policy = view && labPolicyOf(config, view.lab);
  if (!view || !policy) return { id, state: 'not listed', deadline: null, suspendedAt: null };
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
  perKind: number;
  expected: number;
  launch: { seconds: number; batchSeconds: number[]; accepted: number; errors: number };
  /** Lab workflows in `suspended` at the end, from Temporal's visibility. */
  workflowsSuspended: number;
  outcomes: Record<Kind, Outcome[]>;
  recorded: Awaited<ReturnType<typeof recordedDeliveries>>;
  receiver: Receiver;
}): { rows: Row[]; details: Record<string, unknown>; summary: string } {
  const { scale, perKind, expected, launch, outcomes, recorded, receiver } = input;
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
  const states = { subscribed: tally(outcomes.subscribed), baseline: tally(outcomes.baseline) };
  const suspended = {
    subscribed: states.subscribed.suspended ?? 0,
    baseline: states.baseline.suspended ?? 0,
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
  const idleTimeouts = batchesOf(scale).map((b) => formatDuration(b.idleTimeoutMs));
  const apiStates = describe(recorded.byState) || 'none';
  const rows = [
    row(
      NAME,
      'labs suspended',
      `${suspended.subscribed}/${perKind} subscribed`,
      'all',
      suspended.subscribed === perKind && suspended.baseline === perKind,
      {
        baseline: `${suspended.baseline}/${perKind} unsubscribed`,
        notes: `states from GET /v1/labs: subscribed ${describe(states.subscribed)}; baseline ${describe(states.baseline)} (lab workflows in suspended: ${input.workflowsSuspended}); ${launch.accepted} launches accepted (${launch.errors} errors) in ${scale.batches} batches ${fmt(scale.batchEveryMs / 1000)} s apart, ${scale.concurrency} in flight per lab, each batch's launches taking ${launch.batchSeconds.map((x) => fmt(x)).join(', ')} s, ${fmt(launch.seconds)} s in all; idleTimeout ${idleTimeouts.join(', ')} by batch, no heartbeats`,
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
  const summary = `suspended ${suspended.subscribed}+${suspended.baseline}/${2 * perKind}; deliveries ${events.length}/${expected}; lag p99 ${s(p(lag, 99))}; lateness p99 ${s(p99.subscribed)} subscribed, ${s(p99.baseline)} unsubscribed; ${suspendTimes.length} suspends in ${s(waveMs)}`;
  return {
    rows,
    summary,
    details: {
      labs: 2 * perKind,
      launch,
      states,
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
