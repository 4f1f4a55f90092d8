import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createServer } from 'node:net';

/** A server process we started, in its own process group so stopping it stops its children too. */
export interface ChildServer {
  name: string;
  pid: number;
  /** Resolves once the process has exited (killed after `graceMs` if SIGTERM is not enough). */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

export function startChild(
  name: string,
  command: string,
  args: string[],
  options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): ChildServer {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The log ends when both pipes have closed, not when the process exits: a grandchild that
  // outlives it (PostgreSQL's postmaster under `su`) may still hold them and write.
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  let open = 2;
  const closed = () => {
    if (--open === 0) log.end();
  };
  child.stdout.once('close', closed);
  child.stderr.once('close', closed);
  // A log that cannot be written (disk full, directory removed) must not take the caller down.
  log.on('error', () => {});
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const pid = child.pid;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  let alive = true;
  void exited.then(() => {
    alive = false;
  });
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
  };
  return {
    name,
    pid,
    exited,
    async stop(graceMs = 10_000) {
      if (!alive) return;
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // Children of the server (if any) share its group; make sure none outlive it.
      signal('SIGKILL');
    },
  };
}

/** A port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it resolves true, or fails with the last error after `timeoutMs`. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  exited?: Promise<unknown>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let gone = false;
  void exited?.then(() => {
    gone = true;
  });
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${what}: the process exited before it was ready`);
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${what} not ready after ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ''}`,
  );
}
