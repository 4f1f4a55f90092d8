import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { LabGenerationRow } from '../../store/labs';
import { LAB_ID_PATTERN } from '../../temporal/ids';
import { TerminalTokens } from '../auth/terminal-token';
import {
  ApiError,
  badRequest,
  errorBody,
  forbidden,
  notFound,
  unauthorized,
  unavailable,
} from '../errors';
import type { ApiServices } from '../services';
import { CLOSE, TERMINAL_PATH, TERMINAL_SUBPROTOCOL } from './protocol';
import { TerminalSession, type SessionTarget } from './session';
import { sessionTarget, terminalLab } from './target';

export interface TerminalOptions {
  /** A peer that has not answered the previous ping by the next one is dropped. */
  pingEveryMs: number;
  /** How often the states of labs with open sessions are read (one query for all of them). */
  stateCheckEveryMs: number;
  /** Sessions per lab per API process; one more is closed with 4429. */
  maxSessionsPerLab: number;
}

export const DEFAULT_TERMINAL_OPTIONS: TerminalOptions = {
  pingEveryMs: 30_000,
  stateCheckEveryMs: 2_000,
  maxSessionsPerLab: 3,
};

/** DESIGN's body limit, for a frame: a larger one closes the session (1009). */
const MAX_FRAME_BYTES = 64 * 1024;
/** How long a shutdown waits for close handshakes before dropping the connections. */
const SHUTDOWN_GRACE_MS = 2_000;

const PATH = /^\/v1\/labs\/([^/?]+)\/terminal(?:\?.*)?$/;

/**
 * `GET /v1/labs/{id}/terminal`: the HTTP server's `upgrade` requests, checked in the API's usual
 * order before the upgrade (answered as plain HTTP, with the API's error body): the terminal
 * token (401), its lab and the page's Origin (403), the subprotocol (400), the lab (404), its
 * state (409). A session then bridges the WebSocket to an SSH shell on the lab (TerminalSession)
 * until the learner exits, the page goes, or the lab leaves `ready` (4409).
 */
