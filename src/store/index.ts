import type { Db, MongoClient } from 'mongodb';
import { ActivityStore } from './activity';
import { CapacityStore } from './capacity';
import { EventsStore } from './events';
import { LabsStore } from './labs';
import { PoolsStore } from './pools';
import { connectMongo } from './mongo';
import { SecretsStore } from './secrets';

export { LabsStore, type LabDocument, type LabProjection } from './labs';
export { EventsStore, type LabEvent } from './events';
export { CapacityStore } from './capacity';
export { ActivityStore } from './activity';
export { SecretsStore } from './secrets';
export {
  PoolsStore,
  type PoolClaimDocument,
  type PoolStackDocument,
  type PoolSummary,
} from './pools';

/** The product's MongoDB: one module per collection family. */
export interface Store {
  client: MongoClient;
  db: Db;
  labs: LabsStore;
  activity: ActivityStore;
  events: EventsStore;
  capacity: CapacityStore;
  secrets: SecretsStore;
  pools: PoolsStore;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function openStore(
  uri: string,
  options: { dbName?: string; timeoutMs?: number } = {},
): Promise<Store> {
  const { client, db } = await connectMongo(uri, options);
  const store: Store = {
    client,
    db,
    labs: new LabsStore(db),
    activity: new ActivityStore(db),
    events: new EventsStore(db),
    capacity: new CapacityStore(db),
    secrets: new SecretsStore(db),
    pools: new PoolsStore(db),
    async ping() {
      await db.command({ ping: 1 });
    },
    close: () => client.close(),
  };
  await Promise.all([
    store.labs.ensureIndexes(),
    store.events.ensureIndexes(),
    store.capacity.ensureIndexes(),
    store.pools.ensureIndexes(),
  ]);
  return store;
}
