import type { OutputDef } from './template';

export interface EmuResource {
  name: string;
  type: string;
  /** As written in the template (intrinsic functions unevaluated). */
  properties: Record<string, unknown>;
  dependsOn: string[];
  action: string;
  status: string;
  statusReason: string;
  physicalId: string;
  attributes: Record<string, unknown>;
  creationTime: number | null;
  updatedTime: number | null;
}

export interface EmuStack {
  id: string;
  name: string;
  projectId: string;
  owner: string;
  template: Record<string, unknown>;
  files: Record<string, string>;
  environment: Record<string, unknown>;
  /** Typed values (defaults applied); shown by Heat as strings. */
  parameters: Record<string, unknown>;
  description: string;
  timeoutMins: number | null;
  disableRollback: boolean;
  action: string;
  status: string;
  statusReason: string;
  creationTime: number;
  updatedTime: number | null;
  deletionTime: number | null;
  resources: EmuResource[];
  outputs: OutputDef[];
  /** After a rollback Heat shows `outputs: []`. */
  rolledBack: boolean;
  /** An admin asked this stack's create to fail: which resource, and its reason. */
  injectedFailure?: { resource: string; reason: string };
  stackUserProjectId: string;
  /** Bumped whenever a new action supersedes the one running, so the old one stops. */
  generation: number;
}

export const stackStatus = (s: { action: string; status: string }): string =>
  `${s.action}_${s.status}`;

export interface EmulatorSettings {
  /** Per resource, for resources without a TestResource wait of their own. */
  createDelayMs: number;
  /** Per resource for suspend and resume. */
  actionDelayMs: number;
  /** Per resource for delete (TestResource delete waits apply on top). */
  deleteDelayMs: number;
  /** Multiplies OS::Heat::TestResource wait_secs / action_wait_secs (1 = real seconds). */
  waitScale: number;
  /** Heat's max_stacks_per_tenant; -1 for no limit. */
  maxStacksPerProject: number;
}

/**
 * What the stack engine asks of the emulator's SSH gateway (src/emulator/ssh/) for the
 * emulator-only `OS::Emulator::Shell` resources.
 */
export interface ShellHost {
  /** The gateway's port on 127.0.0.1: the resource's `port` attribute. */
  readonly port: number;
  /** Why Shell resource `name` with these (evaluated) properties cannot be created, or undefined. */
  refusal(name: string, properties: Record<string, unknown>): string | undefined;
  /** A Shell resource of `stack` was created: its stack's home folder is made. */
  shellCreated(stack: EmuStack): void;
  /** `stack` changed state: a suspended or deleted stack's sessions end, a deleted one's home goes. */
  stackChanged(stack: EmuStack): void;
  /** Every stack was forgotten (the admin reset). */
  stacksCleared(): void;
}
