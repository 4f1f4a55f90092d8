import { buildSync } from 'esbuild';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  bundleOptions,
  stylesheet,
  TERMINAL_BUNDLE,
  TERMINAL_CSS,
} from '../../src/terminal-client/build';
import {
  encodeInput,
  MAX_PENDING_BYTES,
  SUBPROTOCOL,
  TerminalConnection,
  type CloseInfo,
  type SocketLike,
} from '../../src/terminal-client/connection';

/** A WebSocket the test opens, feeds and closes. */
class FakeSocket implements SocketLike {
  binaryType = 'blob';
  readyState = 0;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  sent: Array<string | Uint8Array> = [];
  closedWith: [number?, string?] | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  send(data: string | Uint8Array): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(data);
  }
  close(code?: number, reason?: string): void {
    this.closedWith = [code, reason];
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  drop(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

function connect() {
  const sockets: FakeSocket[] = [];
  const output: Array<Uint8Array | string> = [];
  const closes: CloseInfo[] = [];
  let opened = 0;
  const connection = new TerminalConnection(
    {
      wsUrl: 'wss://labs.example.org/v1/labs/lab_x/terminal',
      token: 'tt1.lab_x.sig',
      output: (data) => output.push(data),
      onOpen: () => (opened += 1),
      onClose: (info) => closes.push(info),
    },
    (url, protocols) => {
      const socket = new FakeSocket(url, protocols);
      sockets.push(socket);
      return socket;
    },
  );
  return { connection, socket: sockets[0]!, output, closes, opened: () => opened };
}

const text = (data: string | Uint8Array): string =>
  typeof data === 'string' ? data : new TextDecoder().decode(data);

describe('terminal client: the socket', () => {
  it('offers the subprotocol and the token, and reads binary frames as bytes', () => {
    const { socket, output } = connect();
    expect(socket.url).toBe('wss://labs.example.org/v1/labs/lab_x/terminal');
    expect(socket.protocols).toEqual([SUBPROTOCOL, 'tt1.lab_x.sig']);
    expect(socket.binaryType).toBe('arraybuffer');
    socket.open();
    socket.onmessage?.({ data: new TextEncoder().encode('hello-42\r\n').buffer });
    socket.onmessage?.({ data: JSON.stringify({ type: 'ready', readOnly: false }) });
    socket.onmessage?.({ data: 'plain text' });
    expect(output.map(text)).toEqual(['hello-42\r\n', 'plain text']);
    expect(output[0]).toBeInstanceOf(Uint8Array);
  });

  it('keeps what is typed while the socket opens and sends the size first', () => {
    const { connection, socket, opened } = connect();
    connection.resize(80, 24);
    connection.input(encodeInput('echo '));
    connection.resize(100, 30);
    connection.input(encodeInput('hi\r'));
    expect(socket.sent).toEqual([]);
    socket.open();
    expect(socket.sent.map(text)).toEqual([
      JSON.stringify({ type: 'resize', cols: 100, rows: 30 }),
      'echo ',
      'hi\r',
    ]);
    expect(socket.sent[1]).toBeInstanceOf(Uint8Array);
    expect(opened()).toBe(1);
    // Once open: keystrokes and every fit go at once.
    connection.input(encodeInput('é'));
    connection.resize(120, 40);
    expect(socket.sent.slice(3)).toEqual([
      new Uint8Array([0xc3, 0xa9]),
      JSON.stringify({ type: 'resize', cols: 120, rows: 40 }),
    ]);
  });

  it('keeps at most MAX_PENDING_BYTES while opening, and nothing once closed', () => {
    const { connection, socket } = connect();
    const chunk = new Uint8Array(MAX_PENDING_BYTES / 4);
    for (let i = 0; i < 6; i++) connection.input(chunk);
    socket.open();
    expect(socket.sent).toHaveLength(4);
    socket.drop(1006);
    connection.input(encodeInput('x'));
    expect(socket.sent).toHaveLength(4);
  });

  it('reports the close code and reason once, and not for a close of its own', () => {
    const { socket, closes } = connect();
    socket.open();
    socket.drop(4409, 'Your lab is suspending.');
    socket.drop(1006);
    expect(closes).toEqual([{ code: 4409, reason: 'Your lab is suspending.' }]);

    const other = connect();
    other.socket.open();
    other.connection.close();
    expect(other.socket.closedWith?.[0]).toBe(1000);
    other.socket.drop(1000);
    expect(other.closes).toEqual([]);
    expect(other.connection.isOpen).toBe(false);
  });

  it('encodes xterm binary input byte for byte', () => {
    expect(encodeInput('\x1b[M !!', true)).toEqual(new Uint8Array([27, 91, 77, 32, 33, 33]));
    expect(encodeInput('\xff', true)).toEqual(new Uint8Array([255]));
  });
});

describe('terminal client: the bundle and stylesheet the XBlock ships', () => {
  const committed = (path: string) => readFileSync(resolve(__dirname, '../..', path), 'utf8');

  it('are what `npm run build:terminal` builds from the sources now', () => {
    const options = bundleOptions(resolve(__dirname, '../..', TERMINAL_BUNDLE));
    const [fresh] = buildSync({ ...options, write: false }).outputFiles;
    expect(fresh!.text === committed(TERMINAL_BUNDLE)).toBe(true);
    expect(committed(TERMINAL_CSS) === stylesheet()).toBe(true);
    expect(stylesheet()).toContain('.xterm-viewport');
  });
});
