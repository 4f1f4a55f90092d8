/**
 * Warm pools (issue 11): launch-to-ready for new learners of a lab with a warm pool and of the
 * same lab without one, arriving side by side in the same run against an emulator as slow as
 * Heat (create 90 s, resume 5 s), and what the pool costs in stack-hours over a simulated day.
 */
import type { BenchEnv, BenchEnvOptions } from './env';
import { percentile, request } from './http';
import { fmt, row, type Row } from './report';

export interface PoolScale {
  /** New learners of each lab (pooled and not), arriving one of each every `arrivalEveryMs`. */
  learners: number;
  arrivalEveryMs: number;
  /** The emulator's time to create and to resume a whole stack (two resources). */
  createMs: number;
  resumeMs: number;
  /** Deadline for the last learner's lab to be ready. */
  waitMs: number;
}

/** The simulated day the cost is computed for: a class day at the bench's arrival rate. */
const DAY = {
  /** Hours during which learners arrive (the pool's schedule window). */
  teachingHours: 8,
  /** A learner's lab runs for the session plus idleTimeout before it is suspended. */
  sessionMinutes: 60,
  idleTimeoutMinutes: 10,
};

const COURSE = 'course-v1:Bench+Pools+2026';

/**
 * The pool is sized to the arrival rate as docs/operations.md (Warm pools) says: the launches
 * that arrive while one stack is rebuilt (build time x arrival rate), plus one for the arrival
 * that comes first.
 */
export function poolSizeFor(scale: Pick<PoolScale, 'createMs' | 'arrivalEveryMs'>): number {
  return Math.ceil(scale.createMs / scale.arrivalEveryMs) + 1;
}

/**
 * The environment the bench shares with nothing else: an emulator as slow as the scale says and
 * a `pooled` lab beside `demo`. The test template's create waits on its one RandomString (its
 * TestResource takes no time); a resume pauses on both of its resources.
 */
export function poolEnvOptions(scale: PoolScale): BenchEnvOptions {
  return {
    emulatorDelayMs: { create: scale.createMs, action: scale.resumeMs / 2, delete: 50 },
    pool: `{ size: ${poolSizeFor(scale)} }`,
  };
}

