/**
 * The browser terminal (issue 16): N sessions open at once on one API process, each a WebSocket
 * to a `shell` lab's real bash on the emulator's SSH gateway, and the time from a typed line to
 * its output. The baseline, in the same run: the same shells over direct SSH (ssh2, with the
 * lab's private key from /connection), the same way, as many at once. The ratio is what the
 * API's hop (WebSocket, its SSH client, the host-key check) adds.
 */
import { Client, type ClientChannel } from 'ssh2';
import { WebSocket, type RawData } from 'ws';
import { TERMINAL_SUBPROTOCOL } from '../src/api/terminal/protocol';
import { launchLabs, waitForState, type BenchEnv } from './env';
import { percentile, request } from './http';
import { MiB, reportEvery, sleep } from './progress';
import { fmt, row, type Row } from './report';

/** How long a session may take to open, a line to come back, a close to be answered. */
const OPEN_TIMEOUT_MS = 60_000;
const ECHO_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 5_000;

export interface TerminalScale {
  /** Sessions open at once, one per lab. */
  sessions: number;
  /** Lines typed per session, one after the other. */
  markers: number;
  /** A learner's pause between lines (each pause is drawn between half and one and a half). */
  gapMs: number;
  /** Deadline for the labs to be ready. */
  waitMs: number;
}

interface Connection {
  host: string;
  port: number;
  username: string;
  secrets: Record<string, string>;
}

/** An open shell, either way: what it prints (watched for markers), what is typed, its close. */
interface Shell {
  readonly watch: EchoWatch;
  send(text: string): void;
  close(): Promise<void>;
}

interface Phase {
  /** Shells opened, of the sessions tried. */
  opened: number;
  openErrors: string[];
  /** From the first request to the shell being open (the `ready` message, or the channel). */
  openMs: number[];
  echoMs: number[];
  /** Lines whose output did not come back within ECHO_TIMEOUT_MS. */
  lostEchoes: number;
  /** This process's RSS before the sessions, with them open, and after typing in them. */
  rss: { before: number; open: number; typed: number };
}

/**
 * What a shell printed since the last line was sent, and the marker awaited: the line is
 * `echo <marker>`, so the marker comes back twice, typed (after `echo `) and then as the
 * command's output, on a line of its own; only the latter counts.
 */
class EchoWatch {
  private output = '';
  private waiting: {
    pattern: RegExp;
    sentAt: bigint;
    done: (ms: number | null) => void;
  } | null = null;

  feed(chunk: Buffer): void {
    const waiting = this.waiting;
    if (!waiting) return;
    this.output += chunk.toString('latin1');
    if (!waiting.pattern.test(this.output)) return;
    this.waiting = null;
    this.output = '';
    waiting.done(Number(process.hrtime.bigint() - waiting.sentAt) / 1e6);
  }

  /** Types `echo <marker>` and Enter: the ms until its output, or null after the timeout. */
  echo(shell: Shell, marker: string): Promise<number | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        resolve(null);
      }, ECHO_TIMEOUT_MS);
      this.output = '';
      this.waiting = {
        // After Enter bash prints `\r\n`, then (bracketed paste off) `\x1b[?2004l\r`: the
        // output line starts after a CR or an LF, the typed one after `echo `.
        pattern: new RegExp(`[\\r\\n]${marker}\\r?\\n`),
        sentAt: process.hrtime.bigint(),
        done: (ms) => {
          clearTimeout(timer);
          resolve(ms);
        },
      };
      shell.send(`echo ${marker}\r`);
    });
  }
}

export async function benchTerminal(
  env: BenchEnv,
  scale: TerminalScale,
): Promise<{ rows: Row[]; details: Record<string, unknown> }> {
  console.log(`[terminal] launching ${scale.sessions} shell labs ...`);
  const run = Date.now().toString(36);
  const launched = await launchLabs(
    env,
    Array.from({ length: scale.sessions }, (_, i) => `term-${run}-${i}`),
    16,
    { lab: 'shell', patient: true },
  );
  const ids = launched.labs.map((l) => l.id);
  try {
    const ready = await waitForState(env, ids, 'ready', scale.waitMs);
    const labs: Array<{ id: string; connection: Connection }> = [];
    for (const id of ready.ids) {
      const answer = await request(`${env.apiUrl}/v1/labs/${id}/connection`, {
        token: env.serviceToken,
      });
      if (answer.status === 200)
        labs.push({ id, connection: JSON.parse(answer.body) as Connection });
    }
    console.log(
      `[terminal] ${labs.length}/${scale.sessions} labs ready with a connection (launch errors ${launched.errors}) in ${fmt(launched.seconds + ready.seconds, 1)} s`,
    );
    if (labs.length === 0) throw new Error('no shell lab became ready');

    // Through the API first: its RSS growth is measured from a process no session has grown.
    const api = await phase('api', labs.length, scale, (i) => openThroughApi(env, labs[i]!.id));
    const direct = await phase('direct', labs.length, scale, (i) =>
      openDirect(labs[i]!.connection),
    );
    return { rows: rowsOf(labs.length, scale, api, direct), details: { api, direct } };
  } finally {
    await deleteLabs(env, ids);
  }
}

