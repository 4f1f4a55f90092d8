/**
 * The socket side of the browser terminal: one WebSocket to the API's
 * `GET /v1/labs/{id}/terminal`, keystrokes out as binary frames, terminal bytes in, the screen's
 * size as a text control message. No DOM and no xterm.js here (the socket is injected and
 * described structurally), so it runs the same in a page and in unit tests.
 */

/** The subprotocol the API speaks; the terminal token travels as the second one offered. */
export const SUBPROTOCOL = 'labs.terminal.v1';
/** The API's close codes (docs/api.md); any other code is a network drop. */
export const CLOSE = {
  /** The lab left `ready` (suspend, reset, delete): the reason is human text to show. */
  notReady: 4409,
  /** Too many terminal sessions on this lab. */
  tooMany: 4429,
  /** The lab's SSH host key is not the one it had. */
  hostKeyChanged: 4502,
} as const;
/** Keystrokes typed while the socket opens are kept, up to this many bytes, then sent. */
export const MAX_PENDING_BYTES = 64 * 1024;

const CONNECTING = 0;
const OPEN = 1;

/** The part of the browser's WebSocket this uses. */
export interface SocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: (() => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** `(url, protocols) => new WebSocket(url, protocols)` in a page. */
export type OpenSocket = (url: string, protocols: string[]) => SocketLike;

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface ConnectionOptions {
  /** `wss://<public API>/v1/labs/{id}/terminal`, as the XBlock's `terminal_token` answers. */
  wsUrl: string;
  /** The terminal token from the same answer (short-lived, for this lab only). */
  token: string;
  /** Terminal output for the screen: bytes (binary frames) or text (text frames). */
  output(data: Uint8Array | string): void;
  onOpen?(): void;
  /** The socket closed, other than by `close()`: the API's code and reason. */
  onClose?(info: CloseInfo): void;
}

export class TerminalConnection {
  private readonly socket: SocketLike;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private size: { cols: number; rows: number } | null = null;
  private ended = false;

  constructor(
    private readonly options: ConnectionOptions,
    openSocket: OpenSocket,
  ) {
    const socket = openSocket(options.wsUrl, [SUBPROTOCOL, options.token]);
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => this.opened();
    socket.onmessage = (event) => this.received(event.data);
    socket.onerror = () => {}; // a close event follows, with the code
    socket.onclose = (event) => this.closed(event.code, event.reason);
    this.socket = socket;
  }

  get isOpen(): boolean {
    return !this.ended && this.socket.readyState === OPEN;
  }

  /** Keystrokes (or a paste): sent now, kept while the socket opens, dropped once it closed. */
  input(bytes: Uint8Array): void {
    if (this.ended || bytes.length === 0) return;
    if (this.socket.readyState === OPEN) {
      this.socket.send(bytes);
    } else if (
      this.socket.readyState === CONNECTING &&
      this.pendingBytes + bytes.length <= MAX_PENDING_BYTES
    ) {
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
    }
  }

  /** The screen's size: sent now, or as the first message once the socket opens. */
  resize(cols: number, rows: number): void {
    if (!(cols > 0 && rows > 0)) return;
    this.size = { cols, rows };
    if (this.isOpen) this.sendSize();
  }

  /** Closes the socket; `onClose` is not called for it. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending = [];
    this.socket.close(1000, 'closed by the page');
  }

  private opened(): void {
    if (this.ended) return;
    if (this.size) this.sendSize();
    for (const bytes of this.pending) this.socket.send(bytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.options.onOpen?.();
  }

  private received(data: unknown): void {
    if (this.ended) return;
    if (data instanceof ArrayBuffer) {
      this.options.output(new Uint8Array(data));
    } else if (typeof data === 'string' && !isControlMessage(data)) {
      this.options.output(data);
    }
  }

  private closed(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.pending = [];
    this.options.onClose?.({ code, reason: reason || '' });
  }

  private sendSize(): void {
    const { cols, rows } = this.size!;
    this.socket.send(JSON.stringify({ type: 'resize', cols, rows }));
  }
}

/** A text frame that is a JSON control message (`{"type": ...}`) rather than terminal text. */
function isControlMessage(text: string): boolean {
  if (!text.startsWith('{')) return false;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && 'type' in parsed;
  } catch {
    return false;
  }
}

/** Input as the socket sends it: UTF-8 for typed text, byte for byte for xterm's binary data. */
export function encodeInput(data: string, binary = false): Uint8Array {
  if (!binary) return new TextEncoder().encode(data);
  return Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff);
}
