import { Client, type ConnectConfig } from 'ssh2';
import type { HostKeyCheck } from '../store';
import { pinnedHostVerifier, sshProblem } from '../ssh/host-key';

/** A lab's stack over SSH, with its decrypted credentials (which stay in the activity). */
export interface ScriptTarget {
  host: string;
  port: number;
  username: string;
  privateKey?: string;
  password?: string;
  generation: number;
  checkHostKey(fingerprint: string): Promise<HostKeyCheck>;
}

export interface ScriptResult {
  /** The script's exit status; null when it was killed (by the timeout) or gave none. */
  exitCode: number | null;
  timedOut: boolean;
  /** What it printed, each capped at OUTPUT_CAP bytes. */
  stdout: string;
  stderr: string;
}

/** Why a check could not run: the lab could not be reached, or refused us. */
export class ScriptConnectionError extends Error {
  constructor(
    message: string,
    /** A changed host key or an unreadable private key: retrying will not help, and must not. */
    readonly permanent = false,
  ) {
    super(message);
    this.name = 'ScriptConnectionError';
  }
}

export const OUTPUT_CAP = 4096;
/** `timeout -k 5`: a script that ignores SIGTERM gets SIGKILL this long after. */
const KILL_AFTER_S = 5;
/** timeout(1)'s exit status when it stopped the script (124 on TERM, 128+9 after KILL). */
const TIMED_OUT_STATUSES = new Set([124, 137]);
const SSH_READY_TIMEOUT_MS = 20_000;

/** Opens an SSH connection to the lab, pinning its host key; the caller ends it. */
export function connect(target: ScriptTarget): Promise<Client> {
  const ssh = new Client();
  let refusal: { reason: string; changed: boolean } | null = null;
  const config: ConnectConfig = {
    host: target.host,
    port: target.port,
    username: target.username,
    ...(target.privateKey ? { privateKey: target.privateKey } : {}),
    ...(target.password ? { password: target.password } : {}),
    readyTimeout: SSH_READY_TIMEOUT_MS,
    hostVerifier: pinnedHostVerifier(target.generation, target.checkHostKey, (reason, changed) => {
      refusal = { reason, changed };
    }),
  };
  return new Promise((resolve, reject) => {
    ssh.once('ready', () => resolve(ssh));
    ssh.once('error', (err) => {
      ssh.end();
      reject(
        refusal
          ? new ScriptConnectionError(refusal.reason, refusal.changed)
          : new ScriptConnectionError(`SSH: ${sshProblem(err)}`),
      );
    });
    try {
      ssh.connect(config);
    } catch {
      // ssh2 parses the private key here, and throws on one it cannot read.
      reject(new ScriptConnectionError("SSH: the lab's private key cannot be read", true));
    }
  });
}

/**
 * Runs `script` on the lab through `bash -s` (the script travels on stdin, never in a command
 * line) under `timeout -k 5 <timeout>`, so a runaway script is killed on the lab itself. A
 * channel that outlives the timeout by the kill grace and a margin is closed from here too.
 */
export function runScript(ssh: Client, script: string, timeoutMs: number): Promise<ScriptResult> {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const command = `timeout -k ${KILL_AFTER_S} ${seconds} bash -s`;
  return new Promise((resolve, reject) => {
    ssh.exec(command, (err, channel) => {
      if (err) return reject(new ScriptConnectionError(`SSH: ${sshProblem(err)}`));
      const stdout = new CappedText();
      const stderr = new CappedText();
      let exitCode: number | null = null;
      let guardFired = false;
      const guard = setTimeout(
        () => {
          guardFired = true;
          channel.close();
        },
        (seconds + KILL_AFTER_S + 5) * 1000,
      );
      channel.on('data', (chunk: Buffer) => stdout.add(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.add(chunk));
      channel.on('exit', (code: number | null) => {
        exitCode = typeof code === 'number' ? code : null;
      });
      channel.on('close', () => {
        clearTimeout(guard);
        const timedOut = guardFired || (exitCode !== null && TIMED_OUT_STATUSES.has(exitCode));
        resolve({
          exitCode: timedOut ? null : exitCode,
          timedOut,
          stdout: stdout.text(),
          stderr: stderr.text(),
        });
      });
      channel.end(script.endsWith('\n') ? script : `${script}\n`);
    });
  });
}

/** The hint a learner sees: the script's `FAIL:` lines, else its stderr, capped. */
export function hintOf(result: ScriptResult): string {
  const failures = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('FAIL:'))
    .map((line) => line.slice('FAIL:'.length).trim());
  const hint = failures.length > 0 ? failures.join('\n') : result.stderr.trim();
  return capped(hint);
}

function capped(text: string): string {
  const bytes = Buffer.from(text);
  return bytes.length <= OUTPUT_CAP ? text : bytes.subarray(0, OUTPUT_CAP).toString('utf8');
}

/** Keeps the first OUTPUT_CAP bytes of a stream and drops the rest. */
class CappedText {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  add(chunk: Buffer): void {
    if (this.size >= OUTPUT_CAP) return;
    const room = OUTPUT_CAP - this.size;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(kept);
    this.size += kept.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}
