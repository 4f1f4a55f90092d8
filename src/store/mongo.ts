import { MongoClient, type Db } from 'mongodb';

/**
 * Connects with deadlines on every operation: a Mongo that is down answers as an error within
 * seconds, never a hang. The database name comes from the URI path (default "labs").
 */
export async function connectMongo(
  uri: string,
  options: { timeoutMs?: number; dbName?: string } = {},
): Promise<{ client: MongoClient; db: Db }> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const client = new MongoClient(uri, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    // No socket timeout: a timed-out socket is closed but the server goes on with its command,
    // and the retry adds another. On a slow FerretDB v1 that multiplied the commands in flight
    // past its 100 pooled connections and it never answered again (the course bench). Callers
    // bound their waits instead (the API's deadlines, the activities' timeouts), and at most
    // maxPoolSize commands per process ever reach the server; a dead server resets the sockets.
    socketTimeoutMS: 0,
    // Few connections: FerretDB v1 on SQLite stalled (writes blocked for minutes) under a
    // 100-lab launch storm with 50 per process, and completed it with 5 or 10.
    maxPoolSize: 10,
  });
  await client.connect();
  const dbName =
    options.dbName ??
    (new URL(uri.replace(/^mongodb(\+srv)?:/, 'http:')).pathname.replace(/^\//, '') || 'labs');
  return { client, db: client.db(dbName) };
}
