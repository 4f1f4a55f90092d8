import { ApplicationFailure } from '@temporalio/activity';
import {
  HeatBadRequestError,
  HeatError,
  HeatOverLimitError,
  HeatStackFailedError,
} from '../src/openstack/errors';

/** Failure types the workflow tells apart (ApplicationFailure.type). */
export const FailureType = {
  StackFailed: 'StackFailed',
  LaunchTimeout: 'LaunchTimeout',
  Quota: 'Quota',
  BadTemplate: 'BadTemplate',
  UnknownLab: 'UnknownLab',
} as const;

/**
 * Heat errors no retry can fix (bad template, quota, a stack that ended *_FAILED) become
 * non-retryable failures, so the workflow moves on (next provider, or `failed`) instead of
 * burning retries; everything else is rethrown for Temporal's retry policy.
 */
export function asActivityFailure(err: unknown): unknown {
  if (err instanceof HeatOverLimitError)
    return ApplicationFailure.nonRetryable(err.message, FailureType.Quota);
  if (err instanceof HeatBadRequestError)
    return ApplicationFailure.nonRetryable(err.message, FailureType.BadTemplate);
  if (err instanceof HeatStackFailedError)
    return ApplicationFailure.nonRetryable(err.message, FailureType.StackFailed);
  return err;
}

export const isHeatKind = (err: unknown, kind: HeatError['kind']): boolean =>
  err instanceof HeatError && err.kind === kind;
