import { request } from 'node:http';
import { WebSocket } from 'ws';
import { TerminalTokens } from '../../src/api/auth/terminal-token';
import { createLogger } from '../../src/log';
import { labIdFor } from '../../src/temporal/ids';
import { CapturedLog } from '../support/captured-log';
import { SECRETS_KEY } from '../support/lab-env';
import { pace } from '../support/wait';
import { SERVICE_TOKEN, eventually, startApiEnv, type ApiEnv } from './api-env';

const LMS = 'https://lms.example.org';
const PROTOCOL = 'labs.terminal.v1';
const COURSE = 'course-v1:Org+Term101+2026';

type Lab = { id: string; state: string; heartbeatToken: string };
type Issued = { token: string; expiresAt: string; url: string };
type Closed = { code: number; reason: string };

/** A terminal as a page drives it: bytes out, everything the shell prints kept as text. */
class Terminal {
  output = '';
  readonly opened: Promise<void>;
  readonly ready: Promise<{ type: string; readOnly: boolean }>;
  readonly closed: Promise<Closed>;
  private readonly ws: WebSocket;

  constructor(url: string, token: string, origin: string | null = LMS, autoPong = true) {
    this.ws = new WebSocket(url, [PROTOCOL, token], { autoPong, ...(origin ? { origin } : {}) });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`refused: ${res.statusCode}`)),
      );
    });
    this.ready = new Promise((resolve) =>
      this.ws.on('message', (data, isBinary) => {
        if (isBinary) this.output += (data as Buffer).toString('utf8');
        else resolve(JSON.parse((data as Buffer).toString('utf8')) as never);
      }),
    );
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
    );
    this.ws.on('error', () => undefined);
  }

  get protocol(): string {
    return this.ws.protocol;
  }

  type(text: string): void {
    this.ws.send(Buffer.from(text, 'utf8'), { binary: true });
  }

  resize(cols: number, rows: number): void {
    this.ws.send(JSON.stringify({ type: 'resize', cols, rows }));
  }

  /** Waits for `text` in what the shell printed. */
  sees(text: string, timeoutMs = 15_000): Promise<true> {
    return eventually(
      `"${text}" on the terminal (got ${JSON.stringify(this.output.slice(-200))})`,
      () => Promise.resolve(this.output.includes(text) || undefined),
      timeoutMs,
    );
  }

  /** A ping answered: the server has read every frame sent before it. */
  roundTrip(): Promise<void> {
    const pong = new Promise<void>((resolve) => this.ws.once('pong', () => resolve()));
    this.ws.ping();
    return pong;
  }

  close(): Promise<Closed> {
    this.ws.close(1000, 'done');
    return this.closed;
  }
}

/** An upgrade the API refuses before it happens: its HTTP status and error code. */
function refusal(
  url: string,
  protocols: string[],
  origin: string | null = LMS,
): Promise<{ status: number; code: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, origin ? { origin } : {});
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      res.on('end', () => {
        const parsed = JSON.parse(body) as { error: { code: string } };
        resolve({ status: res.statusCode ?? 0, code: parsed.error.code });
      });
    });
    ws.on('error', () => undefined);
  });
}

async function launchShell(t: ApiEnv, learnerId: string): Promise<string> {
  const res = await t.service.post<Lab>('/v1/labs', { courseId: COURSE, learnerId, lab: 'shell' });
  expect([200, 202]).toContain(res.status);
  await waitForState(t, res.data.id, 'ready');
  return res.data.id;
}

