export * from './types';
export * from './errors';
export { AxiosHeatClient, createHeatClient, type HeatClientOptions } from './heat';
export { KeystoneAuth, type KeystoneSession } from './keystone';
export { DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_RETRY, type RetryPolicy } from './http';
export { pollInterval, waitForStackStatus } from './wait';
