import { TRANSITIONAL_STATES, type LabState } from '../../../workflows/state';
import type { Lab, LabAction, LabsApiClient } from './api-client';
import { CliError, EXIT } from './exit-codes';
import { progressLine } from './format';
import type { Io } from './io';

/** The longest long-poll the API allows (DESIGN: wait 0..60). */
const LONG_POLL_SECONDS = 30;

/**
 * Whether `lab` is where `action` has taken it. An action's answer may still show the state
 * before the workflow acted (a retried lab answers `failed` until its loop runs), so a lab
 * counts as settled only once it is out of every transitional state and has moved since
 * `before` (a new state or a newer projection), except a suspend of a lab already suspended.
 */
export function hasSettled(lab: Lab, before: Lab | null, action: LabAction): boolean {
  if (TRANSITIONAL_STATES.includes(lab.state as LabState)) return false;
  if (before === null) return true;
  if (action === 'suspend' && before.state === 'suspended' && lab.state === 'suspended')
    return true;
  return lab.state !== before.state || lab.updatedAt !== before.updatedAt;
}

/**
 * Long-polls the lab until it settles, printing a line whenever its state or progress changes
 * (rewritten in place on a terminal). Ends with the settled lab; a `failed` lab or a timeout is
 * a CliError with its exit code.
 */
export async function waitUntilSettled(options: {
  client: LabsApiClient;
  action: LabAction;
  before: Lab | null;
  answer: Lab;
  timeoutMs: number;
  io: Io;
}): Promise<Lab> {
  const { client, action, before, io } = options;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  let lab = options.answer;
  let shown = '';
  const show = () => {
    const line = progressLine(lab, Date.now() - started);
    const key = line.replace(/ \[\d+s\]$/, '');
    if (key === shown) return;
    shown = key;
    io.progress(line);
  };
  show();
  while (!hasSettled(lab, before, action)) {
    const left = deadline - Date.now();
    if (left <= 0) {
      io.progressDone();
      throw new CliError(
        `${lab.id} is still ${lab.state} after ${Math.round(options.timeoutMs / 1000)} s; ` +
          `follow it with \`labctl show ${lab.id}\``,
        EXIT.timedOut,
      );
    }
    lab = await client.getLab(
      lab.id,
      Math.max(1, Math.min(LONG_POLL_SECONDS, Math.ceil(left / 1000))),
    );
    show();
  }
  io.progressDone();
  if (lab.state === 'failed')
    throw new CliError(
      `${lab.id} failed: ${lab.error ? `${lab.error.code}: ${lab.error.message}` : 'no reason recorded'}` +
        `\n  retry it with \`labctl retry ${lab.id} --wait\` once the cause is fixed`,
      EXIT.labFailed,
    );
  return lab;
}
