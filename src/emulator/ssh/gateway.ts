import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  Server,
  type AuthContext,
  type AuthenticationType,
  type Connection,
  type ParsedKey,
  type Session,
} from 'ssh2';
import { evaluateOrNull, type EvalContext } from '../evaluate';
import { isRecord } from '../http-util';
import { stackStatus, type EmuResource, type EmuStack, type ShellHost } from '../model';
import { SHELL_TYPE } from '../resource-types';
import { generateSshKeyPair, parsePublicKey, sameBytes } from './keys';
import { DEFAULT_TERMINAL, LearnerProcess, type TerminalRequest } from './shell';

/** pino-compatible; the emulator logs only what a person running it locally wants to see. */
export interface EmulatorLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface SshGatewayOptions {
  /** The stacks whose Shell resources can be logged into. */
  engine: {
    readonly stacks: EmuStack[];
    evalContext(stack: EmuStack): EvalContext;
  };
  /** Host key, last port, and `homes/<stack id>`. */
  dataDir: string;
  /** Default: the port of the last run in dataDir when free, else any free port. */
  port?: number;
  logger?: EmulatorLogger;
}

const HOST = '127.0.0.1';
const METHODS: AuthenticationType[] = ['publickey', 'password'];
/** Stack states in which its servers do not run: its credentials log nobody in. */
const NOT_RUNNING = new Set([
  'SUSPEND_IN_PROGRESS',
  'SUSPEND_COMPLETE',
  'DELETE_IN_PROGRESS',
  'DELETE_COMPLETE',
  'DELETE_FAILED',
  'ROLLBACK_IN_PROGRESS',
  'ROLLBACK_COMPLETE',
  'ROLLBACK_FAILED',
]);
/** Stack states after which its resources are gone, and so is its home. */
const GONE = new Set(['DELETE_COMPLETE', 'ROLLBACK_COMPLETE']);

interface LiveShell {
  stack: EmuStack;
  publicKey?: ParsedKey;
  password?: string;
}

interface Login {
  stack: EmuStack;
  user: string;
  processes: Set<LearnerProcess>;
}

const silent: EmulatorLogger = { info: () => undefined, warn: () => undefined };

/**
 * One SSH server per emulator: a login is accepted when its key or password is the one of
 * exactly one running stack's `OS::Emulator::Shell`, and lands in a real bash in that stack's
 * home folder. Any user name is accepted (the lab's configuration names one).
 */
export class SshGateway implements ShellHost {
  private readonly logins = new Map<Connection, Login>();
  private readonly sockets = new Set<Socket>();
  private readonly log: EmulatorLogger;
  private closed = false;

  private constructor(
    private readonly options: SshGatewayOptions,
    private readonly listener: NetServer,
    readonly port: number,
  ) {
    this.log = options.logger ?? silent;
  }

  static async start(options: SshGatewayOptions): Promise<SshGateway> {
    mkdirSync(join(options.dataDir, 'homes'), { recursive: true, mode: 0o700 });
    const ssh = new Server({ hostKeys: [hostKey(options.dataDir)] });
    const listener = createServer();
    const port = await listen(listener, options.port ?? lastPort(options.dataDir));
    writeFileSync(join(options.dataDir, 'ssh-gateway.json'), JSON.stringify({ port }));
    const gateway = new SshGateway(options, listener, port);
    ssh.on('connection', (client) => gateway.serve(client));
    listener.on('connection', (socket) => {
      if (gateway.closed) return socket.destroy();
      gateway.sockets.add(socket);
      socket.once('close', () => gateway.sockets.delete(socket));
      ssh.injectSocket(socket);
    });
    return gateway;
  }

  /** Where the learner's files of `stackId` live. */
  homeOf(stackId: string): string {
    return join(this.options.dataDir, 'homes', stackId);
  }

