import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { freePort, startChild, waitUntil, type ChildServer } from './child';
import type { Tools } from './tools';

export interface MongoServer extends ChildServer {
  /** A URI without a database name: callers add their own. */
  uri: string;
  kind: 'mongod' | 'ferretdb';
  /** FerretDB's backend (null for mongod). */
  backend: 'postgresql' | 'sqlite' | null;
  /** Why FerretDB runs on SQLite though PostgreSQL was provisioned (null: it does not). */
  fallback: string | null;
  /** PostgreSQL's postmaster under FerretDB (null: no PostgreSQL), e.g. to read its CPU. */
  postmasterPid: number | null;
}

interface Options {
  tools: Tools;
  dataDir: string;
  logDir: string;
  port?: number;
}

/**
 * Starts the local MongoDB-compatible server the tools script provided: mongod, else FerretDB on
 * PostgreSQL (scripts/tools.sh installs it where it can; a PostgreSQL cluster of our own under
 * `dataDir/pg`, on a free 127.0.0.1 port), else FerretDB on SQLite. A data directory that already
 * holds FerretDB's SQLite data stays on SQLite, so `npm start` never loses sight of its labs.
 */
export async function startMongoServer(options: Options): Promise<MongoServer> {
  const port = options.port ?? (await freePort());
  mkdirSync(options.dataDir, { recursive: true });
  const { tools } = options;
  if (tools.mongod) {
    const child = startChild(
      'mongod',
      tools.mongod,
      ['--bind_ip', '127.0.0.1', '--port', String(port), '--dbpath', options.dataDir, '--quiet'],
      { logFile: join(options.logDir, 'mongod.log') },
    );
    return ready({ child, port, kind: 'mongod', backend: null, fallback: null });
  }
  if (!tools.ferretdb) {
    throw new Error(
      'no MongoDB-compatible server in .tools/tools.json: set MONGODB_URI or run `npm run tools`',
    );
  }
  const ferretdb = tools.ferretdb;
  let fallback: string | null = null;
  if (tools.postgresBin) {
    const sqliteData = hasSqliteData(options.dataDir);
    // A cluster that holds data is never swapped for an empty SQLite store (a restart after a
    // kill must find its labs and capacity holders again): its start failing is an error.
    const pgData = existsSync(join(options.dataDir, 'pg', 'PG_VERSION'));
    if (!sqliteData) {
      try {
        return await ferretOnPostgres(ferretdb, tools.postgresBin, port, options);
      } catch (err) {
        if (pgData) throw err;
        fallback = `PostgreSQL did not start (${(err as Error).message})`;
      }
    } else fallback = `${options.dataDir} holds FerretDB's SQLite data`;
  }
  const child = startChild(
    'ferretdb',
    ferretdb,
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
  return ready({ child, port, kind: 'ferretdb', backend: 'sqlite', fallback });
}

/** FerretDB's SQLite handler keeps one `<database>.sqlite` file per database in its directory. */
function hasSqliteData(dataDir: string): boolean {
  return readdirSync(dataDir).some((f) => f.endsWith('.sqlite'));
}

/**
 * FerretDB's PostgreSQL connections (its default is 50). Each update of a bulk write holds one
 * until the whole command ends (ActivityStore.recordMany): a heartbeat flush's activity and
 * learner-active writes, 25 each, took all 50, and the full course bench (1,000 learners) froze
 * for good at 3 requests a second ("Acquire" errors in FerretDB's log, 25 + 24 connections idle
 * after a SELECT on those two collections in pg_stat_activity). With 200, that run peaked at 81.
 */
const FERRETDB_PG_POOL = 200;

/** PostgreSQL, then FerretDB on it; stopping the pair stops FerretDB first. */
async function ferretOnPostgres(
  ferretdb: string,
  bin: string,
  port: number,
  options: Options,
): Promise<MongoServer> {
  const postgres = await startPostgres(bin, join(options.dataDir, 'pg'), options.logDir);
  try {
    const stateDir = join(options.dataDir, 'state');
    mkdirSync(stateDir, { recursive: true });
    const ferret = startChild(
      'ferretdb',
      ferretdb,
      [
        '--handler=postgresql',
        `--postgresql-url=postgres://postgres@127.0.0.1:${postgres.port}/postgres?pool_max_conns=${FERRETDB_PG_POOL}`,
        `--listen-addr=127.0.0.1:${port}`,
        `--state-dir=${stateDir}`,
        `--debug-addr=127.0.0.1:${await freePort()}`,
        '--telemetry=disable',
        '--log-level=warn',
      ],
      { logFile: join(options.logDir, 'ferretdb.log') },
    );
    const pair: ChildServer = {
      name: 'ferretdb',
      pid: ferret.pid,
      exited: Promise.race([ferret.exited, postgres.child.exited]),
      async stop(graceMs) {
        await ferret.stop(graceMs);
        await postgres.child.stop(graceMs);
        await stopPostmaster(join(options.dataDir, 'pg'));
      },
    };
    return await ready({
      child: pair,
      port,
      kind: 'ferretdb',
      backend: 'postgresql',
      fallback: null,
      postmasterPid: postmasterPid(join(options.dataDir, 'pg')),
    });
  } catch (err) {
    await postgres.child.stop();
    throw err;
  }
}

const run = promisify(execFile);
/** PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user. */
const asRoot = process.getuid?.() === 0;
const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;
const asPostgres = (argv: string[]): [string, string[]] =>
  asRoot
    ? ['su', ['postgres', '-s', '/bin/sh', '-c', `exec ${argv.map(quote).join(' ')}`]]
    : [argv[0]!, argv.slice(1)];

/** A PostgreSQL cluster of our own in `dir` (made on first use), on a free 127.0.0.1 port. */
async function startPostgres(
  bin: string,
  dir: string,
  logDir: string,
): Promise<{ child: ChildServer; port: number }> {
  mkdirSync(dir, { recursive: true });
  if (asRoot) {
    await run('chown', ['-R', 'postgres', dir]);
    reachableByOthers(dirname(dir));
  }
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    const [command, args] = asPostgres([
      join(bin, 'initdb'),
      '-D',
      dir,
      '-A',
      'trust',
      '-U',
      'postgres',
    ]);
    await run(command, args);
  }
  const port = await freePort();
  const [command, args] = asPostgres([
    join(bin, 'postgres'),
    '-D',
    dir,
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `max_connections=${FERRETDB_PG_POOL + 20}`,
  ]);
  const child = startChild('postgresql', command, args, {
    logFile: join(logDir, 'postgresql.log'),
  });
  try {
    await waitUntil(`PostgreSQL at 127.0.0.1:${port}`, () => accepts(port), 30_000, child.exited);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { child, port };
}

/**
 * The cluster's postmaster, if it outlived its `su` parent (a stop with no grace): an immediate
 * shutdown (SIGQUIT ends its backends too), so the next start can take the data directory.
 */
async function stopPostmaster(dir: string): Promise<void> {
  const pid = postmasterPid(dir);
  if (pid === null) return;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGQUIT');
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(pid, 'SIGKILL');
}

/** The pid a running cluster in `dir` wrote in its postmaster.pid (null: none). */
function postmasterPid(dir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** The postgres user must reach its cluster's directory: ancestors we made private get o+x. */
function reachableByOthers(dir: string): void {
  for (let d = dir; d !== dirname(d); d = dirname(d)) {
    const { mode, uid } = statSync(d);
    if (uid === 0 && (mode & 0o001) === 0) chmodSync(d, (mode & 0o7777) | 0o001);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Waits until the server answers a ping; stops it if it never does. */
async function ready(server: {
  child: ChildServer;
  port: number;
  kind: MongoServer['kind'];
  backend: MongoServer['backend'];
  fallback: string | null;
  postmasterPid?: number | null;
}): Promise<MongoServer> {
  const { child, port, kind } = server;
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
  const { backend, fallback } = server;
  return { ...child, uri, kind, backend, fallback, postmasterPid: server.postmasterPid ?? null };
}