/** Polls without a long-poll: a lab whose idleTimeout is 3 s is `ready` for only that long. */
function waitForState(t: ApiEnv, id: string, state: string): Promise<true> {
  let last: unknown;
  return eventually(`${id} ${state}`, async () => {
    const res = await t.service.get<Lab>(`/v1/labs/${id}`);
    last = res.data;
    return res.data.state === state || undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}; last ${JSON.stringify(last)}`);
  });
}

describe('terminal: a shell on the lab over a WebSocket, with a short-lived token', () => {
  const log = new CapturedLog();
  const tokens: string[] = [];
  let t: ApiEnv;
  let wsBase: string;

  const issue = async (id: string, readOnly?: boolean): Promise<Issued> => {
    const res = await t.service.post<Issued>(
      `/v1/labs/${id}/terminal-token`,
      readOnly === undefined ? undefined : { readOnly },
    );
    expect(res.status).toBe(200);
    tokens.push(res.data.token);
    return res.data;
  };
  const open = async (id: string, readOnly?: boolean, origin: string | null = LMS) => {
    const issued = await issue(id, readOnly);
    const terminal = new Terminal(`${wsBase}${issued.url}`, issued.token, origin);
    await terminal.opened;
    return terminal;
  };

  /** How an open session ends when the lab is asked to `action`. */
  const closedBy = async (id: string, action: 'suspend' | 'reset'): Promise<Closed> => {
    const terminal = await open(id);
    await terminal.ready;
    expect((await t.service.post(`/v1/labs/${id}/${action}`)).status).toBe(202);
    return terminal.closed;
  };

  beforeAll(async () => {
    t = await startApiEnv(
      { logger: createLogger('debug', 'labs', log) },
      { terminal: { stateCheckEveryMs: 250, pingEveryMs: 500 } },
      undefined,
      0,
      { corsOrigins: [LMS] },
    );
    wsBase = t.url.replace(/^http/, 'ws');
    await t.lab.startWorker();
  });
  afterAll(() => t?.close());

  it('runs commands: echo round trip, the first size, a resize, input typed before the shell, exit', async () => {
    const id = await launchShell(t, 'anon-echo');
    const issued = await issue(id);
    expect(issued.url).toBe(`/v1/labs/${id}/terminal`);
    const expiresIn = Date.parse(issued.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(60_000);
    expect(expiresIn).toBeLessThanOrEqual(121_000);

    const terminal = new Terminal(`${wsBase}${issued.url}`, issued.token);
    await terminal.opened;
    expect(terminal.protocol).toBe(PROTOCOL);
    // Sent at once, before the SSH session is up: the size of the pty and buffered input.
    terminal.resize(120, 40);
    terminal.type('stty size\r');
    expect(await terminal.ready).toEqual({ type: 'ready', readOnly: false });
    await terminal.sees('40 120');
    terminal.type('echo hello-$((40+2))\r');
    await terminal.sees('hello-42');
    terminal.resize(100, 30);
    terminal.type('stty size\r');
    await terminal.sees('30 100');

    const metrics = (await t.http.get<string>('/metrics', { responseType: 'text' })).data;
    expect(metrics).toMatch(/labs_api_terminal_sessions 1\b/);
    expect(metrics).toMatch(
      /labs_api_requests_total\{route="\/v1\/labs\/\{id\}\/terminal",method="GET",status="101"\} \d+/,
    );

    terminal.type('exit\r');
    expect(await terminal.closed).toEqual({ code: 1000, reason: 'the shell exited (0)' });
    // A plain GET learns that the route is a WebSocket.
    const plain = await t.http.get(`/v1/labs/${id}/terminal`);
    expect(plain.status).toBe(426);
    expect(plain.headers.upgrade).toBe('websocket');
  });

  it('refuses before the upgrade: 401 token, 403 lab or origin, 400 subprotocol, 404, and the token route', async () => {
    const id = await launchShell(t, 'anon-refusals');
    const url = `${wsBase}/v1/labs/${id}/terminal`;
    const signer = new TerminalTokens([SECRETS_KEY]);
    const good = (await issue(id)).token;
    const otherLab = labIdFor(COURSE, 'anon-nobody', 'shell');
    const expired = new TerminalTokens([SECRETS_KEY], () => Date.now() - 10 * 60_000).issue(id, {
      readOnly: false,
    }).token;
    const mac = good.slice(-43);
    const tampered = `${good.slice(0, -43)}${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    // A valid signature on another mode (rw for ro) is tampering too.
    const readOnly = signer.issue(id, { readOnly: true }).token;
    const promoted = readOnly.replace('.ro.', '.rw.');
    const otherKey = new TerminalTokens([{ id: 'x', key: Buffer.alloc(32, 7) }]).issue(id, {
      readOnly: false,
    }).token;
    const heartbeatToken = (
      await t.service.post<Lab>('/v1/labs', {
        courseId: COURSE,
        learnerId: 'anon-refusals',
        lab: 'shell',
      })
    ).data.heartbeatToken;

    const cases: Array<[string, Promise<{ status: number; code: string }>, number]> = [
      ['no token', refusal(url, [PROTOCOL]), 401],
      ['expired', refusal(url, [PROTOCOL, expired]), 401],
      ['tampered', refusal(url, [PROTOCOL, tampered]), 401],
      ['promoted to rw', refusal(url, [PROTOCOL, promoted]), 401],
      ['signed under another key', refusal(url, [PROTOCOL, otherKey]), 401],
      ['a heartbeat token', refusal(url, [PROTOCOL, heartbeatToken]), 401],
      [
        "another lab's token",
        refusal(url, [PROTOCOL, signer.issue(otherLab, { readOnly: false }).token]),
        403,
      ],
      ['bad origin', refusal(url, [PROTOCOL, good], 'https://evil.example'), 403],
      ['no subprotocol', refusal(url, [good]), 400],
      [
        'unknown lab',
        refusal(`${wsBase}/v1/labs/${otherLab}/terminal`, [
          PROTOCOL,
          signer.issue(otherLab, { readOnly: false }).token,
        ]),
        404,
      ],
    ];
    const answers = await Promise.all(cases.map(([, answer]) => answer));
    expect(cases.map(([what], i) => [what, answers[i]!.status])).toEqual(
      cases.map(([what, , status]) => [what, status]),
    );
    expect(answers[0]!.code).toBe('unauthorized');
    expect(answers[7]!.code).toBe('forbidden');

    // A handshake ws itself refuses (no Sec-WebSocket-Key) is answered the API's way too.
    const malformed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(url.replace(/^ws/, 'http'), {
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Protocol': `${PROTOCOL}, ${good}`,
        },
      });
      req.once('response', (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.once('error', reject);
      req.end();
    });
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body)).toMatchObject({ error: { code: 'invalid_input' } });

    // A client without an Origin header (not a browser) is let in; the good token still works.
    const noOrigin = new Terminal(url, good, null);
    await noOrigin.opened;
    await noOrigin.ready;
    await noOrigin.close();

    // The token route: service token only, known lab.
    expect((await t.admin.post(`/v1/labs/${id}/terminal-token`)).status).toBe(403);
    expect((await t.as(heartbeatToken).post(`/v1/labs/${id}/terminal-token`)).status).toBe(403);
    expect((await t.service.post(`/v1/labs/${otherLab}/terminal-token`)).status).toBe(404);
    expect((await t.service.post(`/v1/labs/${id}/terminal-token`, { readOnly: 1 })).status).toBe(
      400,
    );
  });

  it('opens at most 3 sessions per lab: the fourth is closed with 4429', async () => {
    const id = await launchShell(t, 'anon-many');
    const three = await Promise.all([open(id), open(id), open(id)]);
    await Promise.all(three.map((s) => s.ready));
    const fourth = await open(id);
    const refused = await fourth.closed;
    expect(refused.code).toBe(4429);
    expect(refused.reason).toMatch(/3 terminal sessions/);
    await three[0]!.close();
    const again = await open(id);
    await again.ready;
    await Promise.all([...three.slice(1), again].map((s) => s.close()));
  });

  it('drops the input of a read-only session (resizes still apply)', async () => {
    const id = await launchShell(t, 'anon-readonly');
    const viewer = await open(id, true);
    expect(await viewer.ready).toEqual({ type: 'ready', readOnly: true });
    viewer.resize(90, 20);
    viewer.type('touch ro-proof\r');
    // The server reads a socket's frames in order: once it answered the ping, the input is
    // behind it (dropped, or it would have run by the time the next session looks).
    await viewer.roundTrip();

    const learner = await open(id);
    await learner.ready;
    learner.type('test -e ro-proof && echo present-$((1+1)) || echo absent-$((1+2))\r');
    await learner.sees('absent-3');
    expect(learner.output).not.toContain('present-2');
    learner.type('touch rw-proof && test -e rw-proof && echo made-$((2+2))\r');
    await learner.sees('made-4');
    await learner.close();
    // Nor did the viewer's own shell see it (it would have echoed it).
    expect(viewer.output).not.toContain('ro-proof');
    await viewer.close();
  });

  it('pings, and drops a peer that stops answering', async () => {
    const id = await launchShell(t, 'anon-silent');
    const lively = await open(id);
    const issued = await issue(id);
    const silent = new Terminal(`${wsBase}${issued.url}`, issued.token, LMS, false);
    await lively.ready;
    // Dropped without a close frame (1006 on this side), while the one that answers stays.
    expect((await silent.closed).code).toBe(1006);
    lively.type('echo still-$((5+5))\r');
    await lively.sees('still-10');
    await lively.close();
  });

  it("refuses a changed host key for the same stack (4502), and pins each stack's first", async () => {
    const id = await launchShell(t, 'anon-hostkey');
    const first = await open(id);
    await first.ready;
    await first.close();
    const generation = (await t.lab.store.labs.get(id))!.generation;
    const pinned = await t.lab.store.hostKeys.collection.findOne({ _id: `${id}:${generation}` });
    expect(pinned?.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);

    await t.lab.store.hostKeys.collection.updateOne(
      { _id: `${id}:${generation}` },
      { $set: { fingerprint: 'SHA256:someone-else' } },
    );
    const refused = await open(id);
    const closed = await refused.closed;
    expect(closed.code).toBe(4502);
    expect(closed.reason).toMatch(/host key changed/);
    expect(refused.output).toBe('');
  });

  it('closes open sessions with 4409 when the lab suspends; then 409 for a token and an upgrade', async () => {
    const id = await launchShell(t, 'anon-suspend');
    const closed = await closedBy(id, 'suspend');
    expect(closed.code).toBe(4409);
    expect(closed.reason).toMatch(/^the lab is (suspending|suspended)$/);
    await waitForState(t, id, 'suspended');

    expect((await t.service.post(`/v1/labs/${id}/terminal-token`)).status).toBe(409);
    const token = new TerminalTokens([SECRETS_KEY]).issue(id, { readOnly: false }).token;
    expect(await refusal(`${wsBase}/v1/labs/${id}/terminal`, [PROTOCOL, token])).toEqual({
      status: 409,
      code: 'invalid_state',
    });
  });

  it('closes open sessions with 4409 when the lab is reset; a new token opens the new stack', async () => {
    const id = await launchShell(t, 'anon-reset');
    const closed = await closedBy(id, 'reset');
    expect(closed.code).toBe(4409);
    expect(closed.reason).toMatch(/^the lab (is resetting|was reset)$/);
    await waitForState(t, id, 'ready');
    const after = await open(id);
    await after.ready;
    after.type('echo fresh-$((3*3))\r');
    await after.sees('fresh-9');
    await after.close();
    // Each stack generation pinned its own key.
    expect(await t.lab.store.hostKeys.collection.countDocuments({ labId: id })).toBe(2);
  });

  it('never logs a terminal token or the private key; logs each upgrade without headers', async () => {
    const id = await launchShell(t, 'anon-logs');
    const terminal = await open(id);
    await terminal.ready;
    await terminal.close();
    const connection = await t.service.get<{ secrets: Record<string, string> }>(
      `/v1/labs/${id}/connection`,
    );
    const privateKey = connection.data.secrets.private_key!;
    expect(privateKey).toMatch(/PRIVATE KEY/);

    const text = log.text;
    const records = text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const upgrades = records.filter(
      (r) => r.msg === 'request' && r.route === '/v1/labs/{id}/terminal',
    );
    expect(upgrades.some((r) => r.status === 101 && r.labId === id && r.workflowId === id)).toBe(
      true,
    );
    expect(upgrades.some((r) => r.status === 401)).toBe(true);
    expect(records.some((r) => r.msg === 'terminal session closed' && r.labId === id)).toBe(true);

    expect(tokens.length).toBeGreaterThan(0);
    const keyLines = privateKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    const needles: Record<string, string> = {
      SERVICE_TOKEN,
      ...Object.fromEntries(tokens.map((token, i) => [`terminal token ${i}`, token])),
      ...Object.fromEntries(
        tokens.map((token, i) => [`terminal token ${i} MAC`, token.slice(-43)]),
      ),
      ...Object.fromEntries(keyLines.map((line, i) => [`private key line ${i}`, line])),
    };
    const found = Object.entries(needles)
      .filter(([, value]) => text.includes(value))
      .map(([what]) => what);
    expect(found).toEqual([]);
  });
});

