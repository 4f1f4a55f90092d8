/**
 * The browser terminal's wire protocol (`GET /v1/labs/{id}/terminal`, docs/api.md "Terminal").
 *
 * The client offers two subprotocols, `labs.terminal.v1` and its terminal token; the server
 * answers with `labs.terminal.v1` only, so the token is never echoed. Binary frames carry the
 * terminal's bytes both ways; text frames carry one JSON control message each.
 */
export const TERMINAL_SUBPROTOCOL = 'labs.terminal.v1';

export const TERMINAL_PATH = '/v1/labs/{id}/terminal';

/** Close codes (4xxx mirror the HTTP status they stand for). */
export const CLOSE = {
  /** The shell exited (the learner typed `exit`). */
  normal: 1000,
  /** The API is shutting down. */
  goingAway: 1001,
  /** A text frame that is not a control message this protocol knows how to read. */
  malformed: 1007,
  /** Input arrived faster than the lab's SSH server took it, past what is buffered. */
  policy: 1008,
  /** The lab left `ready` (suspend, reset, delete): the reason says what it is doing. */
  labNotReady: 4409,
  /** The lab already has as many sessions open as allowed (TerminalOptions.maxSessionsPerLab). */
  tooManySessions: 4429,
  /** The SSH side failed: unreachable, refused the credentials, or a changed host key. */
  sshFailed: 4502,
} as const;

export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];

/** Client to server. `resize` may come before the shell is open: it sets the pty's first size. */
export type ClientControl = { type: 'resize'; cols: number; rows: number };

/** Server to client: the shell is open (input sent before it was buffered and is now written). */
export type ServerControl = { type: 'ready'; readOnly: boolean };

const MAX_DIMENSION = 1_000;

const dimension = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_DIMENSION;

/**
 * A control message from a text frame: the message, `null` for a well-formed message of a type
 * this version does not know (ignored, so newer pages work with older servers), or `'malformed'`.
 */
export function parseControl(text: string): ClientControl | null | 'malformed' {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return 'malformed';
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return 'malformed';
  const { type, cols, rows } = message as Record<string, unknown>;
  if (typeof type !== 'string') return 'malformed';
  if (type !== 'resize') return null;
  if (!dimension(cols) || !dimension(rows)) return 'malformed';
  return { type, cols, rows };
}
