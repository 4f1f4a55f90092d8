export { startEmulator, type EmulatorOptions, type RunningEmulator } from './server';
export { startLocalEmulator } from './local';
export { EmulatorAdminClient } from './admin-client';
export type { AdminStack, RequestCounts } from './admin-api';
export type { FaultInput, FaultRule, FaultSpec } from './faults';
export type { EmulatorSettings } from './model';
export type { EmulatorUser, EmulatorAppCredential } from './keystone-api';
