import {
  encodeInput,
  TerminalConnection,
  type CloseInfo,
  type OpenSocket,
  type SocketLike,
} from './connection';
import { FitAddon, Terminal } from './xterm';

/**
 * The page side of the browser terminal: xterm.js with its fit add-on in a container, a
 * full-screen toggle, and the socket (connection.ts) behind it. The page styles the frame's
 * classes (`lab-terminal`, `-bar`, `-screen`, `-full`, `-closed`: the XBlock's lab.css). The
 * browser's objects are described structurally, so this compiles without the DOM library, like
 * the heartbeat client.
 */

type Listener = () => void;

interface ElementLike {
  className: string;
  textContent: string | null;
  readonly classList: {
    add(name: string): void;
    remove(name: string): void;
    contains(name: string): boolean;
  };
  setAttribute(name: string, value: string): void;
  appendChild<T>(child: T): T;
  remove(): void;
  addEventListener(type: string, listener: Listener): void;
  requestFullscreen?(): Promise<void>;
}

interface DocumentLike {
  createElement(tag: string): ElementLike;
  readonly fullscreenElement?: unknown;
  exitFullscreen?(): Promise<void>;
  addEventListener(type: string, listener: Listener): void;
  removeEventListener(type: string, listener: Listener): void;
}

interface ResizeObserverLike {
  observe(target: ElementLike): void;
  disconnect(): void;
}

export interface TerminalGlobals {
  document: DocumentLike;
  WebSocket: new (url: string, protocols: string[]) => SocketLike;
  ResizeObserver?: new (callback: Listener) => ResizeObserverLike;
  addEventListener(type: string, listener: Listener): void;
  removeEventListener(type: string, listener: Listener): void;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface TerminalLabels {
  fullScreen: string;
  exitFullScreen: string;
  readOnly: string;
}

export interface TerminalOptions {
  wsUrl: string;
  token: string;
  /** Shows what the lab does without sending keystrokes (the API enforces it too). */
  readOnly?: boolean;
  /** The button and badge texts, in the page's language. */
  labels?: Partial<TerminalLabels>;
  onOpen?(): void;
  /** The socket closed other than by `close()`: the API's close code and reason. */
  onClose?(info: CloseInfo): void;
}

export interface LabTerminal {
  /** Fits the screen to its container and tells the lab the new size. */
  fit(): void;
  /** A fresh socket (a new token, after a drop) on the same screen. */
  connect(options: Pick<TerminalOptions, 'wsUrl' | 'token' | 'onOpen' | 'onClose'>): void;
  focus(): void;
  /** Closes the socket and removes the terminal from the page. */
  close(): void;
}

const DEFAULT_LABELS: TerminalLabels = {
  fullScreen: 'Full screen',
  exitFullScreen: 'Exit full screen',
  readOnly: 'Read only',
};
/** Window and container resizes fit the screen once they settle. */
const FIT_DELAY_MS = 60;
const FULL = 'lab-terminal-full';
const CLOSED = 'lab-terminal-closed';

export function openTerminal(
  container: ElementLike,
  options: TerminalOptions,
  globals: TerminalGlobals = globalThis as unknown as TerminalGlobals,
): LabTerminal {
  const labels = { ...DEFAULT_LABELS, ...options.labels };
  const doc = globals.document;
  const readOnly = options.readOnly === true;

  const root = doc.createElement('div');
  root.className = 'lab-terminal';
  const bar = root.appendChild(doc.createElement('div'));
  bar.className = 'lab-terminal-bar';
  if (readOnly) {
    const badge = bar.appendChild(doc.createElement('span'));
    badge.className = 'lab-terminal-badge';
    badge.textContent = labels.readOnly;
  }
  const toggle = bar.appendChild(doc.createElement('button'));
  toggle.className = 'lab-terminal-toggle';
  toggle.setAttribute('type', 'button');
  const screen = root.appendChild(doc.createElement('div'));
  screen.className = 'lab-terminal-screen';
  container.appendChild(root);

  const term = new Terminal({
    cursorBlink: !readOnly,
    disableStdin: readOnly,
    scrollback: 5000,
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace',
    fontSize: 14,
    theme: { background: '#1e1e1e' }, // the frame's (lab.css), so the screen's padding blends in
  });
  const fitAddon = new FitAddon();
  term.loadAddon(fitAddon);
  term.open(screen);

  let connection: TerminalConnection | null = null;
  const openSocket: OpenSocket = (url, protocols) => new globals.WebSocket(url, protocols);
  const send = (bytes: Uint8Array) => connection?.input(bytes);
  if (!readOnly) {
    term.onData((data) => send(encodeInput(data)));
    term.onBinary((data) => send(encodeInput(data, true)));
  }

  function fit(): void {
    try {
      fitAddon.fit();
    } catch {
      return; // not laid out (hidden): the next fit does it
    }
    connection?.resize(term.cols, term.rows);
  }
  let fitTimer: unknown = null;
  const fitSoon: Listener = () => {
    globals.clearTimeout(fitTimer);
    fitTimer = globals.setTimeout(fit, FIT_DELAY_MS);
  };
  globals.addEventListener('resize', fitSoon);
  const observer = globals.ResizeObserver ? new globals.ResizeObserver(fitSoon) : null;
  observer?.observe(screen);

  // Full screen: the browser's when it allows it (an iframe may not), else the frame's whole
  // area by CSS; the browser leaving full screen (Escape) leaves ours too.
  let browserFull = false;
  function renderToggle(): void {
    const full = root.classList.contains(FULL);
    toggle.textContent = full ? labels.exitFullScreen : labels.fullScreen;
    toggle.setAttribute('aria-pressed', String(full));
  }
  function setFull(full: boolean): void {
    if (full) {
      root.classList.add(FULL);
      root.requestFullscreen?.().catch(() => {});
    } else {
      root.classList.remove(FULL);
      if (browserFull) doc.exitFullscreen?.().catch(() => {});
    }
    renderToggle();
    fitSoon();
    term.focus();
  }
  const onFullscreenChange: Listener = () => {
    const now = doc.fullscreenElement === root;
    if (browserFull && !now) root.classList.remove(FULL);
    browserFull = now;
    renderToggle();
    fitSoon();
  };
  doc.addEventListener('fullscreenchange', onFullscreenChange);
  toggle.addEventListener('click', () => setFull(!root.classList.contains(FULL)));
  renderToggle();

  function connect(next: Pick<TerminalOptions, 'wsUrl' | 'token' | 'onOpen' | 'onClose'>): void {
    connection?.close();
    root.classList.remove(CLOSED);
    const current: TerminalConnection = new TerminalConnection(
      {
        wsUrl: next.wsUrl,
        token: next.token,
        output: (data) => term.write(data),
        onOpen: () => {
          fit();
          next.onOpen?.();
        },
        onClose: (info) => {
          if (connection === current) root.classList.add(CLOSED);
          next.onClose?.(info);
        },
      },
      openSocket,
    );
    connection = current;
    fit(); // the size goes first once the socket opens
  }
  connect(options);

  return {
    fit,
    connect,
    focus: () => term.focus(),
    close() {
      connection?.close();
      connection = null;
      globals.clearTimeout(fitTimer);
      globals.removeEventListener('resize', fitSoon);
      observer?.disconnect();
      doc.removeEventListener('fullscreenchange', onFullscreenChange);
      if (browserFull) doc.exitFullscreen?.().catch(() => {});
      term.dispose();
      root.remove();
    },
  };
}