describe('terminal: typing is learner activity', () => {
  let t: ApiEnv;
  beforeAll(async () => {
    t = await startApiEnv({ idleTimeout: '3s' }, {}, undefined, 0, { corsOrigins: [LMS] });
    await t.lab.startWorker();
  });
  afterAll(() => t?.close());

  it('keeps a lab whose learner types from suspending past idleTimeout, and lets it go after', async () => {
    const id = await launchShell(t, 'anon-typing');
    const issued = (await t.service.post<Issued>(`/v1/labs/${id}/terminal-token`)).data;
    const terminal = new Terminal(`${t.url.replace(/^http/, 'ws')}${issued.url}`, issued.token);
    await terminal.opened;
    await terminal.ready;
    // Three idle timeouts of typing, a keystroke a second (the rhythm of a learner, not a wait).
    const until = Date.now() + 9_000;
    for (let i = 0; Date.now() < until; i++) {
      terminal.type(`: ${i}\r`);
      await pace(1_000);
      expect((await t.service.get<Lab>(`/v1/labs/${id}`)).data.state).toBe('ready');
    }
    // Left alone, it suspends, and the open session is told why.
    const closed = await terminal.closed;
    expect(closed.code).toBe(4409);
    await waitForState(t, id, 'suspended');
  }, 60_000);
});
