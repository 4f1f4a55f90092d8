import type { CommandStartedEvent, MongoServerError } from 'mongodb';
import { DEFAULT_DEADLINES } from '../../src/api/dependencies';
import { SecretBox } from '../../src/secrets/envelope';
import { openStore, SWEEP_KINDS, type Store } from '../../src/store';
import type { QueryOptions } from '../../src/store';
import { testServers, uniqueDbName } from '../support/servers';

/** Commands that run a query or write on the server (not handshakes, pings or index builds). */
const QUERIES = new Set([
  'find',
  'aggregate',
  'count',
  'insert',
  'update',
  'delete',
  'findAndModify',
]);

/** Store activities' startToCloseTimeout (workflows/activity-proxies.ts). */
const STORE_ACTIVITY_TIMEOUT_MS = 30_000;

describe('every query of the store carries the deadline of its caller (maxTimeMS)', () => {
  let store: Store;
  let seen: CommandStartedEvent[] = [];
  const box = new SecretBox([{ id: 'k1', key: Buffer.alloc(32, 1) }]);
  const LAB = `lab_${'d'.repeat(26)}`;

  beforeAll(async () => {
    const uri = new URL(testServers().mongoUri);
    uri.searchParams.set('monitorCommands', 'true');
    store = await openStore(uri.toString(), { dbName: uniqueDbName('deadlines'), watch: false });
    store.client.on('commandStarted', (e: CommandStartedEvent) => {
      if (QUERIES.has(e.commandName)) seen.push(e);
    });
  });
  afterAll(() => store.close());

  /** The maxTimeMS of every query `call` sent; fails when one went without. */
  const limitsOf = async (call: () => Promise<unknown>): Promise<number[]> => {
    seen = [];
    await call();
    expect(seen.length).toBeGreaterThan(0);
    return seen.map((e) => {
      const ms = e.command.maxTimeMS as number | undefined;
      if (!(typeof ms === 'number' && ms > 0))
        throw new Error(`${e.commandName} without maxTimeMS: ${JSON.stringify(e.command)}`);
      return ms;
    });
  };

  const now = new Date();
  const projection = {
    labId: LAB,
    courseId: 'course-v1:Org+D+1',
    learnerId: 'anon-d',
    lab: 'demo',
    state: 'ready' as const,
    generation: 1,
    provider: 'cloud-a',
    stack: null,
    outputs: {},
    error: null,
    lifeStartedAt: now,
    readyAt: now,
    suspendedAt: null,
    deletedAt: null,
    seq: 1,
  };
  const secret = { password: box.seal('pw', { labId: LAB, generation: 1, name: 'password' }) };
  const claim = {
    _id: 'pool-demo-s0-g1',
    claimant: `${LAB}:g1`,
    lab: 'demo',
    labId: LAB,
    provider: 'cloud-a',
    stack: { id: 'x', name: 'pool-demo-s0-g1', status: 'SUSPEND_COMPLETE', statusReason: '' },
    at: now,
  };
  const poolStack = {
    _id: 'pool-demo-s0-g1',
    lab: 'demo',
    slot: 0,
    generation: 1,
    provider: 'cloud-a',
    stack: null,
    state: 'ready' as const,
    buildStartedAt: now,
    readyAt: now,
    endedAt: null,
  };

  /** What the API calls while it serves a request, and what it passes. */
  const requestCalls: Array<[string, (o?: QueryOptions) => Promise<unknown>]> = [
    ['labs.get', (o) => store.labs.get(LAB, o)],
    ['activity.lastActivityAt', (o) => store.activity.lastActivityAt(LAB, o)],
    ['activity.many', (o) => store.activity.many([LAB], o)],
    ['activity.recordMany', (o) => store.activity.recordMany([[LAB, new Date()]], o)],
    ['events.recent', (o) => store.events.recent(LAB, 20, o)],
    ['secrets.get', (o) => store.secrets.get(LAB, o)],
    ['pools.summary', (o) => store.pools.summary('demo', o)],
    ['pools.heldByProvider', (o) => store.pools.heldByProvider(o)],
  ];
  /** What activities call. */
  const activityCalls: Array<[string, (o?: QueryOptions) => Promise<unknown>]> = [
    ['labs.project', (o) => store.labs.project(projection, now, o)],
    ['labs.setProgress', (o) => store.labs.setProgress(LAB, 1, { done: 1, total: 2 }, now, o)],
    ['activity.record', (o) => store.activity.record(LAB, now, o)],
    [
      'events.record',
      (o) =>
        store.events.record(
          {
            _id: `${LAB}:1`,
            labId: LAB,
            at: now,
            from: null,
            to: 'ready',
            generation: 1,
            provider: 'cloud-a',
            reason: 'test',
            error: null,
          },
          o,
        ),
    ],
    ['secrets.put', (o) => store.secrets.put(LAB, 1, secret, now, o)],
    ['pools.record', (o) => store.pools.record(poolStack, o)],
    ['pools.get', (o) => store.pools.get('pool-demo-s0-g1', o)],
    ['pools.readyStacks', (o) => store.pools.readyStacks('demo', o)],
    ['pools.claim', (o) => store.pools.claim(claim, o)],
    ['pools.claimOf', (o) => store.pools.claimOf('pool-demo-s0-g1', o)],
    ['pools.claimBy', (o) => store.pools.claimBy(`${LAB}:g1`, o)],
    ['pools.confirm', (o) => store.pools.confirm('pool-demo-s0-g1', o)],
    ['pools.reject', (o) => store.pools.reject('pool-demo-s0-g1', o)],
    ['pools.recordMiss', (o) => store.pools.recordMiss(`${LAB}:g2`, 'demo', now, o)],
    ['secrets.remove', (o) => store.secrets.remove(LAB, o)],
    // The maintenance workflow's activity: a batch of each kind.
    ...SWEEP_KINDS.map((kind): [string, (o?: QueryOptions) => Promise<unknown>] => [
      `retention.sweep(${kind})`,
      (o) => store.retention.sweep(kind, new Date(), null, o),
    ]),
  ];

  it.each(requestCalls.map(([name, call]) => [name, call] as const))(
    '%s (an API request): by default within the request deadline, or what the caller passes',
    async (_name, call) => {
      for (const ms of await limitsOf(() => call()))
        expect(ms).toBeLessThanOrEqual(DEFAULT_DEADLINES.mongoMs);
      for (const ms of await limitsOf(() => call({ maxTimeMS: 1234 }))) expect(ms).toBe(1234);
    },
  );

  it.each(activityCalls.map(([name, call]) => [name, call] as const))(
    '%s (an activity): by default the server gives up before Temporal retries, or what the caller passes',
    async (_name, call) => {
      for (const ms of await limitsOf(() => call()))
        expect(ms).toBeLessThan(STORE_ACTIVITY_TIMEOUT_MS);
      for (const ms of await limitsOf(() => call({ maxTimeMS: 4321 }))) expect(ms).toBe(4321);
    },
  );

  it('a deadline already spent still bounds the query (never 0, which means no limit)', async () => {
    // The query goes with a 1 ms limit, which it may well exceed (FerretDB on PostgreSQL took
    // longer than that in a CI run: "operation exceeded time limit"): what matters is what was sent.
    const spent = (maxTimeMS: number) => () =>
      store.labs.get(LAB, { maxTimeMS }).catch((err: Error) => {
        if (!/exceeded time limit/i.test(err.message)) throw err;
      });
    for (const ms of await limitsOf(spent(0))) expect(ms).toBeGreaterThan(0);
    for (const ms of await limitsOf(spent(-5))) expect(ms).toBeGreaterThan(0);
  });

  it('the server honours maxTimeMS on reads and accepts it on writes', async () => {
    // FerretDB v1.24 stops a find or count past its maxTimeMS (MaxTimeMSExpired, code 50) and
    // accepts it, without stopping, on insert, update and delete; MongoDB honours it on all.
    const big = store.db.collection<{ _id: string; n: number; pad: string }>('big');
    for (let i = 0; i < 20; i++)
      await big.insertMany(
        Array.from({ length: 1000 }, (_, j) => ({
          _id: `d${i * 1000 + j}`,
          n: j,
          pad: 'x'.repeat(200),
        })),
      );
    const slow = { pad: { $regex: 'y' }, n: { $gte: 0 } };
    const refused = await big
      .find(slow, { maxTimeMS: 1 })
      .toArray()
      .then(
        () => null,
        (err: MongoServerError) => err,
      );
    expect(refused?.code).toBe(50);
    expect(await big.find(slow, { maxTimeMS: 60_000 }).toArray()).toEqual([]);
    await big.updateOne({ _id: 'd1' }, { $set: { n: -1 } }, { maxTimeMS: 5_000 });
    await big.deleteOne({ _id: 'd1' }, { maxTimeMS: 5_000 });
    expect(await big.countDocuments({}, { maxTimeMS: 60_000 })).toBe(19_999);
  }, 60_000);
});