  /**
   * After a restart: Shell resources show this run's port, and homes of stacks that are gone
   * (deleted while the emulator was down, or forgotten) are removed.
   */
  adopt(): void {
    const live = new Set<string>();
    for (const stack of this.options.engine.stacks) {
      if (GONE.has(stackStatus(stack))) continue;
      live.add(stack.id);
      for (const resource of stack.resources)
        if (resource.type === SHELL_TYPE && 'port' in resource.attributes)
          resource.attributes.port = this.port;
    }
    for (const id of readdirSync(join(this.options.dataDir, 'homes')))
      if (!live.has(id)) this.removeHome(id);
  }

  refusal(name: string, properties: Record<string, unknown>): string | undefined {
    const { public_key: publicKey, password } = properties;
    if (!nonEmpty(publicKey) && !nonEmpty(password))
      return `Property error: resources.${name}.properties: give public_key or password`;
    if (nonEmpty(publicKey) && !parsePublicKey(publicKey))
      return `Property error: resources.${name}.properties.public_key: not an OpenSSH or PEM public key`;
    return undefined;
  }

  shellCreated(stack: EmuStack): void {
    mkdirSync(this.homeOf(stack.id), { recursive: true, mode: 0o700 });
  }

  stackChanged(stack: EmuStack): void {
    if (!stack.resources.some((r) => r.type === SHELL_TYPE)) return;
    const status = stackStatus(stack);
    if (!NOT_RUNNING.has(status)) return;
    for (const [connection, login] of this.logins) {
      if (login.stack.id !== stack.id) continue;
      this.log.info({ stackId: stack.id, stackName: stack.name, status }, 'ssh session closed');
      this.endLogin(connection, login);
    }
    if (GONE.has(status)) this.removeHome(stack.id);
  }

  stacksCleared(): void {
    for (const [connection, login] of this.logins) this.endLogin(connection, login);
    for (const id of readdirSync(join(this.options.dataDir, 'homes'))) this.removeHome(id);
  }

  /** Stops listening, ends every session and waits (a few seconds at most) for their shells. */
  async close(): Promise<void> {
    this.closed = true;
    const exits: Array<Promise<void>> = [];
    for (const [connection, login] of this.logins) {
      for (const process of login.processes) exits.push(process.exited);
      this.endLogin(connection, login);
    }
    for (const socket of this.sockets) socket.destroy();
    await Promise.race([
      Promise.all(exits),
      new Promise((resolve) => setTimeout(resolve, 3000).unref()),
    ]);
    await new Promise<void>((resolve) => this.listener.close(() => resolve()));
  }

  // ---- one client ----

