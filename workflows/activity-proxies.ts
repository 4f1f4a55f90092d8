/** How the lab workflow reaches its activities: timeouts and retry policies in one place. */
import { proxyActivities, proxyLocalActivities, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { FailureType, NON_RETRYABLE_FAILURES } from './failures';

/** Mongo-only work (capacity, projection, policy reads): retried until the database answers again (nothing is lost while it is down). */
export const storeActivities = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});

/** Backoff for Heat work; failures no retry can fix (bad template, quota, ...) end at once. */
function heatRetry(maximumAttempts: number): RetryPolicy {
  return {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    maximumAttempts,
    nonRetryableErrorTypes: NON_RETRYABLE_FAILURES,
  };
}

/**
 * Heat calls of builds (create, a pool's suspend, a claimed pool stack's resume): a 5xx or a
 * refused action is retried with backoff, then surfaced (the build fails over or fails); errors no
 * retry fixes (bad template, quota) are non-retryable.
 */
export const heatActivities = proxyActivities<Activities>({
  startToCloseTimeout: '15m',
  heartbeatTimeout: '2m',
  retry: heatRetry(6),
});

/**
 * Stack actions the lab workflow itself retries for as long as Heat is down (suspend, resume,
 * delete, reading outputs): a few quick attempts, then the failure reaches the workflow, which
 * shows it in the lab's statusReason and tries again with a capped backoff (lab.ts `persist`).
 */
export const heatActionActivities = proxyActivities<Activities>({
  startToCloseTimeout: '15m',
  heartbeatTimeout: '2m',
  retry: heatRetry(3),
});

/** Long waits on Heat: the activity heartbeats, so a worker that dies mid-wait is replaced within a minute. */
export const waitActivities = proxyActivities<Activities>({
  startToCloseTimeout: '24h',
  heartbeatTimeout: '1m',
  retry: heatRetry(10),
});

/**
 * Policy reads of labs whose history began before they became regular activities (patch
 * POLICY_READ_ACTIVITY in lab.ts): a local activity holds the workflow task open while it runs,
 * and an update accepted in that task was replayed out of order after a cache eviction
 * (nondeterminism: "Timer machine does not handle this event: WorkflowExecutionUpdateAccepted").
 */
export const legacyLocalActivities = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});

/**
 * A run of a lab's graded checks: each script has its own timeout on the lab, and the activity
 * heartbeats while they run. Only failing to reach the lab is retried (a few times); a lab that
 * cannot be checked at all ends the run at once.
 */
export const checkActivities = proxyActivities<Activities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '1m',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 4,
    nonRetryableErrorTypes: [FailureType.ChecksCannotRun],
  },
});

/**
 * In-lab hooks (a lab's postResume, preSuspend, preDelete scripts): the activity never fails for
 * the script's sake and enforces its timeout on the lab; one attempt, since a hook that ran on a
 * worker that died may have run already and the lab must not wait for a second try.
 */
export const hookActivities = proxyActivities<Activities>({
  startToCloseTimeout: '11m',
  heartbeatTimeout: '1m',
  retry: { maximumAttempts: 1 },
});