function rowsOf(sessions: number, scale: TerminalScale, api: Phase, direct: Phase): Row[] {
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const echo = { api: sorted(api.echoMs), direct: sorted(direct.echoMs) };
  const open = { api: sorted(api.openMs), direct: sorted(direct.openMs) };
  const name = 'terminal';
  const ms = (x: number) => `${fmt(x, 1)} ms`;
  const ratio = (a: number, b: number) => `${fmt(a / b, 2)}x`;
  const p = (xs: number[], q: number) => percentile(xs, q);
  const growth = (phase: Phase) => (phase.rss.typed - phase.rss.before) / Math.max(1, phase.opened);
  // Against the sessions asked for: a lab that never became ready is a session not opened.
  const expected = scale.sessions * scale.markers;
  const p99 = { api: p(echo.api, 99), direct: p(echo.direct, 99) };
  const notes = `${sessions} sessions at once, ${scale.markers} lines each ("echo <marker>" and Enter, one binary frame; timed to the marker's output line), ${fmt(scale.gapMs * 0.5)}-${fmt(scale.gapMs * 1.5)} ms apart; direct: ssh2 to the same gateway with the lab's private key, the same pty and lines, as many at once, after the API's sessions closed`;
  return [
    row(
      name,
      'sessions open / lines echoed',
      `${api.opened}/${scale.sessions}, ${api.echoMs.length}/${expected}`,
      'all',
      api.opened === scale.sessions && api.echoMs.length === expected,
      {
        baseline: `${direct.opened}/${scale.sessions}, ${direct.echoMs.length}/${expected} direct`,
        notes: [
          `lines lost: ${api.lostEchoes} through the API, ${direct.lostEchoes} direct`,
          ...[...api.openErrors, ...direct.openErrors].slice(0, 3),
        ].join('; '),
      },
    ),
    row(name, 'keystroke-to-echo p50', ms(p(echo.api, 50)), 'report', undefined, {
      baseline: `${ms(p(echo.direct, 50))} direct SSH`,
      ratio: ratio(p(echo.api, 50), p(echo.direct, 50)),
      notes,
    }),
    row(name, 'keystroke-to-echo p99', ms(p99.api), '<= 2x direct', p99.api <= 2 * p99.direct, {
      baseline: `${ms(p99.direct)} direct SSH`,
      ratio: ratio(p99.api, p99.direct),
    }),
    row(
      name,
      'session open p50 / p99',
      `${ms(p(open.api, 50))} / ${ms(p(open.api, 99))}`,
      'report',
      undefined,
      {
        baseline: `${ms(p(open.direct, 50))} / ${ms(p(open.direct, 99))} direct SSH`,
        ratio: ratio(p(open.api, 99), p(open.direct, 99)),
        notes:
          'through the API: terminal token, WebSocket upgrade, the API SSH login and host-key check, until its `ready` message; direct: SSH login until the shell channel is open; all sessions opened at once',
      },
    ),
    row(
      name,
      'RSS growth per open session',
      `${fmt(growth(api) / 1024)} KiB`,
      'report',
      undefined,
      {
        baseline: `${fmt(growth(direct) / 1024)} KiB direct SSH`,
        ratio: ratio(growth(api), growth(direct)),
        notes: `the bench process's RSS (with the sessions open and typed in, minus before them, over ${sessions}): it holds the API, but also the emulator and its SSH gateway and the bench's own clients (the worker and the shells are processes of their own, not counted); ${fmt(api.rss.before / MiB)} MiB -> ${fmt(api.rss.typed / MiB)} MiB through the API, ${fmt(direct.rss.before / MiB)} MiB -> ${fmt(direct.rss.typed / MiB)} MiB direct, which ran second`,
      },
    ),
  ];
}

