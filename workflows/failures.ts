/**
 * Failure names shared by the activities (which throw them as ApplicationFailure types) and the
 * lab workflow (which maps them to the stable `LabError.code` of the API): one list, here, in
 * workflow-safe code.
 */
import type { ActivityFailure } from '@temporalio/workflow';
import type { LabError } from './state';

/** ApplicationFailure types the activities throw and the workflow tells apart. */
export const FailureType = {
  StackFailed: 'StackFailed',
  LaunchTimeout: 'LaunchTimeout',
  Quota: 'Quota',
  BadTemplate: 'BadTemplate',
  UnknownLab: 'UnknownLab',
  SuspendFailed: 'SuspendFailed',
  ResumeFailed: 'ResumeFailed',
  StackGone: 'StackGone',
  StackBusy: 'StackBusy',
  /** A check run whose lab cannot be checked (not the stack it began on, no SSH, a changed host key). */
  ChecksCannotRun: 'ChecksCannotRun',
} as const;

/** Failures no retry can fix: an activity ends on them at once. */
export const NON_RETRYABLE_FAILURES: string[] = [
  FailureType.Quota,
  FailureType.BadTemplate,
  FailureType.StackFailed,
  FailureType.LaunchTimeout,
  FailureType.UnknownLab,
];

/**
 * The lab error code of each failure type; the Heat client's own errors reach the workflow
 * under their class names (src/openstack/errors.ts). Anything else is `heat_error`.
 */
const CODE_OF: Record<string, string> = {
  [FailureType.StackFailed]: 'create_failed',
  [FailureType.LaunchTimeout]: 'launch_timeout',
  [FailureType.Quota]: 'quota',
  [FailureType.BadTemplate]: 'bad_template',
  [FailureType.UnknownLab]: 'unknown_lab',
  [FailureType.SuspendFailed]: 'suspend_failed',
  [FailureType.ResumeFailed]: 'resume_failed',
  [FailureType.StackGone]: 'stack_gone',
  [FailureType.StackBusy]: 'stack_busy',
  HeatUnavailableError: 'heat_unavailable',
  HeatTimeoutError: 'heat_timeout',
  HeatUnauthorizedError: 'heat_unauthorized',
};

/**
 * Lab error codes of Heat answers that refuse an action (create_failed: a stack that ended
 * *_FAILED, DELETE_FAILED included), as opposed to Heat being unreachable.
 */
export const REFUSAL_CODES = ['suspend_failed', 'resume_failed', 'create_failed'];

export function labErrorOf(err: unknown): LabError {
  const cause = (err as ActivityFailure)?.cause ?? err;
  const failure = cause as { type?: string; message?: string };
  return {
    code: CODE_OF[failure.type ?? ''] ?? 'heat_error',
    message: failure.message ?? String(err),
  };
}
