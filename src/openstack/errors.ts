/**
 * Typed errors of the Heat/Keystone client. Every one keeps what Heat said (`heatType`, the
 * `error.type` of Heat's fault body, and its message) and, when known, the provider and the stack,
 * so an activity can decide (retry, adopt, fail the lab) and support staff can read why.
 */

export type HeatErrorKind =
  | 'notFound'
  | 'conflict'
  | 'overLimit'
  | 'badRequest'
  | 'unauthorized'
  | 'forbidden'
  | 'unavailable'
  | 'timeout'
  | 'stackFailed';

export interface HeatErrorDetails {
  /** HTTP status, when the error came from an HTTP answer. */
  status?: number;
  /** Heat's own `error.type` (e.g. StackExists, StackValidationFailed, RequestLimitExceeded). */
  heatType?: string;
  provider?: string;
  stackName?: string;
  /** e.g. ECONNRESET, ECONNABORTED. */
  code?: string;
  cause?: unknown;
}

export abstract class HeatError extends Error {
  abstract readonly kind: HeatErrorKind;
  /** True when repeating the same call later may succeed. */
  abstract readonly retryable: boolean;
  readonly status?: number;
  readonly heatType?: string;
  readonly provider?: string;
  readonly stackName?: string;
  readonly code?: string;
  /** Heat's message, without the context this class adds to `message`. */
  readonly heatMessage: string;

  constructor(heatMessage: string, details: HeatErrorDetails = {}) {
    const where = [
      details.provider ? `provider ${details.provider}` : undefined,
      details.stackName ? `stack ${details.stackName}` : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    super(where ? `${heatMessage} (${where})` : heatMessage, { cause: details.cause });
    this.name = new.target.name;
    this.heatMessage = heatMessage;
    this.status = details.status;
    this.heatType = details.heatType;
    this.provider = details.provider;
    this.stackName = details.stackName;
    this.code = details.code;
  }
}

export class HeatNotFoundError extends HeatError {
  readonly kind = 'notFound' as const;
  readonly retryable = false;
}

/** StackExists on create, or an action Heat refuses because another one is in progress. */
export class HeatConflictError extends HeatError {
  readonly kind = 'conflict' as const;
  readonly retryable = false;
}

/** Quota: Heat's RequestLimitExceeded (max stacks per tenant), a 413, or a 403 about quota. */
export class HeatOverLimitError extends HeatError {
  readonly kind = 'overLimit' as const;
  /** Capacity may free up, but not by repeating at once: callers back off or try another cloud. */
  readonly retryable = false;
}

export class HeatBadRequestError extends HeatError {
  readonly kind = 'badRequest' as const;
  readonly retryable = false;
}

/** Keystone refused the credentials, or Heat refused a token even after a fresh one. */
export class HeatUnauthorizedError extends HeatError {
  readonly kind = 'unauthorized' as const;
  readonly retryable = false;
}

export class HeatForbiddenError extends HeatError {
  readonly kind = 'forbidden' as const;
  readonly retryable = false;
}

/** 5xx, a connection reset or refused, a request that timed out: the cloud may answer later. */
export class HeatUnavailableError extends HeatError {
  readonly kind = 'unavailable' as const;
  readonly retryable = true;
}

/** waitForStackStatus reached its deadline. */
export class HeatTimeoutError extends HeatError {
  readonly kind = 'timeout' as const;
  readonly retryable = true;
  readonly lastStatus?: string;
  constructor(message: string, details: HeatErrorDetails & { lastStatus?: string } = {}) {
    super(message, details);
    this.lastStatus = details.lastStatus;
  }
}

/** The stack reached a *_FAILED status; `heatMessage` is Heat's stack_status_reason. */
export class HeatStackFailedError extends HeatError {
  readonly kind = 'stackFailed' as const;
  readonly retryable = false;
  readonly stackStatus: string;
  readonly statusReason: string;
  constructor(
    stackStatus: string,
    statusReason: string,
    details: HeatErrorDetails & { stackName: string },
  ) {
    super(`${stackStatus}: ${statusReason}`, details);
    this.stackStatus = stackStatus;
    this.statusReason = statusReason;
  }
}

export function isHeatError(error: unknown): error is HeatError {
  return error instanceof HeatError;
}