export async function benchPool(
  env: BenchEnv,
  scale: PoolScale,
): Promise<{ rows: Row[]; details: Record<string, unknown> }> {
  const poolSize = poolSizeFor(scale);
  const t0 = Date.now();
  const poolReady = await waitForPool(env, poolSize, scale.createMs * 3 + 60_000);
  console.log(
    `[pool] pool of ${poolSize} ready after ${fmt((Date.now() - t0) / 1000)} s (${poolReady} ready)`,
  );

  const outcomes: Record<'pooled' | 'demo', number[]> = { pooled: [], demo: [] };
  const fromPool = { yes: 0, no: 0 };
  const launches: Array<Promise<void>> = [];
  for (let i = 0; i < scale.learners; i++) {
    for (const lab of ['pooled', 'demo'] as const)
      launches.push(
        timeToReady(env, lab, `pool-bench-${lab}-${i}`, scale.waitMs).then((r) => {
          if (r === null) return;
          outcomes[lab].push(r.ms);
          if (lab === 'pooled') fromPool[r.fromPool ? 'yes' : 'no']++;
        }),
      );
    if (i < scale.learners - 1) await new Promise((r) => setTimeout(r, scale.arrivalEveryMs));
    if (i % 5 === 4) console.log(`[pool] ${i + 1}/${scale.learners} learners of each lab arrived`);
  }
  await Promise.all(launches);
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const pooled = sorted(outcomes.pooled);
  const plain = sorted(outcomes.demo);
  const p50 = percentile(pooled, 50);
  const p99 = percentile(pooled, 99);
  const baseP50 = percentile(plain, 50);
  const baseP99 = percentile(plain, 99);

  // A day at this arrival rate: learners' running stack-hours against the pool's suspended
  // stacks, held for the teaching window plus one build ahead of it (the schedule's warmup).
  const arrivalsPerHour = 3_600_000 / scale.arrivalEveryMs;
  const learnerStackHours =
    arrivalsPerHour * DAY.teachingHours * ((DAY.sessionMinutes + DAY.idleTimeoutMinutes) / 60);
  const poolStackHours = poolSize * (DAY.teachingHours + scale.createMs / 3_600_000);
  const extra = poolStackHours / learnerStackHours;

  const notes = `${scale.learners} learners per lab, one of each every ${scale.arrivalEveryMs / 1000} s; emulator create ${scale.createMs / 1000} s, resume ${scale.resumeMs / 1000} s; pool size ${poolSize}; ${fromPool.yes} pooled launches got a pool stack, ${fromPool.no} missed; ready ${pooled.length}/${scale.learners} pooled, ${plain.length}/${scale.learners} without`;
  console.log(`[pool] ${notes}`);
  return {
    rows: [
      row(
        'pool',
        'new learner launch-to-ready p50',
        `${fmt(p50 / 1000, 1)} s`,
        '<= 5 s',
        p50 <= 5000,
        {
          baseline: `${fmt(baseP50 / 1000, 1)} s without a pool`,
          ratio: `${fmt(baseP50 / p50, 1)}x faster`,
          notes,
        },
      ),
      row(
        'pool',
        'new learner launch-to-ready p99',
        `${fmt(p99 / 1000, 1)} s`,
        'report',
        undefined,
        {
          baseline: `${fmt(baseP99 / 1000, 1)} s without a pool`,
          ratio: `${fmt(baseP99 / p99, 1)}x faster`,
        },
      ),
      row(
        'pool',
        'extra stack-hours over a class day',
        `${fmt(extra * 100, 1)}%`,
        '<= 10%',
        extra <= 0.1,
        {
          baseline: `${fmt(learnerStackHours)} learner stack-h`,
          notes: `pool: ${poolSize} suspended stacks x (${DAY.teachingHours} h window + one ${scale.createMs / 1000} s build of warmup) = ${fmt(poolStackHours, 1)} stack-h; learners: ${fmt(arrivalsPerHour)} arrivals/h x ${DAY.teachingHours} h x (${DAY.sessionMinutes} min session + ${DAY.idleTimeoutMinutes} min idleTimeout)`,
        },
      ),
    ],
    details: {
      poolSize,
      fromPool,
      pooledMs: pooled,
      withoutPoolMs: plain,
      day: { ...DAY, learnerStackHours, poolStackHours, extra },
    },
  };
}

/** Waits until the pool has `size` stacks ready (GET /v1/pools); returns how many it has. */
async function waitForPool(env: BenchEnv, size: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let ready = 0;
  while (Date.now() < deadline) {
    const answer = await request(`${env.apiUrl}/v1/pools`, { token: env.adminToken }).catch(
      () => undefined,
    );
    if (answer?.status === 200) {
      const pools = (JSON.parse(answer.body) as { pools: Array<{ lab: string; ready: number }> })
        .pools;
      ready = pools.find((p) => p.lab === 'pooled')?.ready ?? 0;
      if (ready >= size) return ready;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return ready;
}

/**
 * Launches one lab and long-polls it until `ready`: the time from the launch request to the
 * recorded `ready` transition, and whether it came from the pool; null when not ready in time.
 */
async function timeToReady(
  env: BenchEnv,
  lab: string,
  learnerId: string,
  waitMs: number,
): Promise<{ ms: number; fromPool: boolean } | null> {
  const sentAt = Date.now();
  const launched = await request(`${env.apiUrl}/v1/labs`, {
    method: 'POST',
    token: env.serviceToken,
    body: { courseId: COURSE, learnerId, lab },
    timeoutMs: 60_000,
  }).catch(() => undefined);
  if (!launched || launched.status >= 300) {
    console.error(
      `[pool] launch of ${lab} for ${learnerId}: ${launched ? `${launched.status} ${launched.body}` : 'no answer'}`,
    );
    return null;
  }
  const { id } = JSON.parse(launched.body) as { id: string };
  while (Date.now() - sentAt < waitMs) {
    const answer = await request(`${env.apiUrl}/v1/labs/${id}?wait=20`, {
      token: env.serviceToken,
      timeoutMs: 30_000,
    }).catch(() => undefined);
    if (answer?.status === 200) {
      const view = JSON.parse(answer.body) as {
        state: string;
        updatedAt: string;
        fromPool: boolean;
      };
      // updatedAt of a ready lab is when its `ready` transition was recorded.
      if (view.state === 'ready')
        return { ms: Date.parse(view.updatedAt) - sentAt, fromPool: view.fromPool };
    }
  }
  return null;
}
