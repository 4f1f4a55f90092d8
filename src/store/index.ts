import {
  MongoNotConnectedError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type Db,
  type MongoClient,
} from 'mongodb';
import { withDeadline } from '../util/deadline';
import { ActivityStore } from './activity';
import { CapacityStore } from './capacity';
import { ChecksStore } from './checks';
import { DeliveriesStore } from './deliveries';
import { EventsStore } from './events';
import { HostKeysStore } from './host-keys';
import { LabsStore } from './labs';
import { PoolsStore } from './pools';
import { connectMongo } from './mongo';
import { RetentionStore } from './retention';
import { SecretsStore } from './secrets';
import { UsageStore } from './usage';

export { LabsStore, type LabDocument, type LabProjection } from './labs';
export { EventsStore, type LabEvent } from './events';
export { CapacityStore } from './capacity';
export { ActivityStore } from './activity';
export { SecretsStore } from './secrets';
export { HostKeysStore, type HostKeyCheck, type HostKeyDocument } from './host-keys';
export { ChecksStore, type CheckResult, type CheckRunDocument, type CheckRunState } from './checks';
export {
  DeliveriesStore,
  DELIVERY_STATES,
  type DeliveryDocument,
  type DeliveryState,
  type DeliveryUpdate,
} from './deliveries';
export { MAX_TIME_MS, type QueryKind, type QueryOptions } from './deadlines';
export {
  RetentionStore,
  SWEEP_BATCH,
  SWEEP_KINDS,
  type SweepBatch,
  type SweepKind,
} from './retention';
export {
  UsageStore,
  ledgerIdOf,
  type ActiveLine,
  type LedgerLine,
  type LedgerQuery,
  type UsageGrant,
  type UsageOwner,
} from './usage';
export {
  PoolsStore,
  type PoolClaimDocument,
  type PoolStackDocument,
  type PoolSummary,
} from './pools';

/**
 * The product's MongoDB: one module per collection family. The fields are replaced together
 * when the store swaps a stuck client for a new one (see `openStore`), so callers read them at
 * each use and never keep a module or collection of their own.
 */
export interface Store {
  client: MongoClient;
  db: Db;
  labs: LabsStore;
  activity: ActivityStore;
  events: EventsStore;
  capacity: CapacityStore;
  secrets: SecretsStore;
  pools: PoolsStore;
  hostKeys: HostKeysStore;
  checks: ChecksStore;
  deliveries: DeliveriesStore;
  retention: RetentionStore;
  usage: UsageStore;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A client that has stopped reaching the server while a new one reaches it is replaced. Seen in
 * the 30-minute soaks: after one of many restarts of FerretDB, a process's client failed every
 * operation with the same `MongoServerSelectionError: connection N ... closed` for the rest of
 * the run while new clients answered at once; its activities or API calls failed until the
 * process was restarted.
 */
export interface ClientWatch {
  /** How often the store pings through its client. */
  checkEveryMs: number;
  /** After failing this long, the store tries a new client and keeps it if it answers. */
  replaceAfterMs: number;
  /** Told when a client was replaced (the process logs it). */
  onReplaced?: (reason: string) => void;
}

export const DEFAULT_CLIENT_WATCH: ClientWatch = { checkEveryMs: 10_000, replaceAfterMs: 30_000 };

export async function openStore(
  uri: string,
  options: { dbName?: string; timeoutMs?: number; watch?: ClientWatch | false } = {},
): Promise<Store> {
  const modules = ({ client, db }: { client: MongoClient; db: Db }) => ({
    client,
    db,
    labs: new LabsStore(db),
    activity: new ActivityStore(db),
    events: new EventsStore(db),
    capacity: new CapacityStore(db),
    secrets: new SecretsStore(db),
    pools: new PoolsStore(db),
    hostKeys: new HostKeysStore(db),
    checks: new ChecksStore(db),
    deliveries: new DeliveriesStore(db),
    retention: new RetentionStore(db),
    usage: new UsageStore(db),
  });
  const connect = () => connectMongo(uri, options);
  const stopWatching = { now: () => {} };
  const store: Store = {
    ...modules(await connect()),
    async ping() {
      await store.db.command({ ping: 1 });
    },
    close: async () => {
      stopWatching.now();
      await store.client.close();
    },
  };
  await Promise.all([
    store.labs.ensureIndexes(),
    store.events.ensureIndexes(),
    store.capacity.ensureIndexes(),
    store.pools.ensureIndexes(),
    store.checks.ensureIndexes(),
    store.deliveries.ensureIndexes(),
    store.usage.ensureIndexes(),
  ]);
  const watch = options.watch ?? DEFAULT_CLIENT_WATCH;
  if (watch) stopWatching.now = watchClient(store, watch, connect, modules);
  return store;
}

/** Errors of a client that reaches no server (not of a server that answers slowly). */
function clientBroken(err: unknown): boolean {
  return (
    err instanceof MongoServerSelectionError ||
    err instanceof MongoNotConnectedError ||
    err instanceof MongoTopologyClosedError
  );
}

/** Pings through the store's client; replaces it when it fails long enough and a new one answers. */
function watchClient(
  store: Store,
  watch: ClientWatch,
  connect: () => Promise<{ client: MongoClient; db: Db }>,
  modules: (c: { client: MongoClient; db: Db }) => Partial<Store>,
): () => void {
  let failingSince: number | null = null;
  let checking = false;
  let stopped = false;
  // Bounded so a ping that hangs on a wedged server (sockets have no timeout) never stalls the
  // watch; such a timeout is a slow server, not a broken client (see clientBroken).
  const ping = (db: Db) =>
    withDeadline('a ping', watch.checkEveryMs, () => db.command({ ping: 1 }));
  const check = async () => {
    if (checking || stopped) return;
    checking = true;
    try {
      await ping(store.db);
      failingSince = null;
    } catch (err) {
      // A slow server (a ping that times out) is not a stuck client: a new client's ping would
      // answer at once while its commands joined the old ones in the server (a wedged FerretDB
      // in the course bench got five new clients this way). Only a client that fails by itself
      // counts: the soaks' stuck client failed every operation at once with server selection.
      if (!clientBroken(err)) {
        failingSince = null;
        return;
      }
      failingSince ??= Date.now();
      if (Date.now() - failingSince < watch.replaceAfterMs) return;
      const fresh = await connect().catch(() => null);
      const answers = fresh
        ? await ping(fresh.db).then(
            () => true,
            () => false,
          )
        : false;
      if (!fresh || !answers || stopped) {
        // The server is down for every client, or we are closing: nothing to replace.
        await fresh?.client.close().catch(() => undefined);
        return;
      }
      const old = store.client;
      Object.assign(store, modules(fresh));
      failingSince = null;
      watch.onReplaced?.((err as Error).message);
      await old.close().catch(() => undefined);
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), watch.checkEveryMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
