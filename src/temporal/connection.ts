import { Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';

export interface TemporalConnection {
  connection: Connection;
  /** Stops new retries, waits for those already scheduled, then closes. */
  close(): Promise<void>;
}

/**
 * A client connection whose close is safe while calls are being retried. The SDK's retry
 * interceptor schedules a retry on a timer and, when that timer fires after the channel was
 * closed, throws "Channel has been shut down" from the timer (an uncaught exception that ends
 * the process). So retries stop once closing begins, and close waits for the ones in flight.
 */
export async function connectTemporal(
  address: string,
  options: { lazy?: boolean } = {},
): Promise<TemporalConnection> {
  const defaults = defaultGrpcRetryOptions();
  let closing = false;
  const scheduled = new Set<Promise<void>>();
  const interceptors = [
    makeGrpcRetryInterceptor({
      retryableDecider: (attempt, status) => !closing && defaults.retryableDecider(attempt, status),
      delayFunction: (attempt, status) => {
        const ms = defaults.delayFunction(attempt, status);
        const fired: Promise<void> = new Promise((resolve) => setTimeout(resolve, ms + 10).unref());
        scheduled.add(fired);
        void fired.then(() => scheduled.delete(fired));
        return ms;
      },
    }),
  ];
  const connection = options.lazy
    ? Connection.lazy({ address, interceptors })
    : await Connection.connect({ address, interceptors });
  return {
    connection,
    async close() {
      closing = true;
      await Promise.all([...scheduled]);
      await connection.close();
    },
  };
}
