import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { ServerChannel } from 'ssh2';

/** Node has no pty: a small Python helper makes one (and runs exec commands the same way). */
const HELPER = join(__dirname, 'learner-shell.py');
/** How long a shell has to exit after a hang-up before its process group is killed. */
const KILL_GRACE_MS = 2000;

export interface TerminalRequest {
  term: string;
  rows: number;
  cols: number;
}

export const DEFAULT_TERMINAL: TerminalRequest = { term: 'xterm-256color', rows: 24, cols: 80 };

export interface ShellSpec {
  /** The stack's home folder: HOME and the working directory. */
  home: string;
  /** The name the learner logged in with (USER, LOGNAME). */
  user: string;
}

/** A learner's process behind one SSH channel: a pty shell or an exec command. */
export class LearnerProcess {
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private done = false;

  private constructor(
    channel: ServerChannel,
    spec: ShellSpec & TerminalRequest & { command?: string },
  ) {
    const pty = spec.command === undefined;
    // Detached: the helper leads a process group of its own, which a closed channel kills whole.
    this.child = spawn('python3', [HELPER, JSON.stringify(spec)], {
      cwd: spec.home,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe', pty ? 'pipe' : 'ignore'],
    });
    const { child } = this;
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.done = true;
        if (signal) channel.exit(signal.replace(/^SIG/, ''), false, '');
        else channel.exit(code ?? 0);
        channel.end();
        resolve();
      });
    });
    child.once('error', () => {
      // spawn failed (no python3): the channel ends as a command that could not run.
      if (this.done) return;
      this.done = true;
      channel.stderr.write('the emulator could not start a shell (is python3 installed?)\r\n');
      channel.exit(127);
      channel.end();
    });
    child.stdout?.pipe(channel, { end: false });
    child.stderr?.pipe(channel.stderr, { end: false });
    channel.pipe(child.stdin as Writable);
    // A client that goes away mid-write (or resizes and leaves before the helper reads it):
    // the shell is killed by the channel's close below; a broken pipe is not an error here.
    for (const stream of child.stdio) stream?.on('error', () => undefined);
    channel.once('close', () => this.kill());
  }

  /** `bash -i` on a pty of the requested size. */
  static shell(channel: ServerChannel, spec: ShellSpec, terminal: TerminalRequest): LearnerProcess {
    return new LearnerProcess(channel, { ...spec, ...terminal });
  }

  /** `bash -c command`, its stdout and stderr piped, for exec requests (check scripts). */
  static exec(channel: ServerChannel, spec: ShellSpec, command: string): LearnerProcess {
    return new LearnerProcess(channel, { ...spec, ...DEFAULT_TERMINAL, command });
  }

  resize(rows: number, cols: number): void {
    const control = this.child.stdio[3] as Writable | null | undefined;
    if (!this.done && control?.writable) control.write(`${JSON.stringify({ rows, cols })}\n`);
  }

  /** Hangs up (the helper closes the pty, bash gets SIGHUP), then kills the group if it lingers. */
  kill(): void {
    if (this.done || this.child.pid === undefined) return;
    signalGroup(this.child.pid, 'SIGTERM');
    setTimeout(() => {
      if (!this.done && this.child.pid !== undefined) signalGroup(this.child.pid, 'SIGKILL');
    }, KILL_GRACE_MS).unref();
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
