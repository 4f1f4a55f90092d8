import { HeatError, HeatNotFoundError, HeatStackFailedError, HeatTimeoutError } from './errors';
import { sleep } from './http';
import { actionOf } from './parse';
import type { HeatClient, Stack, StackProgress, StackRef, StackStatus, WaitOptions } from './types';

type Poller = Pick<HeatClient, 'provider' | 'getStack' | 'listResources'>;

const DEFAULT_MIN_INTERVAL_MS = 1_000;
const DEFAULT_MAX_INTERVAL_MS = 10_000;

/**
 * Resources are listed for progress at most this often: each listing is a Heat call, and a poll
 * every 500 ms listing them too made a 5-second create cost about 20 calls.
 */
const DEFAULT_PROGRESS_EVERY_MS = 3_000;

/** Until this share of an action's expected time has passed, asking Heat is a wasted call. */
const EXPECTED_SHARE = 0.8;

/** The next poll comes after this share of the time waited so far (within min and max). */
const POLL_SHARE_OF_ELAPSED = 0.2;

/** The pause before the next look at a stack that has been in progress for `elapsedMs`. */
export function pollInterval(elapsedMs: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, Math.max(minMs, Math.ceil(elapsedMs * POLL_SHARE_OF_ELAPSED)));
}

/**
 * Polls a stack until it reaches one of `targets`. The interval is a fifth of the time waited so
 * far, between its minimum and maximum, never past the deadline: the wait learns of a finished
 * action at most 20% (or one minimum interval) late, so a 5-second resume is seen within a second,
 * while a 10-minute create is polled every 10 s rather than every second. A transient error of
 * one poll is not the end of the wait (the next poll may succeed); the deadline is.
 */
export async function waitForStackStatus(
  client: Poller,
  ref: StackRef,
  targets: StackStatus[],
  options: WaitOptions,
): Promise<Stack> {
  const minInterval = options.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS;
  const maxInterval = Math.max(minInterval, options.maxIntervalMs ?? DEFAULT_MAX_INTERVAL_MS);
  const details = { provider: client.provider, stackName: ref.name };
  const started = Date.now();
  let lastStack: Stack | undefined;
  let lastProgress: StackProgress | undefined;
  let lastError: unknown;

  const progressEvery = options.progressEveryMs ?? DEFAULT_PROGRESS_EVERY_MS;
  // The first listing comes one progress interval in: before it, nothing is done to report.
  let listedAt = started;
  /** The stack reached its target: every resource listed before is done. */
  const reportFinished = async (stack: Stack): Promise<void> => {
    if (!options.onProgress || !lastProgress || lastProgress.done === lastProgress.total) return;
    lastProgress = { done: lastProgress.total, total: lastProgress.total };
    await options.onProgress(lastProgress, stack);
  };

  /**
   * Progress, from the resources, at most every `progressEvery` while the action runs. A listing
   * stands in for that poll's look at the stack: a stack with resources still in progress has not
   * finished, so a 5 s create costs one call less. True when it did (the stack need not be asked
   * this time); a listing that fails, or shows every resource done or one failed, is followed by
   * the look at the stack. What a listing shows is reported either way: a fast action may be
   * listed only once, with everything done.
   */
  const listedInstead = async (): Promise<boolean> => {
    if (!options.onProgress || !lastStack?.status.endsWith('_IN_PROGRESS')) return false;
    if (Date.now() - listedAt < progressEvery) return false;
    listedAt = Date.now();
    const action = actionOf(lastStack.status);
    let resources: Awaited<ReturnType<Poller['listResources']>>;
    try {
      resources = await client.listResources(ref);
    } catch {
      return false;
    }
    const progress = {
      done: resources.filter((r) => r.status === `${action}_COMPLETE`).length,
      total: resources.length,
    };
    if (progress.done !== lastProgress?.done || progress.total !== lastProgress.total) {
      lastProgress = progress;
      await Promise.resolve(options.onProgress(progress, lastStack)).catch((error: unknown) => {
        lastError = error;
      });
    }
    // Every resource done (the stack is about to finish) or one failed: look at the stack now.
    return progress.done < progress.total && !resources.some((r) => r.status.endsWith('_FAILED'));
  };

  const pauseBefore = (elapsed: number): number => {
    const expected = options.expectedMs?.();
    const interval = pollInterval(elapsed, minInterval, maxInterval);
    return expected === undefined
      ? interval
      : Math.max(interval, expected * EXPECTED_SHARE - elapsed);
  };
  // With an expectation, the first look waits for it: an action Heat has just accepted is in
  // progress (a failure at once is seen at that first look, a few seconds later). So does one
  // asked for just now: its first look comes one interval in.
  if (options.expectedMs?.() !== undefined || options.justAsked) {
    options.onPoll?.();
    await sleep(
      Math.min(pauseBefore(0), Math.max(0, options.deadline - Date.now())),
      options.signal,
    );
  }
  /** One look at the stack; undefined after a transient error (the next poll may succeed). */
  const look = async (): Promise<Stack | undefined> => {
    try {
      return await client.getStack(ref);
    } catch (error) {
      if (error instanceof HeatNotFoundError && targets.includes('DELETE_COMPLETE')) {
        return {
          ...ref,
          status: 'DELETE_COMPLETE',
          statusReason: '',
          creationTime: null,
          updatedTime: null,
        };
      }
      if (!(error instanceof HeatError) || !error.retryable) throw error;
      lastError = error;
      return undefined;
    }
  };
  for (;;) {
    options.signal?.throwIfAborted();
    options.onPoll?.();
    const stack = (await listedInstead()) ? undefined : await look();
    if (stack) {
      lastStack = stack;
      if (targets.includes(stack.status)) {
        await reportFinished(stack).catch(() => undefined);
        return stack;
      }
      if (stack.status.endsWith('_FAILED')) {
        throw new HeatStackFailedError(stack.status, stack.statusReason, details);
      }
      if (stack.status === 'DELETE_COMPLETE') {
        throw new HeatNotFoundError(`The Stack (${ref.name}) was deleted`, details);
      }
    }
    const remaining = options.deadline - Date.now();
    if (remaining <= 0) {
      const cause = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new HeatTimeoutError(
        `stack did not reach ${targets.join(' or ')} before the deadline (last status ${lastStack?.status ?? 'unknown'}${cause})`,
        { ...details, lastStatus: lastStack?.status, cause: lastError },
      );
    }
    await sleep(Math.min(pauseBefore(Date.now() - started), remaining), options.signal);
  }
}
