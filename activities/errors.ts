import { ApplicationFailure } from '@temporalio/activity';
import {
  HeatBadRequestError,
  HeatError,
  HeatOverLimitError,
  HeatStackFailedError,
} from '../src/openstack/errors';
import { FailureType } from '../workflows/failures';

/** The failure types are defined once, in workflow-safe code the lab workflow also reads. */
export { FailureType };

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
