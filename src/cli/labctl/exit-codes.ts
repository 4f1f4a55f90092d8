/**
 * labctl's exit codes, for scripts (docs/operations.md lists them). 4xx and 5xx are told apart
 * because a script should retry an unavailable API, not a refused request.
 */
export const EXIT = {
  ok: 0,
  /** The API refused the request (4xx: unknown lab, not allowed in this state, bad token...). */
  apiError: 1,
  /** labctl was called wrongly (unknown command or option, bad value, no token). */
  usage: 2,
  /** The API could not be reached, or answered 5xx (a dependency is down). */
  unavailable: 3,
  /** Under --wait, the lab settled in `failed`. */
  labFailed: 4,
  /** Under --wait, the lab had not settled when --timeout ran out. */
  timedOut: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error labctl reports in one clear message and ends with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(message, EXIT.usage);
