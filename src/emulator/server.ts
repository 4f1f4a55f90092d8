import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleAdmin, type RequestCounts } from './admin-api';
import { EmulatorAdminClient } from './admin-client';
import { StackEngine } from './engine';
import { faultReply, FaultTable, type FaultRule } from './faults';
import { HeatApi } from './heat-api';
import {
  HttpFailure,
  json,
  keystoneUnauthorized,
  parseJsonBody,
  readBody,
  type Reply,
} from './http-util';
import { KeystoneEmulator, type EmulatorAppCredential, type EmulatorUser } from './keystone-api';
import type { EmulatorSettings } from './model';
import { DebouncedWriter, loadState } from './persist';
import { SshGateway, type EmulatorLogger } from './ssh/gateway';

export interface EmulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** The base URL put in the catalog and in Location headers; default http://host:port. */
  publicUrl?: string;
  /** Per resource create time (default 50 ms). */
  createDelayMs?: number;
  actionDelayMs?: number;
  deleteDelayMs?: number;
  /** Multiplies TestResource waits (default 1: real seconds). */
  waitScale?: number;
  /** Heat's max_stacks_per_tenant (default -1: none). */
  maxStacksPerProject?: number;
  /** Load at start and save (debounced) on change. */
  stateFile?: string;
  /** Bearer token of /_admin; generated when absent. */
  adminToken?: string;
  /** Accepted users; any name/password when absent. */
  users?: EmulatorUser[];
  applicationCredentials?: EmulatorAppCredential[];
  /** Default RegionOne. */
  region?: string;
  /** Default one hour. */
  tokenTtlMs?: number;
  /**
   * The emulator's own files: the SSH host key and each Shell stack's home (`homes/<stack id>`).
   * Default: a temporary folder, removed at close.
   */
  dataDir?: string;
  /** Serve OS::Emulator::Shell resources with an SSH gateway on 127.0.0.1 (default true). */
  ssh?: boolean;
  /** The gateway's port; default the one it had last time in dataDir if free, else a free one. */
  sshPort?: number;
  /** SSH logins and their refusals; silent when absent. */
  logger?: EmulatorLogger;
}

export interface RunningEmulator {
  /** http://host:port */
  url: string;
  /** Keystone v3 auth URL: `${url}/v3`. */
  authUrl: string;
  region: string;
  adminToken: string;
  admin: EmulatorAdminClient;
  /** The SSH gateway's port on 127.0.0.1 (OS::Emulator::Shell); undefined when `ssh: false`. */
  sshPort?: number;
  /** The folder of a stack's home behind the gateway (it may not exist); undefined without SSH. */
  homeOf(stackId: string): string | undefined;
  close(): Promise<void>;
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'RegionOne';
  const adminToken = options.adminToken ?? randomBytes(24).toString('base64url');
  const settings: EmulatorSettings = {
    createDelayMs: options.createDelayMs ?? 50,
    actionDelayMs: options.actionDelayMs ?? 10,
    deleteDelayMs: options.deleteDelayMs ?? 10,
    waitScale: options.waitScale ?? 1,
    maxStacksPerProject: options.maxStacksPerProject ?? -1,
  };
  const initialSettings = { ...settings };
  let base = options.publicUrl ?? '';
  const counts: RequestCounts = { total: 0, keystone: 0, heat: 0, byRoute: {} };
  // Requests held by a hang outage, by rule: dropped when it ends, or when it is removed earlier.
  const held = new Map<number, Set<Socket>>();
  const dropHeld = (ids: number[]): void => {
    for (const id of ids) {
      for (const socket of held.get(id) ?? []) socket.destroy();
      held.delete(id);
    }
  };
  const faults = new FaultTable(Date.now, dropHeld);
  const keystone = new KeystoneEmulator({
    users: options.users,
    applicationCredentials: options.applicationCredentials,
    region,
    tokenTtlMs: options.tokenTtlMs ?? 3_600_000,
  });
  let writer: DebouncedWriter | undefined;
  const engine = new StackEngine(settings, () => writer?.schedule());
  if (options.stateFile) {
    const saved = loadState(options.stateFile);
    if (saved) {
      engine.stacks.push(...saved.stacks);
      for (const [token, info] of saved.tokens) keystone.tokens.set(token, info);
      engine.deletions.load(saved.deletions ?? []);
    }
    writer = new DebouncedWriter(options.stateFile, () => ({
      version: 1,
      stacks: engine.stacks,
      tokens: [...keystone.tokens.entries()],
      deletions: engine.deletions.list(),
    }));
  }
  let gateway: SshGateway | undefined;
  let temporaryDir: string | undefined;
  if (options.ssh !== false) {
    const dataDir = options.dataDir ?? (temporaryDir = mkdtempSync(join(tmpdir(), 'emulator-')));
    gateway = await SshGateway.start({
      engine,
      dataDir,
      port: options.sshPort,
      logger: options.logger,
    });
    engine.shells = gateway;
    gateway.adopt();
  }
  const heat = new HeatApi(engine, () => base);

  const count = (service: 'keystone' | 'heat', route: string): void => {
    counts.total++;
    counts[service]++;
    counts.byRoute[route] = (counts.byRoute[route] ?? 0) + 1;
  };

