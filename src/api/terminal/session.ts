import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { RawData, WebSocket } from 'ws';
import type { HostKeyCheck } from '../../store';
import { pinnedHostVerifier, sshProblem } from '../../ssh/host-key';
import { CLOSE, parseControl, type CloseCode, type ServerControl } from './protocol';

/** What a session connects to: the lab's stack of one generation, with its decrypted credentials. */
export interface SessionTarget {
  labId: string;
  generation: number;
  readOnly: boolean;
  host: string;
  port: number;
  username: string;
  privateKey?: string;
  password?: string;
  /** At most one activity report per this interval while the learner types. */
  activityEveryMs: number;
}

export interface SessionHooks {
  /** Trust on first use: records or compares the host key's fingerprint for the target's stack. */
  checkHostKey(fingerprint: string): Promise<HostKeyCheck>;
  /** The learner typed: counts as a heartbeat. */
  activity(): void;
  /**
   * The SSH side ended without the learner's `exit`: the gateway closes the session with 4409 if
   * the lab left `ready` meanwhile (a suspend stops the lab's servers), else with `code`.
   */
  lost(code: CloseCode, reason: string): void;
  /** Once, when the WebSocket has closed (whoever closed it). */
  closed(code: number, reason: string): void;
}

/** Input buffered before the shell is open; more than this closes the session. */
const MAX_PENDING_BYTES = 256 * 1024;
/** Output queued on the WebSocket past which the shell is paused until the browser catches up. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const INITIAL_SIZE = { cols: 80, rows: 24 };
const SSH_READY_TIMEOUT_MS = 20_000;
const SSH_KEEPALIVE_MS = 15_000;

/**
 * One browser terminal: a WebSocket on one side, an SSH shell on the lab on the other. The
 * credentials stay here (they never reach the browser); input that arrives before the shell is
 * open is buffered and written once it is; a read-only session drops input (resizes still apply).
 */
export class TerminalSession {
  /** Cleared before each ping and set by the pong: a peer still false at the next ping is gone. */
  alive = true;
  readonly openedAt = Date.now();
  private readonly ssh = new Client();
  private shell: ClientChannel | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private size = INITIAL_SIZE;
  private lastActivity = 0;
  private ending = false;
  /** The SSH side ended; the gateway is finding out why. */
  private lost = false;
  /** Why the SSH side refused (the host key), said instead of ssh2's generic error. */
  private refusal: string | null = null;

  constructor(
    private readonly ws: WebSocket,
    readonly target: SessionTarget,
    private readonly hooks: SessionHooks,
  ) {}

  start(): void {
    this.ws.on('message', (data, isBinary) => this.fromBrowser(data, isBinary));
    this.ws.on('pong', () => (this.alive = true));
    // A socket error is followed by 'close', which ends the session.
    this.ws.on('error', () => undefined);
    this.ws.once('close', (code, reason) => {
      this.ending = true;
      this.ssh.end();
      this.hooks.closed(code, reason.toString('utf8'));
    });
    this.ssh.on('ready', () => this.openShell());
    this.ssh.on('error', (err) => this.lose(CLOSE.sshFailed, `SSH: ${sshProblem(err)}`));
    this.ssh.on('close', () => this.lose(CLOSE.sshFailed, 'the SSH connection closed'));
    try {
      this.ssh.connect(this.connectConfig());
    } catch {
      // ssh2 parses the private key here, and throws on one it cannot read.
      this.end(CLOSE.sshFailed, "SSH: the lab's private key cannot be read");
    }
  }

  /** Closes the WebSocket (and so the SSH connection) with `code`; the first call wins. */
  end(code: CloseCode, reason: string): void {
    if (this.ending) return;
    this.ending = true;
    this.ssh.end();
    this.ws.close(code, closeReason(reason));
  }

  private lose(code: CloseCode, reason: string): void {
    if (this.ending || this.lost) return;
    this.lost = true;
    if (this.refusal) return this.end(CLOSE.sshFailed, this.refusal);
    this.hooks.lost(code, reason);
  }