  private serve(client: Connection): void {
    let login: Login | undefined;
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      const shell = this.shellFor(ctx);
      if (!shell) {
        if (ctx.method === 'password' || (ctx.method === 'publickey' && ctx.signature))
          this.log.info({ username: ctx.username, method: ctx.method }, 'ssh login refused');
        return ctx.reject(METHODS);
      }
      // A public key without a signature is the client asking whether to sign: it may.
      if (ctx.method === 'password' || (ctx.method === 'publickey' && ctx.signature)) {
        login = { stack: shell.stack, user: ctx.username, processes: new Set() };
        this.log.info(
          {
            stackId: shell.stack.id,
            stackName: shell.stack.name,
            username: ctx.username,
            method: ctx.method,
          },
          'ssh login',
        );
      }
      ctx.accept();
    });
    client.on('ready', () => {
      if (!login || this.closed) return client.end();
      const current = login;
      this.logins.set(client, current);
      client.on('session', (accept) => this.session(accept(), current));
    });
    client.on('close', () => {
      if (!login) return;
      for (const process of login.processes) process.kill();
      this.logins.delete(client);
    });
  }

  private session(session: Session, login: Login): void {
    let terminal: TerminalRequest | undefined;
    let running: LearnerProcess | undefined;
    const start = (make: (spec: { home: string; user: string }) => LearnerProcess): void => {
      const home = this.homeOf(login.stack.id);
      mkdirSync(home, { recursive: true, mode: 0o700 });
      running = make({ home, user: login.user });
      login.processes.add(running);
      const started = running;
      void started.exited.then(() => login.processes.delete(started));
    };
    session.on('pty', (accept, _reject, info) => {
      terminal = {
        term: info.term || DEFAULT_TERMINAL.term,
        rows: info.rows || DEFAULT_TERMINAL.rows,
        cols: info.cols || DEFAULT_TERMINAL.cols,
      };
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      if (terminal) terminal = { ...terminal, rows: info.rows, cols: info.cols };
      running?.resize(info.rows, info.cols);
      accept?.();
    });
    session.on('shell', (accept, reject) => {
      if (running) return reject?.();
      start((spec) => LearnerProcess.shell(accept(), spec, terminal ?? DEFAULT_TERMINAL));
    });
    session.on('exec', (accept, reject, info) => {
      if (running) return reject?.();
      start((spec) => LearnerProcess.exec(accept(), spec, info.command));
    });
  }

  private endLogin(connection: Connection, login: Login): void {
    for (const process of login.processes) process.kill();
    this.logins.delete(connection);
    connection.end();
  }

  // ---- credentials ----

  /** The running stack these credentials belong to: exactly one, or none. */
  private shellFor(ctx: AuthContext): LiveShell | undefined {
    let matches: LiveShell[];
    if (ctx.method === 'password') {
      matches = this.liveShells().filter(
        (s) => s.password !== undefined && sameBytes(s.password, ctx.password),
      );
    } else if (ctx.method === 'publickey') {
      matches = this.liveShells().filter(
        (s) => s.publicKey !== undefined && sameBytes(s.publicKey.getPublicSSH(), ctx.key.data),
      );
    } else {
      return undefined;
    }
    const [match, ...others] = matches;
    if (!match) return undefined;
    if (others.length > 0) {
      const stacks = matches.map((m) => m.stack.name);
      this.log.warn({ stacks, method: ctx.method }, 'ssh credentials shared by several stacks');
      return undefined;
    }
    if (ctx.method === 'publickey' && ctx.signature && ctx.blob) {
      const signed = match.publicKey?.verify(ctx.blob, ctx.signature, ctx.hashAlgo);
      if (signed !== true) return undefined;
    }
    return match;
  }

  private liveShells(): LiveShell[] {
    const shells: LiveShell[] = [];
    for (const stack of this.options.engine.stacks) {
      if (NOT_RUNNING.has(stackStatus(stack))) continue;
      for (const resource of stack.resources) {
        if (resource.type !== SHELL_TYPE || !created(resource)) continue;
        const properties = evaluateOrNull(
          resource.properties,
          this.options.engine.evalContext(stack),
        );
        if (!isRecord(properties)) continue;
        const { public_key: publicKey, password } = properties;
        shells.push({
          stack,
          publicKey: nonEmpty(publicKey) ? parsePublicKey(publicKey) : undefined,
          password: nonEmpty(password) ? password : undefined,
        });
      }
    }
    return shells;
  }

  private removeHome(stackId: string): void {
    rm(this.homeOf(stackId), { recursive: true, force: true }).catch((err: Error) =>
      this.log.warn({ stackId, err: err.message }, 'could not remove a stack home'),
    );
  }
}

const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value !== '';

const created = (resource: EmuResource): boolean =>
  resource.physicalId !== '' && resource.action !== 'INIT' && resource.action !== 'DELETE';

/** The host key of this data dir: generated once, so clients see the same host after a restart. */
function hostKey(dataDir: string): string {
  const file = join(dataDir, 'ssh_host_ed25519_key');
  try {
    return readFileSync(file, 'utf8');
  } catch {
    const { privateKey } = generateSshKeyPair('lab-emulator');
    writeFileSync(file, privateKey, { mode: 0o600 });
    return privateKey;
  }
}

function lastPort(dataDir: string): number {
  try {
    const saved: unknown = JSON.parse(readFileSync(join(dataDir, 'ssh-gateway.json'), 'utf8'));
    return isRecord(saved) && typeof saved.port === 'number' ? saved.port : 0;
  } catch {
    return 0;
  }
}

/** Listens on `port`, or on any free port when that one is taken. */
async function listen(server: NetServer, port: number): Promise<number> {
  const attempt = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await attempt(port);
  } catch (error) {
    if (port === 0 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    await attempt(0);
  }
  return (server.address() as AddressInfo).port;
}