export class TerminalGateway {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    clientTracking: false,
    // Only ever the protocol's name: the token, the other offered "protocol", is never echoed.
    handleProtocols: (offered) =>
      offered.has(TERMINAL_SUBPROTOCOL) ? TERMINAL_SUBPROTOCOL : false,
  });
  private readonly sessions = new Map<string, Set<TerminalSession>>();
  private readonly options: TerminalOptions;
  private pingTimer: NodeJS.Timeout | undefined;
  private stateTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private closed = false;
  /** Set by ws, synchronously within handleUpgrade, when the handshake itself is malformed. */
  private handshakeRefused: ApiError | null = null;

  constructor(
    private readonly api: ApiServices,
    options: Partial<TerminalOptions> = {},
  ) {
    this.options = { ...DEFAULT_TERMINAL_OPTIONS, ...options };
    this.wss.on('wsClientError', (err: Error, socket: Duplex) => {
      this.handshakeRefused = badRequest(`invalid WebSocket handshake: ${err.message}`, {
        field: null,
        in: 'header',
      });
      refuse(socket, this.handshakeRefused);
    });
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.upgrade(req, socket, head);
    });
  }

  /** Closes every session (1001) and refuses new ones; connections left after a grace are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    clearInterval(this.stateTimer);
    const open = [...this.sessions.values()].flatMap((set) => [...set]);
    for (const session of open) session.end(CLOSE.goingAway, 'the server is shutting down');
    if (open.length > 0)
      setTimeout(() => open.forEach((s) => s.terminate()), SHUTDOWN_GRACE_MS).unref();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const started = process.hrtime.bigint();
    // A client that goes away during the checks must not take the process with it.
    const onError = () => socket.destroy();
    socket.on('error', onError);
    const labId = PATH.exec(req.url ?? '')?.[1];
    let status = 101;
    try {
      if (!labId) throw notFound(`no WebSocket route ${req.url?.split('?')[0] ?? ''}`);
      if (this.closed) throw unavailable('the API is shutting down');
      const { target } = await this.admit(req, labId);
      socket.off('error', onError);
      this.handshakeRefused = null;
      this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, target));
      if (this.handshakeRefused) status = (this.handshakeRefused as ApiError).status;
    } catch (err) {
      const apiError =
        err instanceof ApiError ? err : new ApiError(500, 'internal', 'internal error');
      if (!(err instanceof ApiError))
        this.api.ctx.logger.error({ err, route: TERMINAL_PATH, labId }, 'unhandled error');
      status = apiError.status;
      refuse(socket, apiError);
    } finally {
      this.requestDone(started, status, labId);
    }
  }

  /** The checks before the upgrade, in the API's order; what the session will connect to. */
  private async admit(req: IncomingMessage, labId: string): Promise<{ target: SessionTarget }> {
    const offered = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0);
    const token = offered.find((p) => TerminalTokens.looksLikeOne(p));
    if (!token)
      throw unauthorized('a terminal token is required (offered as a Sec-WebSocket-Protocol)');
    const check = this.api.terminalTokens.verify(token);
    if (!check.ok) throw unauthorized(`the terminal token is ${check.reason}`);
    if (check.labId !== labId) throw forbidden('this terminal token belongs to another lab');
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin))
      throw forbidden(`origin ${origin} may not open a terminal`);
    if (!offered.includes(TERMINAL_SUBPROTOCOL))
      throw badRequest(`offer the ${TERMINAL_SUBPROTOCOL} subprotocol`, {
        field: 'Sec-WebSocket-Protocol',
        in: 'header',
      });
    if (!LAB_ID_PATTERN.test(labId)) throw notFound(`no lab ${labId}`);
    const doc = await terminalLab(this.api, labId);
    return { target: await sessionTarget(this.api, doc, check.readOnly) };
  }

  /** `api.corsOrigins`, as for heartbeats; `"*"` allows any. */
  private originAllowed(origin: string): boolean {
    const allowed = this.api.ctx.config.api.corsOrigins ?? [];
    return allowed.includes('*') || allowed.includes(origin);
  }

  private open(ws: WebSocket, target: SessionTarget): void {
    const { labId } = target;
    const logger = this.api.ctx.logger;
    const set = this.sessions.get(labId) ?? new Set();
    if (this.closed) return ws.close(CLOSE.goingAway, 'the server is shutting down');
    if (set.size >= this.options.maxSessionsPerLab) {
      logger.info({ labId, open: set.size }, 'terminal session refused: too many on this lab');
      return ws.close(
        CLOSE.tooManySessions,
        `this lab has ${set.size} terminal sessions open already`,
      );
    }
    const session: TerminalSession = new TerminalSession(ws, target, {
      checkHostKey: (fingerprint) => this.checkHostKey(target, fingerprint),
      activity: () => {
        this.api.heartbeats.accept(labId).catch(() => undefined);
      },
      lost: (code, reason) => {
        void this.leftReady(target).then((why) => {
          if (why) session.end(CLOSE.labNotReady, why);
          else session.end(code, reason);
        });
      },
      closed: (code, reason) => {
        set.delete(session);
        if (set.size === 0) this.sessions.delete(labId);
        this.api.metrics.terminalSessions.dec();
        logger.info(
          { labId, code, reason, seconds: Math.round((Date.now() - session.openedAt) / 1000) },
          'terminal session closed',
        );
        this.stopTimersWhenIdle();
      },
    });
    set.add(session);
    this.sessions.set(labId, set);
    this.api.metrics.terminalSessions.inc();
    logger.info(
      { labId, generation: target.generation, readOnly: target.readOnly },
      'terminal session opened',
    );
    this.startTimers();
    session.start();
  }

  private async checkHostKey(target: SessionTarget, fingerprint: string) {
    const check = await this.api.deps.mongo('host key', (deadline) =>
      this.api.ctx.store.hostKeys.check(
        target.labId,
        target.generation,
        fingerprint,
        new Date(),
        deadline,
      ),
    );
    if (check.outcome === 'changed')
      this.api.ctx.logger.warn(
        { labId: target.labId, generation: target.generation, fingerprint, pinned: check.pinned },
        "refused a terminal: the lab's SSH host key changed",
      );
    return check;
  }

  /** What the lab is doing if it is no longer ready on the session's stack; null if it is. */
  private async leftReady(target: SessionTarget): Promise<string | null> {
    try {
      const [row] = await this.api.deps.mongo('terminal lab state', (deadline) =>
        this.api.ctx.store.labs.generationsOf([target.labId], deadline),
      );
      return whyNotReady(row, target.generation);
    } catch {
      return null;
    }
  }

  private startTimers(): void {
    this.pingTimer ??= setInterval(() => this.pingAll(), this.options.pingEveryMs);
    this.stateTimer ??= setInterval(() => void this.checkStates(), this.options.stateCheckEveryMs);
  }

  private stopTimersWhenIdle(): void {
    if (this.sessions.size > 0) return;
    clearInterval(this.pingTimer);
    clearInterval(this.stateTimer);
    this.pingTimer = this.stateTimer = undefined;
  }

  private pingAll(): void {
    for (const set of this.sessions.values()) for (const session of set) session.ping();
  }

  /**
   * Sessions on a lab that left `ready`, or whose stack is not theirs any more (a reset done
   * between two checks), are closed with 4409 and what the lab is doing. One query for every
   * lab with open sessions; while MongoDB does not answer, sessions stay open.
   */
  private async checkStates(): Promise<void> {
    if (this.checking || this.sessions.size === 0) return;
    this.checking = true;
    try {
      const ids = [...this.sessions.keys()];
      const rows = await this.api.deps.mongo('terminal lab states', (deadline) =>
        this.api.ctx.store.labs.generationsOf(ids, deadline),
      );
      const found = new Map(rows.map((row) => [row._id, row] as const));
      for (const labId of ids) {
        const row = found.get(labId);
        for (const session of this.sessions.get(labId) ?? []) {
          const why = whyNotReady(row, session.target.generation);
          if (why) session.end(CLOSE.labNotReady, why);
        }
      }
    } catch {
      // Checked again at the next interval.
    } finally {
      this.checking = false;
    }
  }

  /** The access log's line and the request metrics, as for every other route. */
  private requestDone(started: bigint, status: number, labId: string | undefined): void {
    const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
    const labels = {
      route: labId ? TERMINAL_PATH : 'unmatched',
      method: 'GET',
      status: String(status),
    };
    this.api.metrics.requests.inc(labels);
    this.api.metrics.latency.observe(labels, ms / 1000);
    this.api.ctx.logger.info(
      {
        ...labels,
        status,
        ms,
        ...(labId && LAB_ID_PATTERN.test(labId) ? { labId } : {}),
      },
      'request',
    );
  }
}

/** Why a session on `generation` may not go on, for the page to show; null when it may. */
function whyNotReady(row: LabGenerationRow | undefined, generation: number): string | null {
  if (!row) return 'the lab is gone';
  if (row.state !== 'ready') return `the lab is ${row.state}`;
  return row.generation === generation ? null : 'the lab was reset';
}

/** A refusal before the upgrade: a plain HTTP answer with the API's error body, then the end. */
function refuse(socket: Duplex, error: ApiError): void {
  const body = JSON.stringify(errorBody(error));
  const headers = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
    ...error.headers,
  };
  if (!socket.writable) return void socket.destroy();
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\n` +
      Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('') +
      `\r\n${body}`,
  );
}