  /** For the keepalive: a peer that missed the last pong is dropped without a close handshake. */
  ping(): void {
    if (!this.alive) return void this.ws.terminate();
    this.alive = false;
    this.ws.ping();
  }

  /** Drops the connection at once (a shutdown whose close handshake did not finish). */
  terminate(): void {
    this.ws.terminate();
  }

  private connectConfig(): ConnectConfig {
    const { host, port, username, privateKey, password } = this.target;
    return {
      host,
      port,
      username,
      ...(privateKey ? { privateKey } : {}),
      ...(password ? { password } : {}),
      readyTimeout: SSH_READY_TIMEOUT_MS,
      keepaliveInterval: SSH_KEEPALIVE_MS,
      hostVerifier: pinnedHostVerifier(
        this.target.generation,
        (fingerprint) => this.hooks.checkHostKey(fingerprint),
        (reason) => (this.refusal = reason),
      ),
    };
  }

  private openShell(): void {
    const requested = this.size;
    this.ssh.shell({ term: 'xterm-256color', ...requested }, (err, shell) => {
      if (err) return this.end(CLOSE.sshFailed, `SSH: no shell (${sshProblem(err)})`);
      if (this.ending) return void shell.close();
      this.shell = shell;
      // A write racing the channel's end: its 'close' (below) ends the session.
      shell.on('error', () => undefined);
      // A size change that came while the shell was being opened.
      if (this.size !== requested) shell.setWindow(this.size.rows, this.size.cols, 0, 0);
      const toBrowser = (chunk: Buffer) => this.toBrowser(chunk);
      shell.on('data', toBrowser);
      shell.stderr.on('data', toBrowser);
      let status: number | null = null;
      let signal: string | null = null;
      shell.on('exit', (code: number | null, killedBy?: string) => {
        status = code;
        signal = killedBy ?? null;
      });
      shell.on('close', () => {
        if (status !== null) return this.end(CLOSE.normal, `the shell exited (${status})`);
        // Killed, or gone without a word: perhaps the lab is being suspended.
        this.lose(CLOSE.normal, signal ? `the shell was ended (${signal})` : 'the shell ended');
      });
      const ready: ServerControl = { type: 'ready', readOnly: this.target.readOnly };
      this.ws.send(JSON.stringify(ready));
      for (const chunk of this.pending) this.toShell(chunk);
      this.pending = [];
      this.pendingBytes = 0;
    });
  }

  private fromBrowser(data: RawData, isBinary: boolean): void {
    if (this.ending || this.lost) return;
    const bytes = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.isBuffer(data)
        ? data
        : Buffer.from(data);
    if (!isBinary) return this.control(bytes.toString('utf8'));
    if (this.target.readOnly) return;
    this.typed();
    if (this.shell) return this.toShell(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes > MAX_PENDING_BYTES)
      return this.end(CLOSE.policy, 'too much input before the shell was ready');
    this.pending.push(bytes);
  }

  private control(text: string): void {
    const message = parseControl(text);
    if (message === 'malformed') return this.end(CLOSE.malformed, 'malformed control message');
    if (message === null) return;
    this.size = { cols: message.cols, rows: message.rows };
    this.shell?.setWindow(message.rows, message.cols, 0, 0);
  }

  private typed(): void {
    const now = Date.now();
    if (now - this.lastActivity < this.target.activityEveryMs) return;
    this.lastActivity = now;
    this.hooks.activity();
  }

  private toShell(bytes: Buffer): void {
    const shell = this.shell!;
    if (shell.write(bytes)) return;
    // The lab's SSH server is behind: read no more from the browser until it has caught up.
    this.ws.pause();
    shell.once('drain', () => this.ws.resume());
  }

  private toBrowser(chunk: Buffer): void {
    if (this.ending) return;
    const shell = this.shell!;
    this.ws.send(chunk, { binary: true }, () => {
      if (shell.isPaused() && this.ws.bufferedAmount < MAX_BUFFERED_BYTES) shell.resume();
    });
    if (this.ws.bufferedAmount >= MAX_BUFFERED_BYTES) shell.pause();
  }
}

/** A close frame's reason holds at most 123 bytes (RFC 6455); ws throws on a longer one. */
function closeReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
  return reason;
}
