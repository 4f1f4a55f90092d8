import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import {
  parseRetryAfter,
  readAtMost,
  sendWebhook,
  signatureHeader,
  type WebhookMessage,
} from '../../src/webhooks/send';

const VERIFY_PY = path.join(__dirname, '../../docs/webhooks/verify_webhook.py');

/** A request as the loopback receiver got it: the raw body bytes, the headers flattened. */
interface Received {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}
type Answer = (res: http.ServerResponse) => void;

const answers = new Map<string, Answer>();
const received: Received[] = [];
let receiver: http.Server;
let base = '';

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const at = req.url ?? '';
      received.push({ path: at, headers: flatten(req.headers), body: Buffer.concat(chunks) });
      const answer = answers.get(at);
      if (answer) answer(res);
      else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as net.AddressInfo).port}`;
});

afterAll(async () => {
  // The timeout cases leave requests the receiver never answers.
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

function flatten(headers: http.IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).flatMap(([name, value]) =>
      value === undefined ? [] : [[name, Array.isArray(value) ? value.join(', ') : value]],
    ),
  );
}

/** A fresh path on the receiver, answered by `answer`; returns its URL. */
function route(answer: Answer): string {
  const at = `/hook/${answers.size + 1}`;
  answers.set(at, answer);
  return base + at;
}

function requestsTo(url: string): Received[] {
  const at = new URL(url).pathname;
  return received.filter((r) => r.path === at);
}

function onlyRequestTo(url: string): Received {
  const requests = requestsTo(url);
  expect(requests).toHaveLength(1);
  return requests[0]!;
}

const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

// Non-ASCII on purpose: the signature covers UTF-8 bytes, which must arrive unchanged.
function newMessage(timestamp = new Date()): WebhookMessage {
  const body = JSON.stringify({ type: 'lab.ready', data: { lab: 'demo', learner: 'Zoë' } });
  return { id: `msg_${randomUUID()}`, timestamp, body };
}

function verifies(secret: string, request: Received, body = request.body): boolean {
  try {
    new Webhook(secret).verify(body, request.headers);
    return true;
  } catch {
    return false;
  }
}

/** Rejects if `promise` has not settled within `ms`. */
function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function runPythonExample(secret: string, request: Received, body = request.body): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('python3', [VERIFY_PY], { timeout: 10_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim()),
    );
    child.stdin?.end(
      JSON.stringify({ secret, headers: request.headers, body: body.toString('utf8') }),
    );
  });
}

const tampered = (body: Buffer) => Buffer.from(body.toString('utf8').replace('demo', 'dem0'));

describe('sending one webhook attempt', () => {
  it('delivers to a 2xx receiver, with Standard Webhooks headers it can verify', async () => {
    const secret = newSecret();
    const message = newMessage();
    const url = route((res) => res.writeHead(200).end('ok'));

    const result = await sendWebhook({ url, secrets: [secret] }, message, { timeoutMs: 5_000 });

    expect(result).toEqual({
      outcome: 'delivered',
      status: 200,
      retryAfterMs: null,
      error: null,
      durationMs: expect.any(Number),
    });
    const request = onlyRequestTo(url);
    expect(request.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'openedx-labs-webhooks/1',
      'webhook-id': message.id,
      'webhook-timestamp': String(Math.floor(message.timestamp.getTime() / 1000)),
    });
    expect(request.body.equals(Buffer.from(message.body, 'utf8'))).toBe(true);
    expect(verifies(secret, request)).toBe(true);
    expect(verifies(newSecret(), request)).toBe(false);
    expect(verifies(secret, request, tampered(request.body))).toBe(false);
  });

  it('signs with every secret during a rotation: each one alone verifies', async () => {
    const [current, previous] = [newSecret(), newSecret()];
    const message = newMessage();
    const url = route((res) => res.writeHead(204).end());

    const result = await sendWebhook({ url, secrets: [current, previous] }, message, {
      timeoutMs: 5_000,
    });

    expect(result.outcome).toBe('delivered');
    const request = onlyRequestTo(url);
    expect(request.headers['webhook-signature']).toBe(
      signatureHeader([current, previous], message),
    );
    expect(request.headers['webhook-signature']).toMatch(/^v1,\S+ v1,\S+$/);
    expect(verifies(current, request)).toBe(true);
    expect(verifies(previous, request)).toBe(true);
  });

  it('retries a 500, keeping the status', async () => {
    const url = route((res) => res.writeHead(500).end('database unavailable'));
    const result = await sendWebhook({ url, secrets: [newSecret()] }, newMessage(), {
      timeoutMs: 5_000,
    });
    expect(result).toMatchObject({
      outcome: 'retry',
      status: 500,
      retryAfterMs: null,
      error: 'HTTP 500',
    });
  });

  it('stops on a 410: the receiver asks for no more deliveries', async () => {
    const url = route((res) => res.writeHead(410).end());
    const result = await sendWebhook({ url, secrets: [newSecret()] }, newMessage(), {
      timeoutMs: 5_000,
    });
    expect(result).toMatchObject({ outcome: 'gone', status: 410 });
    expect(result.error).toContain('410');
  });

  it.each([
    ['seconds', () => '7', 7_000, 7_000],
    // An HTTP-date has whole seconds, and some ms pass between writing and reading it.
    ['an HTTP-date', () => new Date(Date.now() + 30_000).toUTCString(), 28_000, 30_000],
  ])('honours a 503 with Retry-After in %s', async (_form, retryAfter, atLeastMs, atMostMs) => {
    const url = route((res) => res.writeHead(503, { 'retry-after': retryAfter() }).end());
    const result = await sendWebhook({ url, secrets: [newSecret()] }, newMessage(), {
      timeoutMs: 5_000,
    });
    expect(result).toMatchObject({ outcome: 'retry', status: 503, error: 'HTTP 503' });
    expect(result.retryAfterMs).toBeGreaterThanOrEqual(atLeastMs);
    expect(result.retryAfterMs).toBeLessThanOrEqual(atMostMs);
  });

  it('reads Retry-After as delay-seconds or any of the three HTTP-date forms, else null', () => {
    const now = Date.parse('1994-11-06T08:49:00Z');
    const cases: [string | null | undefined, number | null][] = [
      ['7', 7_000],
      [' 120 ', 120_000],
      ['0', 0],
      ['Sun, 06 Nov 1994 08:49:37 GMT', 37_000], // IMF-fixdate
      ['Sunday, 06-Nov-94 08:49:37 GMT', 37_000], // RFC 850
      ['Sun Nov  6 08:49:37 1994', 37_000], // asctime
      ['Sun, 06 Nov 1994 08:48:00 GMT', 0], // already past: retry now
      ['-5', null],
      ['7.5', null],
      ['soon', null],
      ['Sun, 06 Nov 1994 08:49:37', null],
      ['', null],
      [null, null],
      [undefined, null],
    ];
    expect(cases.map(([value]) => [value, parseRetryAfter(value, now)])).toEqual(cases);
  });

  it('does not follow a 302: the redirect target gets no request', async () => {
    const elsewhere = route((res) => res.writeHead(200).end());
    const url = route((res) => res.writeHead(302, { location: new URL(elsewhere).pathname }).end());

    const result = await sendWebhook({ url, secrets: [newSecret()] }, newMessage(), {
      timeoutMs: 5_000,
    });

    expect(result).toMatchObject({
      outcome: 'retry',
      status: 302,
      error: `redirect to ${elsewhere} not followed`,
    });
    // fetch follows a redirect before it resolves, so by now a followed one would have arrived.
    expect(requestsTo(url)).toHaveLength(1);
    expect(requestsTo(elsewhere)).toHaveLength(0);
  });

  it('gives up at the timeout when the receiver never answers', async () => {
    const url = route(() => undefined);
    const started = Date.now();
    const result = await sendWebhook({ url, secrets: [newSecret()] }, newMessage(), {
      timeoutMs: 300,
    });
    const elapsed = Date.now() - started;

    expect(result).toMatchObject({
      outcome: 'retry',
      status: null,
      error: 'timed out after 0.3 s',
    });
    expect(result.durationMs).toBeGreaterThanOrEqual(295);
    // Timers on a busy machine: half a second of margin.
    expect(elapsed).toBeLessThan(300 + 500);
  });

  it('counts a 2xx as delivered even when its body stalls past the timeout', async () => {
    const url = route((res) => {
      res.writeHead(200);
      res.write('accepted, and then nothing more');
    });
    const started = Date.now();
    const result = await sendWebhook({ url, secrets: [newSecret()] }, newMessage(), {
      timeoutMs: 300,
    });
    expect(result).toMatchObject({ outcome: 'delivered', status: 200, error: null });
    expect(Date.now() - started).toBeLessThan(300 + 500);
  });

  it('cuts an endless response body at the limit and returns well before the timeout', async () => {
    let written = 0;
    let connectionClosed!: () => void;
    const closed = new Promise<void>((resolve) => (connectionClosed = resolve));
    const url = route((res) => {
      res.on('close', connectionClosed);
      res.writeHead(500);
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = () => {
        while (!res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      pump();
    });

    const started = Date.now();
    const result = await sendWebhook({ url, secrets: [newSecret()] }, newMessage(), {
      timeoutMs: 10_000,
      maxResponseBytes: 4096,
    });
    const elapsed = Date.now() - started;

    expect(result).toMatchObject({ outcome: 'retry', status: 500, error: 'HTTP 500' });
    expect(elapsed).toBeLessThan(2_000);
    // The receiver sees its connection closed, so it stops writing: nothing keeps streaming.
    await within('the receiver sees the connection closed', 2_000, closed);
    // At most what the sockets buffer on both ends of a loopback connection, never 10 s of data.
    expect(written).toBeLessThan(16 * 1024 * 1024);
  });

  it('stops reading a stream at the limit and cancels it', async () => {
    let pulls = 0;
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls += 1;
        controller.enqueue(new Uint8Array(1000));
      },
      cancel() {
        cancelled = true;
      },
    });

    const read = await readAtMost(endless, 4096);

    expect(read).toBe(5000); // the chunk that crosses the limit is the last one read
    expect(cancelled).toBe(true);
    expect(pulls).toBeLessThanOrEqual(6); // the stream may pull one chunk ahead
  });

  it('reports a refused connection as a retry with no status', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/hook`;
    const result = await sendWebhook({ url, secrets: [newSecret()] }, newMessage(), {
      timeoutMs: 5_000,
    });
    expect(result).toMatchObject({
      outcome: 'retry',
      status: null,
      retryAfterMs: null,
      error: 'connection refused',
    });
  });

  it('never throws on a bad secret, and never quotes a secret in its error', async () => {
    const good = newSecret();
    const bad = 'whsec_not*base64!';
    const url = route((res) => res.writeHead(200).end());

    const result = await sendWebhook({ url, secrets: [good, bad] }, newMessage(), {
      timeoutMs: 5_000,
    });
    const none = await sendWebhook({ url, secrets: [] }, newMessage(), { timeoutMs: 5_000 });

    expect(result).toMatchObject({ outcome: 'retry', status: null });
    expect(result.error).toContain('signing secret 2 of 2');
    expect(result.error).not.toContain('not*base64');
    expect(result.error).not.toContain(good.slice('whsec_'.length));
    expect(none).toMatchObject({ outcome: 'retry', error: 'no signing secret configured' });
    expect(requestsTo(url)).toHaveLength(0);
  });
});

describe('the Python verification example (docs/webhooks/verify_webhook.py)', () => {
  it('accepts a real delivery under either rotated secret; rejects tampering, a wrong key, a replay', async () => {
    const [current, previous] = [newSecret(), newSecret()];
    const url = route((res) => res.writeHead(200).end());
    await sendWebhook({ url, secrets: [current, previous] }, newMessage(), { timeoutMs: 5_000 });
    const request = onlyRequestTo(url);

    const staleUrl = route((res) => res.writeHead(200).end());
    const tenMinutesAgo = new Date(Date.now() - 10 * 60_000);
    await sendWebhook({ url: staleUrl, secrets: [current] }, newMessage(tenMinutesAgo), {
      timeoutMs: 5_000,
    });
    const stale = onlyRequestTo(staleUrl);

    const verdicts = await Promise.all([
      runPythonExample(current, request),
      runPythonExample(previous, request),
      runPythonExample(current, request, tampered(request.body)),
      runPythonExample(newSecret(), request),
      runPythonExample(current, stale),
    ]);

    expect(verdicts).toEqual(['valid', 'valid', 'invalid', 'invalid', 'invalid']);
    // The same verdict as the library's own verifier on the stale delivery.
    expect(verifies(current, stale)).toBe(false);
  });
});
