import { Context } from '@temporalio/activity';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Client } from 'ssh2';
import { HOOKS_DIR, labNamed, type HookName } from '../src/config';
import { hintOf, runScript, type ScriptResult } from '../src/checks/run-script';
import { openLabSession } from '../src/ssh/lab-session';
import type { ActivityDeps } from './context';

/** How often a running hook reports that its worker is alive. */
const HEARTBEAT_EVERY_MS = 10_000;
/** An audit line quotes this much of the script's last words at most. */
const MESSAGE_CAP = 200;

export interface HookInput {
  labId: string;
  lab: string;
  generation: number;
  hook: HookName;
}

/** What became of a hook: a result for the audit trail, never an error that holds the lab up. */
export interface HookOutcome {
  hook: HookName;
  outcome: 'ok' | 'failed' | 'timed_out' | 'unreachable' | 'not_configured';
  /** The script's exit status; null when it gave none (timed out, never ran). */
  exitCode: number | null;
  /** From the activity's start, the SSH connection included. */
  durationMs: number;
  /** One line, e.g. "exit 3: disk full"; it names no credential. */
  message: string;
}

/** One line of at most MESSAGE_CAP characters. */
const oneLine = (text: string): string => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= MESSAGE_CAP ? line : `${line.slice(0, MESSAGE_CAP - 1)}…`;
};

/** The last line the script left for us (its `FAIL:` lines, else stderr), without the prefix. */
const lastWords = (result: ScriptResult): string => {
  const lines = hintOf(result)
    .split('\n')
    .map((line) => line.replace(/^FAIL:\s*/, '').trim())
    .filter(Boolean);
  return lines.at(-1) ?? '';
};

/**
 * In-lab hooks: a lab's script under hooks/ run on its stack over SSH around a transition
 * (postResume, preSuspend, preDelete). A hook serves the learner (saving work before a suspend)
 * but must never hold the lab up: every failure, the lab's unreachability included, is an
 * outcome the workflow records and moves past, and nothing here throws. `hooksDir` is for
 * tests with scripts of their own.
 */
export function createHookActivities(deps: ActivityDeps, options: { hooksDir?: string } = {}) {
  const hooksDir = options.hooksDir ?? HOOKS_DIR;

  return {
    async runLabHook(input: HookInput): Promise<HookOutcome> {
      const started = performance.now();
      const outcome = (
        kind: HookOutcome['outcome'],
        message: string,
        exitCode: number | null = null,
      ): HookOutcome => {
        const result: HookOutcome = {
          hook: input.hook,
          outcome: kind,
          exitCode,
          durationMs: Math.round(performance.now() - started),
          message: oneLine(message),
        };
        // The outcome only: what the script printed may be the learner's, and stays out of logs.
        const log =
          kind === 'ok' || kind === 'not_configured' ? deps.logger.info : deps.logger.warn;
        log.call(
          deps.logger,
          {
            labId: input.labId,
            generation: input.generation,
            hook: input.hook,
            outcome: kind,
            exitCode,
            durationMs: result.durationMs,
          },
          'lab hook',
        );
        return result;
      };

      const spec = labNamed(deps.config, input.lab)?.hooks[input.hook];
      if (!spec) return outcome('not_configured', `lab ${input.lab} has no ${input.hook} hook`);
      let script: string;
      try {
        script = await readFile(join(hooksDir, spec.script), 'utf8');
      } catch {
        // The loader saw it at start-up: someone removed it since. Our problem, not the lab's.
        return outcome('failed', `cannot read the script hooks/${spec.script}`);
      }
      // runScript has no environment to pass (sshd drops most variables anyway): the script
      // learns which hook it serves from its own first line. HookName is a closed set of words.
      const text = `export LAB_HOOK=${input.hook}\n${script}`;

      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      let ssh: Client | undefined;
      try {
        ssh = await openLabSession(deps, {
          labId: input.labId,
          lab: input.lab,
          generation: input.generation,
        });
        const result = await runScript(ssh, text, spec.timeout);
        if (result.timedOut)
          return outcome('timed_out', `did not finish within ${spec.timeout / 1000} s`);
        if (result.exitCode === 0) return outcome('ok', 'exit 0', 0);
        if (result.exitCode === null) return outcome('failed', 'ended without an exit status');
        const words = lastWords(result);
        return outcome(
          'failed',
          words ? `exit ${result.exitCode}: ${words}` : `exit ${result.exitCode}`,
          result.exitCode,
        );
      } catch (err) {
        // LabUnreachable, SSH failing to connect or to start the script, or the store: the hook
        // did not run, and the lab goes on without it.
        return outcome('unreachable', `cannot reach the lab: ${(err as Error).message}`);
      } finally {
        clearInterval(beat);
        ssh?.end();
      }
    },
  };
}