/** Opens `count` shells at once, types in all of them at once, closes them. */
async function phase(
  label: string,
  count: number,
  scale: TerminalScale,
  open: (i: number) => Promise<Shell>,
): Promise<Phase> {
  const result: Phase = {
    opened: 0,
    openErrors: [],
    openMs: [],
    echoMs: [],
    lostEchoes: 0,
    rss: { before: process.memoryUsage().rss, open: 0, typed: 0 },
  };
  const progress = reportEvery(
    `terminal ${label}`,
    10_000,
    () =>
      `${result.opened}/${count} open, ${result.echoMs.length}/${count * scale.markers} lines echoed`,
  );
  try {
    const shells = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const t0 = process.hrtime.bigint();
        try {
          const shell = await open(i);
          result.openMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
          // Untimed: bash's first prompt, and the first line through a cold path.
          if ((await shell.watch.echo(shell, `w${i}`)) === null) {
            await shell.close();
            throw new Error(`session ${i}: the first line never came back`);
          }
          result.opened++;
          return shell;
        } catch (err) {
          result.openErrors.push(`${label}: ${(err as Error).message}`);
          return null;
        }
      }),
    );
    const live = shells.filter((s): s is Shell => s !== null);
    result.rss.open = process.memoryUsage().rss;
    await Promise.all(
      live.map(async (shell, i) => {
        for (let m = 0; m < scale.markers; m++) {
          await sleep(scale.gapMs * (0.5 + Math.random()));
          const ms = await shell.watch.echo(shell, `k${i}x${m}`);
          if (ms === null) result.lostEchoes++;
          else result.echoMs.push(ms);
        }
      }),
    );
    result.rss.typed = process.memoryUsage().rss;
    await Promise.all(live.map((shell) => shell.close()));
  } finally {
    progress.stop();
  }
  const sorted = [...result.echoMs].sort((a, b) => a - b);
  console.log(
    `[terminal] ${label}: ${result.opened}/${count} open, echo p50 ${fmt(percentile(sorted, 50), 1)} ms, p99 ${fmt(percentile(sorted, 99), 1)} ms${result.openErrors.length ? `, errors: ${result.openErrors.slice(0, 3).join('; ')}` : ''}`,
  );
  return result;
}

/** As a page does: a terminal token, then the WebSocket (no Origin: not a browser), until `ready`. */
async function openThroughApi(env: BenchEnv, labId: string): Promise<Shell> {
  const issued = await request(`${env.apiUrl}/v1/labs/${labId}/terminal-token`, {
    method: 'POST',
    token: env.serviceToken,
  });
  if (issued.status !== 200) throw new Error(`terminal token: ${issued.status} ${issued.body}`);
  const { token, url } = JSON.parse(issued.body) as { token: string; url: string };
  const ws = new WebSocket(`${env.apiUrl.replace(/^http/, 'ws')}${url}`, [
    TERMINAL_SUBPROTOCOL,
    token,
  ]);
  const watch = new EchoWatch();
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    ws.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  ws.on('error', () => undefined);
  const opened = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ready message')), OPEN_TIMEOUT_MS);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return watch.feed(data as Buffer);
      if (!(data as Buffer).toString('utf8').includes('"ready"')) return;
      clearTimeout(timer);
      resolve();
    });
    ws.once('unexpected-response', (req, res) => {
      clearTimeout(timer);
      req.destroy(); // with this listener, ending the refused request is ours to do
      reject(new Error(`upgrade refused: ${res.statusCode}`));
    });
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      reject(new Error(`closed ${code} ${reason.toString('utf8')}`));
    });
  });
  await opened.catch((err: Error) => {
    ws.terminate();
    throw err;
  });
  return {
    watch,
    send: (text) => ws.send(Buffer.from(text, 'utf8'), { binary: true }),
    close: async () => {
      ws.close(1000, 'done');
      await Promise.race([closed, sleep(CLOSE_TIMEOUT_MS)]);
      if (!isClosed) ws.terminate();
    },
  };
}

/** The baseline: the lab's shell over SSH from here, as the API opens it (same pty). */
async function openDirect(connection: Connection): Promise<Shell> {
  const privateKey = connection.secrets.private_key;
  if (!privateKey) throw new Error('the connection has no private_key');
  const client = new Client();
  const watch = new EchoWatch();
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const channel = await new Promise<ClientChannel>((resolve, reject) => {
    client.once('error', reject);
    client.once('ready', () =>
      client.shell({ term: 'xterm-256color', cols: 80, rows: 24 }, (err, shell) =>
        err ? reject(err) : resolve(shell),
      ),
    );
    client.connect({
      host: connection.host,
      port: Number(connection.port),
      username: connection.username,
      privateKey,
      readyTimeout: OPEN_TIMEOUT_MS,
    });
  }).catch((err: Error) => {
    client.end();
    throw err;
  });
  client.on('error', () => undefined);
  channel.on('error', () => undefined);
  channel.on('data', (chunk: Buffer) => watch.feed(chunk));
  channel.stderr.on('data', (chunk: Buffer) => watch.feed(chunk));
  return {
    watch,
    send: (text) => channel.write(text),
    close: async () => {
      channel.end();
      client.end();
      await Promise.race([closed, sleep(CLOSE_TIMEOUT_MS)]);
    },
  };
}

/** Deletes the bench's labs and waits (a while) for them to be gone. */
async function deleteLabs(env: BenchEnv, ids: string[]): Promise<void> {
  let refused = 0;
  for (const id of ids) {
    const answer = await request(`${env.apiUrl}/v1/labs/${id}`, {
      method: 'DELETE',
      token: env.serviceToken,
    }).catch(() => undefined);
    if (answer?.status !== 202) refused++;
  }
  const gone = await waitForState(env, ids, 'deleted', 60_000);
  console.log(
    `[terminal] deleted ${gone.reached}/${ids.length} labs${refused ? ` (${refused} deletes refused)` : ''}`,
  );
}
