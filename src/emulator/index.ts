export { startEmulator, type EmulatorOptions, type RunningEmulator } from './server';
export { startLocalEmulator } from './local';
export { EmulatorAdminClient, type OutageInput } from './admin-client';
export type { DeletionActor, StackDeletion } from './deletions';
export type { AdminStack, RequestCounts } from './admin-api';
export type { FaultInput, FaultRule, FaultSpec } from './faults';
export type { EmulatorSettings } from './model';
export type { EmulatorUser, EmulatorAppCredential } from './keystone-api';
export type { EmulatorLogger } from './ssh/gateway';
