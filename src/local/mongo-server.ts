import { MongoClient } from 'mongodb';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startChild, waitUntil, type ChildServer } from './child';
import type { Tools } from './tools';

export interface MongoServer extends ChildServer {
  /** A URI without a database name: callers add their own. */
  uri: string;
  kind: 'mongod' | 'ferretdb';
}

/** Starts the local MongoDB-compatible server the tools script provided (mongod, else FerretDB on SQLite). */
export async function startMongoServer(options: {
  tools: Tools;
  dataDir: string;
  logDir: string;
  port?: number;
}): Promise<MongoServer> {
  const port = options.port ?? (await freePort());
  mkdirSync(options.dataDir, { recursive: true });
  let child: ChildServer;
  let kind: MongoServer['kind'];
  if (options.tools.mongod) {
    kind = 'mongod';
    child = startChild(
      'mongod',
      options.tools.mongod,
      ['--bind_ip', '127.0.0.1', '--port', String(port), '--dbpath', options.dataDir, '--quiet'],
      { logFile: join(options.logDir, 'mongod.log') },
    );
  } else if (options.tools.ferretdb) {
    kind = 'ferretdb';
    child = startChild(
      'ferretdb',
      options.tools.ferretdb,
      [
        '--handler=sqlite',
        `--sqlite-url=file:${options.dataDir}/`,
        `--listen-addr=127.0.0.1:${port}`,
        `--state-dir=${options.dataDir}`,
        `--debug-addr=127.0.0.1:${await freePort()}`,
        '--telemetry=disable',
        '--log-level=warn',
      ],
      { logFile: join(options.logDir, 'ferretdb.log') },
    );
  } else {
    throw new Error(
      'no MongoDB-compatible server in .tools/tools.json: set MONGODB_URI or run `npm run tools`',
    );
  }
  const uri = `mongodb://127.0.0.1:${port}/`;
  try {
    await waitUntil(
      `${kind} at 127.0.0.1:${port}`,
      async () => {
        const client = new MongoClient(uri, {
          serverSelectionTimeoutMS: 1000,
          directConnection: true,
        });
        try {
          await client.db('admin').command({ ping: 1 });
          return true;
        } finally {
          await client.close();
        }
      },
      30_000,
      child.exited,
    );
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { ...child, uri, kind };
}