  const route = (req: IncomingMessage, path: string, body: unknown): Reply => {
    const method = req.method ?? 'GET';
    const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (segments.length === 0 && method === 'GET') {
      count('heat', 'versions');
      return json(300, {
        versions: [
          { id: 'v1.0', status: 'CURRENT', links: [{ rel: 'self', href: `${base}/v1/` }] },
        ],
      });
    }
    if (segments[0] === 'v3') {
      const rest = segments.slice(1).join('/');
      if (rest === '' && method === 'GET') {
        count('keystone', 'keystone.version');
        return keystone.versionDocument(base);
      }
      if (rest === 'auth/tokens' && method === 'POST') {
        count('keystone', 'keystone.tokens');
        return keystone.issue(base, body);
      }
      count('keystone', 'unknown');
      return json(404, { error: { code: 404, message: 'Not Found', title: 'Not Found' } });
    }
    if (segments[0] === 'v1') {
      const header = req.headers['x-auth-token'];
      const token = keystone.check(Array.isArray(header) ? header[0] : header);
      if (!token) {
        count('heat', 'unauthorized');
        return keystoneUnauthorized(base);
      }
      const accept = req.headers.accept ?? '';
      let routed: { route: string; reply: Reply };
      try {
        routed = heat.handle({
          method,
          segments: segments.slice(1),
          query: new URL(req.url ?? '/', 'http://x').searchParams,
          body,
          token,
          acceptsJson: accept.includes('application/json'),
        });
      } catch (error) {
        count('heat', 'error');
        throw error;
      }
      count('heat', routed.route);
      return routed.reply;
    }
    return json(404, { error: { message: 'Not Found' } });
  };

  const write = (res: ServerResponse, reply: Reply): void => {
    const headers: Record<string, string> = { ...reply.headers };
    let payload = '';
    if (reply.text !== undefined) {
      payload = reply.text;
    } else if (reply.status !== 204 && (reply.json !== undefined || reply.status === 200)) {
      payload = JSON.stringify(reply.json ?? null);
      headers['Content-Type'] ??= 'application/json';
    }
    headers['X-Openstack-Request-Id'] = `req-${randomBytes(16).toString('hex')}`;
    res.writeHead(reply.status, headers);
    res.end(payload);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const text = await readBody(req);
    if (path.startsWith('/_admin/')) {
      const auth = req.headers.authorization ?? '';
      if (!constantTimeEqual(auth, `Bearer ${adminToken}`)) {
        return write(res, json(401, { error: { message: 'admin token required' } }));
      }
      const segments = path
        .slice('/_admin/'.length)
        .split('/')
        .filter(Boolean)
        .map(decodeURIComponent);
      return write(
        res,
        handleAdmin(
          { engine, faults, keystone, counts, initialSettings },
          method,
          segments,
          parseJsonBody(text),
        ),
      );
    }
    const rule = faults.take(method, path);
    const fault = rule?.fault;
    const isKeystone = path.startsWith('/v3');
    if (fault) {
      const key = `${rule.until === undefined ? 'fault' : 'outage'}.${fault.kind}`;
      counts.byRoute[key] = (counts.byRoute[key] ?? 0) + 1;
    }
    if (fault && !('afterHandling' in fault && fault.afterHandling)) {
      if (fault.kind === 'latency') await new Promise((r) => setTimeout(r, fault.ms));
      else return applyFault(rule, res, isKeystone, true);
    }
    let reply: Reply;
    try {
      reply = route(req, path, text === '' ? undefined : parseJsonBody(text));
    } catch (error) {
      if (!(error instanceof HttpFailure)) throw error;
      reply = error.reply;
    }
    if (fault && fault.kind !== 'latency') return applyFault(rule, res, isKeystone, false);
    write(res, reply);
  };

  const applyFault = (
    rule: FaultRule,
    res: ServerResponse,
    isKeystone: boolean,
    counted: boolean,
  ): void => {
    const { fault } = rule;
    if (counted) {
      counts.total++;
      counts[isKeystone ? 'keystone' : 'heat']++;
    }
    if (fault.kind === 'hang') {
      // Closed by the client's timeout, or by close(); one hung by an outage is dropped when the
      // outage ends, as a load balancer drops what it held, so hung sockets do not outlive it.
      const socket = res.socket;
      if (rule.until === undefined || !socket) return;
      let sockets = held.get(rule.id);
      if (!sockets) {
        sockets = new Set<Socket>();
        held.set(rule.id, sockets);
        setTimeout(() => dropHeld([rule.id]), Math.max(0, rule.until - Date.now())).unref();
      }
      sockets.add(socket);
      socket.once('close', () => held.get(rule.id)?.delete(socket));
      return;
    }
    if (fault.kind === 'reset') {
      res.socket?.destroy();
      return;
    }
    if (fault.kind === 'unauthorized') return write(res, keystoneUnauthorized(base));
    const reply = faultReply(fault, isKeystone);
    if (reply) write(res, reply);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof HttpFailure) return write(res, error.reply);
      const message = error instanceof Error ? error.message : String(error);
      if (!res.headersSent)
        write(
          res,
          json(500, {
            code: 500,
            title: 'Internal Server Error',
            explanation: '',
            error: { type: 'EmulatorError', traceback: null, message },
          }),
        );
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
  } catch (error) {
    await gateway?.close();
    if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  base =
    options.publicUrl?.replace(/\/+$/, '') ??
    `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  engine.resumeInterrupted();

  return {
    url: base,
    authUrl: `${base}/v3`,
    region,
    adminToken,
    admin: new EmulatorAdminClient(base, adminToken),
    sshPort: gateway?.port,
    homeOf: (stackId) => gateway?.homeOf(stackId),
    close: async () => {
      engine.close();
      writer?.flush();
      server.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => server.close(() => resolve())),
        gateway?.close(),
      ]);
      if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
    },
  };
}
