import { MongoClient } from 'mongodb';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/local/child';
import { startMongoServer, type MongoServer } from '../../src/local/mongo-server';
import { readTools } from '../../src/local/tools';
import { testServers } from '../support/servers';
import { within, type Restartable } from './soak';

export interface OwnMongo extends Restartable {
  uri: string;
  /** What the supervisor did on its own: exits and stalls, each with its time. */
  deaths: string[];
  /** The database the supervisor's probe reads and writes: the one the product uses. */
  watch(dbName: string): void;
  close(): Promise<void>;
}

/** How often the supervisor's liveness probe runs, its deadline, and the misses that mean stalled. */
const PROBE_EVERY_MS = 5000;
const PROBE_DEADLINE_MS = 10_000;
const MISSES_TO_RESTART = 3;

/**
 * The soak's own MongoDB-compatible server (the suites' shared one is never killed), same port
 * and data after each kill. It runs under a supervisor, as in production: one that exits on its
 * own is started again, and one that stops answering queries (FerretDB v1 on SQLite sometimes
 * keeps answering `ping`, and queries on other databases, while every query on the product's
 * database waits for one of its 100 pooled SQLite connections, all held by open result sets) is
 * killed and started again. Both are logged: the soak tests the product's recovery, the log says what the
 * dependency did.
 */
export async function ownMongo(log: (line: string) => void): Promise<OwnMongo> {
  const tools = readTools();
  const dir = mkdtempSync(join(testServers().workDir, 'soak-mongo-'));
  const port = await freePort();
  const uri = `mongodb://127.0.0.1:${port}/`;
  const deaths: string[] = [];
  let server: MongoServer | undefined;
  let closing = false;
  let watched = 'soak_supervisor';
  /** One start, kill or supervisor restart at a time. */
  let turn: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(run: () => Promise<T>): Promise<T> => {
    const next = turn.then(run, run);
    turn = next.catch(() => undefined);
    return next;
  };
  const died = (line: string) => {
    deaths.push(`${line} at ${new Date().toISOString()}`);
    log(`soak: ${line}; started again`);
  };

  const start = async () => {
    const started = await startMongoServer({
      tools,
      dataDir: join(dir, 'data'),
      logDir: dir,
      port,
    });
    server = started;
    void started.exited.then((code) => {
      if (server !== started || closing) return;
      died(`${started.kind} exited on its own (code ${code})`);
      void exclusive(async () => {
        if (server === started) await start();
      }).catch((err: Error) => log(`soak: could not start ${started.kind}: ${err.message}`));
    });
  };

  const probeClient = new MongoClient(uri, {
    directConnection: true,
    serverSelectionTimeoutMS: PROBE_DEADLINE_MS,
    socketTimeoutMS: PROBE_DEADLINE_MS,
  });
  /** A read and a write in the product's database: `ping` alone answers while queries hang. */
  const answers = async (): Promise<boolean> => {
    const db = probeClient.db(watched);
    const probes = db.collection<{ _id: string; at: Date }>('supervisor_probe');
    const work = (async () => {
      await db.collection('labs').findOne({}, { maxTimeMS: PROBE_DEADLINE_MS });
      await probes.replaceOne({ _id: 'alive' }, { at: new Date() }, { upsert: true });
      return true;
    })().catch(() => false);
    return (await within(PROBE_DEADLINE_MS, work)) === true;
  };
  let misses = 0;
  const supervise = async () => {
    while (!closing) {
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
      if (closing || !server) {
        misses = 0;
        continue;
      }
      const probed = server;
      misses = (await answers()) ? 0 : misses + 1;
      if (misses < MISSES_TO_RESTART || server !== probed || closing) continue;
      misses = 0;
      died(
        `${probed.kind} stopped answering queries for ${(MISSES_TO_RESTART * PROBE_EVERY_MS) / 1000} s`,
      );
      await exclusive(async () => {
        if (server !== probed) return;
        server = undefined;
        await probed.stop(0);
        await start();
      }).catch((err: Error) => log(`soak: could not restart the stalled server: ${err.message}`));
    }
  };

  await start();
  const supervisor = supervise();
  return {
    uri,
    deaths,
    watch(dbName) {
      watched = dbName;
    },
    kill: () =>
      exclusive(async () => {
        const current = server;
        server = undefined;
        await current?.stop(0);
      }),
    start: () => exclusive(start),
    async close() {
      closing = true;
      await supervisor;
      await probeClient.close();
      await server?.stop();
    },
  };
}
