import { WorkflowNotFoundError } from '@temporalio/client';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { keystoneId } from '../../src/emulator/keystone-api';
import { prng } from '../../src/util/prng';
import type { FaultSpec } from '../../src/emulator';
import { TRANSITIONAL_STATES, type LabSnapshot, type LabState } from '../../workflows/state';
import type { Store } from '../../src/store';
import type { LabEvent } from '../../src/store/events';
import type { LabEnv } from '../support/lab-env';
import { eventually } from '../support/wait';
import { failedRuns, judgeDeletions, judgeTransitions, type AskedAction } from './soak-checks';

/**
 * The chaos soak of issues 9 and 15: a seeded random mix of learner and staff actions over a
 * pool of labs, sent to the API as Open edX and support staff would, while the emulator injects
 * faults and cloud outages (every Heat and Keystone request failing for a while) and the worker,
 * the API and the MongoDB-compatible server are killed and restarted at random moments; then the
 * faults stop, every lab settles, failed labs are retried, and the invariants are checked. A
 * breach names its lab; the seed replays the run's choices (timing still varies).
 */

/** A process of the system the soak may kill and start again (at the same address). */
export interface Restartable {
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface SoakOptions {
  seed: number;
  /**
   * A new connection to the product's database for the settle phase and the final checks, as an
   * operator's tool would open: the run's own client lived through every kill of the server.
   */
  checkStore?: () => Promise<Store>;
  labs: number;
  /** Length of the chaos phase. */
  seconds: number;
  /** The capacity every provider of the env was configured with. */
  capacity: number;
  providers: string[];
  /** Concurrent actors issuing actions. */
  actors?: number;
  /** Mean pause between kills (of the worker, the API or Mongo, one at a time), in ms. */
  restartEveryMs?: number;
  /**
   * Cloud outages: every Heat and Keystone request answers 503 or hangs (at random) for a time
   * drawn from `lastsMs`, each after a pause drawn from `everyMs` since the last one ended,
   * while the actors go on; none when absent. Cut short at the end of the chaos phase.
   */
  outages?: { lastsMs: [number, number]; everyMs: [number, number] };
  /** The API the soak's clients call, served again at `url` after each kill. */
  api: Restartable & { url: string; serviceToken: string; adminToken: string };
  /** The worker, when the soak runs it as a process of its own; the env's in-process one if not. */
  worker?: Restartable;
  /** The MongoDB-compatible server, when the soak runs its own (an external one is never killed). */
  mongo?: Restartable;
  /** Deadline for every lab to settle once the chaos stops. */
  settleMs?: number;
  log?: (line: string) => void;
}

export interface SoakResult {
  seed: number;
  labs: number;
  operations: Record<string, number>;
  /** Updates a validator refused (InvalidLabState) or aimed at a closed lab: expected. */
  refused: number;
  faults: Record<string, number>;
  /** Kills (and restarts) per process: worker, api, mongo. */
  kills: Record<string, number>;
  /** Cloud outages: how many, their total length, how many of each kind (status, hang). */
  outages: { count: number; seconds: number; kinds: Record<string, number> };
  /** Deletions of the run's stacks by warrant (delete, reset, retention, not ready, ...). */
  deletions: Record<string, number>;
  /** API answers per status class, and calls made while the API was down. */
  answers: Record<string, number>;
  /** Client calls that failed for another reason (printed, not breaches). */
  clientErrors: string[];
  /** Examples of 503s answered with every process up: a dependency missed the API's deadline. */
  slowDependency: string[];
  breaches: string[];
  seconds: number;
  summary: string;
}

/** A short pause between random actions (bounded by the caller: at most a few hundred ms). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until it holds or the deadline passes; returns whether it held. */
export async function waitUntil(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  pollMs = 250,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A dependency that times out or hangs (FerretDB, Temporal) means "not yet", not an end:
    // each look is bounded by the time left, so a stalled store cannot outlive the deadline.
    const held = await within(
      Math.max(1000, deadline - Date.now()),
      condition().catch(() => false),
    );
    if (held === true) return true;
    if (Date.now() >= deadline) return false;
    await delay(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
}

const COURSE_ID = 'course-v1:Org+Lab101+2026';
const STABLE: readonly LabState[] = ['ready', 'suspended', 'failed', 'deleted'];
const UP_STACK: Record<string, readonly string[]> = {
  ready: ['CREATE_COMPLETE', 'RESUME_COMPLETE'],
  suspended: ['SUSPEND_COMPLETE'],
};

type Outcome = 'ok' | 'refused' | 'error';

interface Lab {
  id: string;
  learnerId: string;
  suffix: string;
  launched: boolean;
  /** The learner is active: heartbeats keep flowing. */
  active: boolean;
}

export async function runSoak(env: LabEnv, options: SoakOptions): Promise<SoakResult> {
  const started = Date.now();
  let store: Store = env.store;
  const rand = prng(options.seed);
  const log = options.log ?? (() => undefined);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const between = (min: number, max: number) => min + Math.floor(rand() * (max - min + 1));

  const labs: Lab[] = Array.from({ length: options.labs }, (_, i) => {
    const learnerId = `soak-${options.seed}-${i}`;
    const id = env.labId({ learnerId });
    return { id, learnerId, suffix: id.replace(/^lab_/, ''), launched: false, active: false };
  });
  const bySuffix = new Map(labs.map((l) => [l.suffix, l]));
  const ids = labs.map((l) => l.id);
  const projectOf = new Map(options.providers.map((p) => [keystoneId('project', p), p]));

  const operations: Record<string, number> = {};
  const faults: Record<string, number> = {};
  const kills: Record<string, number> = {};
  const answers: Record<string, number> = {};
  const clientErrors: string[] = [];
  /** Examples of 503s answered with every process up (a dependency missed its deadline). */
  const slowDependency: string[] = [];
  const breaches = new Set<string>();
  let refused = 0;
  let stopping = false;
  const count = (table: Record<string, number>, kind: string) => {
    table[kind] = (table[kind] ?? 0) + 1;
  };
  /** Steps that did not finish in time: named in the log and the summary, then left behind. */
  const stuck: string[] = [];
  const bounded = async (what: string, ms: number, run: () => Promise<unknown>) => {
    if ((await within(ms, run())) === LATE) {
      stuck.push(`${what} at ${seconds(started)} s`);
      log(`soak: STUCK ${what} for ${ms / 1000} s at ${seconds(started)} s; going on without it`);
    }
  };
  const breach = (line: string) => {
    if (!breaches.has(line)) log(`BREACH ${line}`);
    breaches.add(line);
  };
  const clientError = (line: string) => {
    if (clientErrors.length < 50) clientErrors.push(line);
    log(`client error: ${line}`);
  };

  // What is down right now, and when the last outage ended: a 503 then is the documented answer.
  // A 503 with everything up is the same answer to a dependency that missed the API's deadline
  // (FerretDB under load): counted apart, so the summary says how often the store was too slow.
  const down = new Set<'worker' | 'api' | 'mongo'>();
  let lastOutageEnded = 0;
  const OUTAGE_GRACE_MS = 20_000;
  const dependencyOutage = () =>
    down.has('mongo') || down.has('worker') || Date.now() - lastOutageEnded < OUTAGE_GRACE_MS;

  const client = (token: string): AxiosInstance =>
    axios.create({
      baseURL: options.api.url,
      headers: { Authorization: `Bearer ${token}` },
      validateStatus: () => true,
      timeout: 60_000,
    });
  const service = client(options.api.serviceToken);
  const admin = client(options.api.adminToken);

  /**
   * One API call, classified: 2xx ok; 404/409 a refusal the state explains (an action on a
   * deleted lab, a suspend of a queued one); 503 is a dependency down or too slow; any other
   * 5xx is a breach; a refused connection only while the API is down.
   */
  const call = async (
    what: string,
    lab: Lab,
    request: () => Promise<AxiosResponse>,
  ): Promise<Outcome> => {
    count(operations, what);
    // A call in flight across a kill of the API fails with it, even if it is up again by now.
    const apiKillsBefore = kills.api ?? 0;
    const apiWasDown = down.has('api');
    let res: AxiosResponse;
    try {
      res = await request();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      const apiOutage = apiWasDown || down.has('api') || (kills.api ?? 0) !== apiKillsBefore;
      if (apiOutage || /ECONNREFUSED|ECONNRESET|EPIPE/.test(code)) {
        count(answers, 'api down');
        if (!apiOutage) clientError(`${what} ${lab.id}: ${code} with the API up`);
        return 'error';
      }
      clientError(`${what} ${lab.id}: ${(err as Error).message}`);
      return 'error';
    }
    count(
      answers,
      res.status !== 503 ? String(res.status) : dependencyOutage() ? '503 outage' : '503 slow',
    );
    if (res.status < 300) return 'ok';
    if (res.status === 404 || res.status === 409) {
      refused += 1;
      return 'refused';
    }
    const body = JSON.stringify(res.data).slice(0, 300);
    if (res.status === 503) {
      if (!dependencyOutage() && slowDependency.length < 5) slowDependency.push(`${what}: ${body}`);
      return 'error';
    }
    if (res.status >= 500)
      breach(
        `${what} ${lab.id}: HTTP ${res.status} ${down.size ? `(down: ${[...down]})` : '(all up)'} ${body}`,
      );
    else clientError(`${what} ${lab.id}: HTTP ${res.status} ${body}`);
    return 'error';
  };
  const launchBody = (lab: Lab) => ({ courseId: COURSE_ID, learnerId: lab.learnerId, lab: 'demo' });
  const launch = (what: string, lab: Lab) =>
    call(what, lab, () => service.post('/v1/labs', launchBody(lab)));
  /** The deletes and resets the soak sent per lab: what may warrant deleting its stack. */
  const asked = new Map<string, AskedAction[]>();
  const act = (what: 'suspend' | 'reset' | 'delete' | 'retry', lab: Lab) => {
    if (what === 'delete' || what === 'reset')
      asked.set(lab.id, [...(asked.get(lab.id) ?? []), { what, at: Date.now() }]);
    return call(what, lab, () =>
      what === 'delete'
        ? service.delete(`/v1/labs/${lab.id}`)
        : (what === 'retry' ? admin : service).post(`/v1/labs/${lab.id}/${what}`),
    );
  };
  const heartbeat = (what: string, lab: Lab) =>
    call(what, lab, () => service.post(`/v1/labs/${lab.id}/heartbeat`));

  const handle = (lab: Lab) => env.client.workflow.getHandle(lab.id);
  const projections = async () =>
    new Map(
      (
        await store.labs.collection
          .find({ _id: { $in: ids } }, { projection: { state: 1, error: 1 } })
          .toArray()
      ).map((d) => [d._id, d]),
    );
  /** Labs in `state` by the projection; none while Mongo is down (the chooser picks another). */
  const inState = async (state: LabState): Promise<Lab[]> => {
    const docs = await store.labs.collection
      .find({ _id: { $in: ids }, state }, { projection: { _id: 1 } })
      .toArray()
      .catch(() => []);
    const wanted = new Set(docs.map((d) => d._id));
    return labs.filter((l) => wanted.has(l.id));
  };

  // ---- learners and staff ----------------------------------------------------------------

  const actions: Array<[number, string, () => Promise<unknown>]> = [
    [
      5,
      'launch',
      async () => {
        const lab = pick(labs);
        lab.launched = true;
        lab.active = true;
        return launch('launch', lab);
      },
    ],
    [
      2,
      'launch-duplicates',
      async () => {
        const lab = pick(labs);
        lab.launched = true;
        lab.active = true;
        const n = between(2, 5);
        return Promise.all(Array.from({ length: n }, () => launch('launch-duplicate', lab)));
      },
    ],
    [
      4,
      'heartbeat',
      async () => {
        const lab = pickLaunched();
        lab.active = true;
        return heartbeat('heartbeat', lab);
      },
    ],
    [
      3,
      'idle',
      async () => {
        const active = labs.filter((l) => l.active);
        if (active.length === 0) return;
        count(operations, 'idle');
        pick(active).active = false;
      },
    ],
    [
      2,
      'resume',
      async () => {
        const suspended = await inState('suspended');
        if (suspended.length === 0) return;
        const lab = pick(suspended);
        lab.active = true;
        return launch('resume', lab);
      },
    ],
    [1, 'suspend', async () => act('suspend', pickLaunched())],
    [2, 'reset', async () => act('reset', pickLaunched())],
    [
      2,
      'delete',
      async () => {
        const lab = pickLaunched();
        lab.active = false;
        return act('delete', lab);
      },
    ],
    [
      2,
      'retry',
      async () => {
        const failed = await inState('failed');
        return act('retry', failed.length > 0 && rand() < 0.8 ? pick(failed) : pickLaunched());
      },
    ],
  ];
  function pickLaunched(): Lab {
    const launched = labs.filter((l) => l.launched);
    return launched.length > 0 ? pick(launched) : pick(labs);
  }
  const totalWeight = actions.reduce((s, [w]) => s + w, 0);
  const chooseAction = () => {
    let r = rand() * totalWeight;
    for (const [w, , run] of actions) {
      r -= w;
      if (r < 0) return run;
    }
    return actions[0]![2];
  };

  const chaosEnds = started + options.seconds * 1000;
  const actor = async () => {
    while (Date.now() < chaosEnds) {
      await bounded('an action', 120_000, chooseAction());
      await delay(between(0, 200));
    }
  };

  /** Active learners' browsers: a heartbeat from each, about every two seconds. */
  const heartbeats = async () => {
    while (!stopping) {
      const round = Date.now();
      await Promise.all(labs.filter((l) => l.active).map((l) => heartbeat('browser-heartbeat', l)));
      await delay(Math.max(0, 2000 - (Date.now() - round)));
    }
  };

  // ---- chaos -----------------------------------------------------------------------------

  const inject = async (
    kind: string,
    input: Parameters<typeof env.emulator.admin.injectFault>[0],
  ) => {
    count(faults, kind);
    await env.emulator.admin.injectFault(input);
  };
  const pendingCreateFailures = new Set<string>();
  const chaosActions: Array<[number, () => Promise<void>]> = [
    [
      4,
      () => {
        const status = pick([500, 502, 503, 504]);
        const method = pick([undefined, 'GET', 'POST', 'DELETE']);
        const afterHandling = method === 'POST' && rand() < 0.3;
        const fault: FaultSpec = {
          kind: 'status',
          status,
          ...(afterHandling ? { afterHandling } : {}),
        };
        return inject(afterHandling ? '5xx-after-handling' : '5xx', {
          ...(method ? { method } : {}),
          path: '/stacks',
          times: between(1, 3),
          fault,
        });
      },
    ],
    [
      3,
      () =>
        inject('latency', {
          path: '/stacks',
          times: between(1, 4),
          fault: { kind: 'latency', ms: between(100, 1500) },
        }),
    ],
    [
      1,
      () =>
        inject('connection-reset', {
          path: '/stacks',
          times: between(1, 2),
          fault: { kind: 'reset' },
        }),
    ],
    [
      2,
      () =>
        inject('quota', {
          method: 'POST',
          path: '/stacks$',
          times: between(1, 2),
          fault: { kind: 'quota' },
        }),
    ],
    [
      1,
      () => inject('unauthorized', { path: '/stacks', times: 1, fault: { kind: 'unauthorized' } }),
    ],
    [
      3,
      async () => {
        const lab = pickLaunched();
        const snapshot = await env.status(lab.id).catch(() => null);
        if (!snapshot || snapshot.state === 'deleted') return;
        const stackName = `demo-${lab.suffix}-g${snapshot.generation + between(1, 2)}`;
        if (pendingCreateFailures.has(stackName)) return;
        pendingCreateFailures.add(stackName);
        count(faults, 'create-failed');
        await env.emulator.admin.failNextCreate({ stackName });
      },
    ],
  ];
  const chaosWeight = chaosActions.reduce((s, [w]) => s + w, 0);
  const chaos = async () => {
    while (Date.now() < chaosEnds) {
      let r = rand() * chaosWeight;
      const run = chaosActions.find(([w]) => (r -= w) < 0)?.[1] ?? chaosActions[0]![1];
      await bounded('a fault injection', 60_000, () =>
        run().catch((err: Error) => log(`chaos: ${err.message}`)),
      );
      await delay(between(200, 1200));
    }
  };
  const processes: Record<'worker' | 'api' | 'mongo', Restartable | undefined> = {
    // A restart is a new process: the worker's Temporal and Mongo connections are new too.
    worker: options.worker ?? {
      kill: () => env.stopWorker(),
      start: async () => void (await env.startWorker(undefined, { ownStore: true })),
    },
    api: options.api,
    mongo: options.mongo,
  };
  const killable = (Object.keys(processes) as Array<keyof typeof processes>).filter(
    (name) => processes[name],
  );
  /** Kills one process at a time, at random moments, and starts it again after a pause. */
  const restarts = async () => {
    const mean = options.restartEveryMs ?? 8000;
    while (Date.now() + mean / 2 < chaosEnds) {
      await delay(between(mean / 2, (mean * 3) / 2));
      if (Date.now() >= chaosEnds) break;
      // The least-killed process next (ties at random): every kind is killed, even in a short run.
      const fewest = Math.min(...killable.map((k) => kills[k] ?? 0));
      await killAndRestart(pick(killable.filter((k) => (kills[k] ?? 0) === fewest)));
    }
  };
  /** Kills a process, leaves it down a moment (Mongo longer: clients must ride it out), restarts it. */
  const killAndRestart = async (name: keyof typeof processes) => {
    const target = processes[name]!;
    down.add(name);
    count(kills, name);
    await bounded(`kill of the ${name}`, 120_000, () => target.kill());
    await delay(between(0, name === 'mongo' ? 4000 : 1500));
    await bounded(`start of the ${name}`, 120_000, () => target.start());
    down.delete(name);
    lastOutageEnded = Date.now();
  };

  // A stream of the seed of their own: a replay has the same outages whatever the actors did.
  const outageRand = prng(options.seed ^ 0x5eed);
  const outageStats = { count: 0, ms: 0, kinds: {} as Record<string, number> };
  let cloudDown: string | null = null;
  /** Every Heat and Keystone request fails for a while, at random moments, as the actors go on. */
  const cloudOutages = async () => {
    const plan = options.outages;
    if (!plan) return;
    const draw = ([min, max]: [number, number]) => min + Math.floor(outageRand() * (max - min + 1));
    for (;;) {
      const pause = draw(plan.everyMs);
      const lasts = draw(plan.lastsMs);
      const kind = outageRand() < 0.5 ? 'status' : 'hang';
      await delay(Math.min(pause, Math.max(0, chaosEnds - Date.now())));
      const ms = Math.min(lasts, chaosEnds - Date.now());
      if (ms <= 0) return;
      outageStats.count += 1;
      outageStats.ms += ms;
      count(outageStats.kinds, kind);
      cloudDown = `${kind} until ${(seconds(started) + ms / 1000).toFixed(1)} s`;
      log(`soak: cloud outage (${kind}) for ${(ms / 1000).toFixed(1)} s at ${seconds(started)} s`);
      await env.emulator.admin
        .outage({ ms, kind })
        .catch((err: Error) => log(`chaos: outage: ${err.message}`));
      await delay(ms);
      cloudDown = null;
    }
  };

  // ---- sampled invariants ----------------------------------------------------------------

  const liveStacks = async () =>
    (await env.emulator.admin.stacks()).filter((s) => s.status !== 'DELETE_COMPLETE');
  const checkCapacityAndStacks = async (when: string) => {
    const live = await liveStacks();
    const perProvider = new Map<string, number>();
    const perLab = new Map<string, string[]>();
    for (const s of live) {
      const provider = projectOf.get(s.projectId);
      if (!provider) breach(`${when}: stack ${s.name} in an unknown project ${s.projectId}`);
      else perProvider.set(provider, (perProvider.get(provider) ?? 0) + 1);
      const lab = bySuffix.get(stackSuffix(s.name));
      if (!lab) {
        breach(`${when}: stack ${s.name} (${s.status}) belongs to no lab of this run`);
        continue;
      }
      perLab.set(lab.id, [...(perLab.get(lab.id) ?? []), `${s.name}:${s.status}`]);
    }
    for (const [labId, names] of perLab)
      if (names.length > 1)
        breach(`${when}: lab ${labId} has ${names.length} live stacks: ${names.join(', ')}`);
    const usage = await store.capacity.usage();
    for (const provider of options.providers) {
      const held = usage.get(provider) ?? 0;
      const stacks = perProvider.get(provider) ?? 0;
      if (options.capacity >= 0 && held > options.capacity)
        breach(`${when}: ${provider} capacity holders ${held} > capacity ${options.capacity}`);
      if (options.capacity >= 0 && stacks > options.capacity)
        breach(`${when}: ${provider} live stacks ${stacks} > capacity ${options.capacity}`);
    }
    return { live, perProvider, usage };
  };
  let samples = 0;
  const sampler = async () => {
    while (Date.now() < chaosEnds) {
      samples += 1;
      await bounded('a sample of the invariants', 60_000, async () => {
        await checkCapacityAndStacks('during the run').catch((err: Error) =>
          log(`sample: ${err.message}`),
        );
        const failedWithoutError = await store.labs.collection
          .find({ _id: { $in: ids }, state: 'failed', error: null })
          .toArray()
          .catch(() => []);
        for (const d of failedWithoutError)
          breach(`during the run: lab ${d._id} is failed without an error`);
      });
      await delay(between(500, 1000));
    }
  };

  log(`soak: seed=${options.seed} labs=${options.labs} seconds=${options.seconds}`);
  const total = (t: Record<string, number>) => Object.values(t).reduce((a, b) => a + b, 0);
  const progress = setInterval(
    () =>
      log(
        `soak: ${seconds(started)} s: operations=${total(operations)} faults=${total(faults)} ` +
          `kills=${JSON.stringify(kills)} down=[${[...down]}] outages=${outageStats.count}` +
          `${cloudDown ? ` (cloud down: ${cloudDown})` : ''} breaches=${breaches.size} stuck=${stuck.length}`,
      ),
    60_000,
  );
  const browsers = heartbeats();
  await Promise.all([
    ...Array.from({ length: options.actors ?? 3 }, actor),
    chaos(),
    cloudOutages(),
    restarts(),
    sampler(),
  ]);
  // Every kind of process is killed at least once: those the chaos phase did not reach (a slow
  // machine makes fewer rounds) are killed now, before the run settles and is checked.
  for (const name of killable.filter((k) => !kills[k])) await killAndRestart(name);
  clearInterval(progress);
  // Heartbeats go on through the settle phase: ready labs stay ready while being checked.
  for (const lab of labs) lab.active = lab.launched;

  // ---- settle ----------------------------------------------------------------------------

  await env.emulator.admin.clearFaults();
  if (options.checkStore) store = await options.checkStore();
  const settleMs = options.settleMs ?? 90_000;
  log(`soak: chaos over after ${seconds(started)} s; settling`);

  const isFull = async (): Promise<boolean> => {
    const usage = await store.capacity.usage();
    return (
      options.capacity >= 0 &&
      options.providers.every((p) => (usage.get(p) ?? 0) >= options.capacity)
    );
  };
  /** Stable, or queued while every provider is full (the documented wait for capacity). */
  const allSettled = async () => {
    const docs = await projections();
    const full = await isFull();
    return labs.every((l) => {
      const state = docs.get(l.id)?.state;
      return state === undefined || STABLE.includes(state) || (state === 'queued' && full);
    });
  };
  const settled = await waitUntil(allSettled, settleMs, 500);
  if (!settled) log('soak: not every lab settled in time');

  for (let round = 1; round <= 3; round++) {
    const failed = await inState('failed');
    if (failed.length === 0) break;
    log(`soak: retrying ${failed.length} failed labs (round ${round})`);
    await bounded(`retry round ${round}`, settleMs, async () => {
      for (const lab of failed) {
        // Read again: the lab may have moved since the list was made (a round that overran its
        // bound goes on beside the next one, which retries the same labs).
        const doc = await store.labs.get(lab.id);
        if (doc?.state === 'failed' && !doc.error)
          breach(`lab ${lab.id} is failed without an error`);
        await act('retry', lab);
      }
    });
    await waitUntil(allSettled, settleMs, 500);
  }

  // ---- final invariants ------------------------------------------------------------------

  let deletionTally: Record<string, number> = {};
  let workflowRuns = 0;
  const finalBreaches = async (): Promise<string[]> => {
    const found: string[] = [];
    const { live, perProvider, usage } = await checkCapacityAndStacks('at the end');
    const full = await isFull();
    const snapshots = new Map<string, LabSnapshot | 'closed' | 'unanswered'>();
    /** Latest runs already named as closed badly: visibility's list is not to name them twice. */
    const namedRuns = new Set<string>();
    // A query waits on a workflow task; on a loaded machine one may time out and be retried.
    const queried = (lab: Lab): Promise<LabSnapshot> =>
      eventually(`lab ${lab.id} to answer a query`, () => env.status(lab.id), 15_000);
    const checkLab = async (lab: Lab): Promise<void> => {
      const doc = await store.labs.get(lab.id);
      let status: string;
      try {
        const described = await handle(lab).describe();
        status = described.status.name;
        if (status !== 'RUNNING' && status !== 'COMPLETED') namedRuns.add(described.runId);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          if (doc) found.push(`lab ${lab.id}: projection ${doc.state} but no workflow`);
          return;
        }
        throw err;
      }
      if (status !== 'RUNNING') {
        snapshots.set(lab.id, 'closed');
        if (status !== 'COMPLETED') found.push(`lab ${lab.id}: workflow closed as ${status}`);
        if (doc?.state !== 'deleted')
          found.push(`lab ${lab.id}: workflow closed but projection says ${doc?.state}`);
        return;
      }
      let s: LabSnapshot;
      try {
        s = await queried(lab);
      } catch (err) {
        // Named, and the lab's stack and capacity are not judged without its state.
        snapshots.set(lab.id, 'unanswered');
        found.push(
          `lab ${lab.id}: its workflow did not answer a query (${(err as Error).message})`,
        );
        return;
      }
      snapshots.set(lab.id, s);
      const where = `lab ${lab.id} (${s.state}, g${s.generation}, ${s.provider ?? 'no provider'})`;
      if (!doc) found.push(`${where}: no projection`);
      else {
        if (doc.state !== s.state) found.push(`${where}: projection says ${doc.state}`);
        if (doc.generation !== s.generation)
          found.push(`${where}: projection generation ${doc.generation}`);
        if ((doc.stack?.name ?? null) !== (s.stack?.name ?? null))
          found.push(`${where}: projection stack ${doc.stack?.name} vs ${s.stack?.name}`);
      }
      if (s.state === 'failed')
        found.push(`${where}: still failed after retry (${s.error?.code}: ${s.error?.message})`);
      else if (TRANSITIONAL_STATES.includes(s.state) && !(s.state === 'queued' && full))
        found.push(`${where}: left in a transitional state`);
      const upStatuses = UP_STACK[s.state];
      if (upStatuses) {
        const mine = live.find((st) => st.name === s.stack?.name);
        if (!mine) found.push(`${where}: its stack ${s.stack?.name} is not in Heat`);
        else if (!upStatuses.includes(mine.status))
          found.push(`${where}: its stack ${mine.name} is ${mine.status}`);
        else if (projectOf.get(mine.projectId) !== s.provider)
          found.push(`${where}: its stack is on ${projectOf.get(mine.projectId)}`);
      }
    };
    // A few at a time: a sequential pass over hundreds of labs outlasts the check's deadline on
    // a loaded machine, and all at once would queue behind FerretDB's single writer anyway.
    for (let i = 0; i < labs.length; i += 8) await Promise.all(labs.slice(i, i + 8).map(checkLab));
    for (const st of live) {
      const lab = bySuffix.get(stackSuffix(st.name));
      const s = lab ? snapshots.get(lab.id) : undefined;
      if (s === 'unanswered') continue;
      if (!lab || !s || s === 'closed' || s.state === 'deleted' || s.stack?.name !== st.name)
        found.push(
          `orphan stack ${st.name} (${st.status}) of lab ${lab?.id ?? '?'} (lab's stack: ${
            s === 'closed' ? 'workflow closed' : (s?.stack?.name ?? 'none')
          })`,
        );
    }
    for (const provider of options.providers) {
      const held = usage.get(provider) ?? 0;
      const stacks = perProvider.get(provider) ?? 0;
      if (held !== stacks)
        found.push(`${provider}: ${held} capacity holders but ${stacks} live stacks`);
    }
    // A queue entry blocks admission and pool refills: only a lab waiting in `queued` may have one.
    const waiters = await store.capacity.waiters.find({}).toArray();
    for (const w of waiters) {
      const s = snapshots.get(w._id);
      if (s === 'unanswered') continue;
      if (!s || s === 'closed' || s.state !== 'queued')
        found.push(
          `lab ${w._id}: queue entry for ${w.providers.join(',')} since ${w.enqueuedAt.toISOString()} but ${
            !s ? 'no workflow' : s === 'closed' ? 'its workflow is closed' : `the lab is ${s.state}`
          }`,
        );
    }
    // No learner's stack deleted without a delete, a reset, retention or maxLifetime.
    const labEvents = new Map<string, LabEvent[]>();
    for (const e of await store.events.collection.find({ labId: { $in: ids } }).toArray())
      labEvents.set(e.labId, [...(labEvents.get(e.labId) ?? []), e]);
    const judged = judgeDeletions({
      deletions: await env.emulator.admin.deletions(),
      labOf: (name) => bySuffix.get(stackSuffix(name))?.id,
      events: labEvents,
      asked,
      started,
    });
    deletionTally = judged.tally;
    found.push(...judged.breaches);
    // No state change outside the lifecycle table.
    found.push(...judgeTransitions(labEvents));
    // No lab workflow ended failed, in any of its runs.
    const runs = await failedRuns(env.client, env.taskQueue, new Set(ids), started, namedRuns);
    workflowRuns = runs.runs;
    found.push(...runs.breaches);
    const holders = await store.capacity.holders.find({ _id: { $in: ids } }).toArray();
    for (const h of holders) {
      const s = snapshots.get(h._id);
      if (s === 'unanswered') continue;
      if (!s || s === 'closed' || s.provider !== h.provider)
        found.push(
          `lab ${h._id}: holds capacity on ${h.provider} but ${
            s === 'closed' ? 'its workflow is closed' : `its provider is ${s?.provider ?? 'none'}`
          }`,
        );
    }
    return found;
  };

  // The check is repeated while it finds something (a projection one activity behind the
  // workflow catches up), for 45 s; each check may take up to 120 s on a loaded machine.
  let last: string[];
  const finalDeadline = Date.now() + 45_000;
  for (;;) {
    const found = await within(
      120_000,
      finalBreaches().catch((err: Error) => [`the final check could not run: ${err.message}`]),
    );
    last = found === LATE ? ['the final check did not finish within 120 s'] : found;
    if (last.length === 0 || Date.now() >= finalDeadline) break;
    await delay(2000);
  }
  for (const line of last) breach(line);
  stopping = true;
  await browsers;

  const result: SoakResult = {
    seed: options.seed,
    labs: options.labs,
    operations,
    refused,
    faults,
    kills,
    outages: {
      count: outageStats.count,
      seconds: Math.round(outageStats.ms / 100) / 10,
      kinds: outageStats.kinds,
    },
    deletions: deletionTally,
    answers,
    clientErrors,
    slowDependency,
    breaches: [...breaches],
    seconds: seconds(started),
    summary: '',
  };
  const finalStates: Record<string, number> = {};
  const docs = await projections().catch((err: Error) => {
    log(`soak: final states unreadable: ${err.message}`);
    return new Map<string, { state: string }>();
  });
  for (const doc of docs.values()) count(finalStates, doc.state);
  result.summary =
    `soak seed=${result.seed} labs=${result.labs} ` +
    `operations=${total(operations)} ${JSON.stringify(operations)} refused=${refused} ` +
    `faults=${total(faults)} ${JSON.stringify(faults)} kills=${total(kills)} ${JSON.stringify(kills)} ` +
    `outages=${result.outages.count} (${result.outages.seconds} s) ${JSON.stringify(result.outages.kinds)} ` +
    `stackDeletions=${total(deletionTally)} ${JSON.stringify(deletionTally)} workflowRuns=${workflowRuns} ` +
    `answers=${JSON.stringify(answers)} ` +
    `samples=${samples} stuck=${stuck.length} finalStates=${JSON.stringify(finalStates)} clientErrors=${clientErrors.length} breaches=${breaches.size} ` +
    `seconds=${result.seconds}`;
  if (store !== env.store) await store.close().catch(() => undefined);
  return result;
}

/** `demo-<suffix>-g<n>` -> suffix. */
function stackSuffix(name: string): string {
  return name.replace(/^[^-]+-/, '').replace(/-g\d+$/, '');
}

export const LATE = Symbol('late');
/** The promise's value, or LATE when it has not settled within `ms`. */
export async function within<T>(ms: number, promise: Promise<T>): Promise<T | typeof LATE> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(() => resolve(LATE), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}
