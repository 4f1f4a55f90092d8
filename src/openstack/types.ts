/**
 * The Heat client as the rest of the product sees it. The implementation (heat.ts on axios,
 * keystone.ts for tokens and the catalog) and the emulator (src/emulator) both follow the
 * observed contract in shared/reference/heat-contract.md.
 */

/** Heat's stack_status, e.g. CREATE_IN_PROGRESS, SUSPEND_COMPLETE, DELETE_COMPLETE. */
export type StackStatus = string;

export interface StackRef {
  id: string;
  name: string;
}

export interface Stack extends StackRef {
  status: StackStatus;
  statusReason: string;
  /** output_key -> output_value (null while unresolved); absent after DELETE_COMPLETE. */
  outputs?: Record<string, unknown>;
  creationTime: string | null;
  updatedTime: string | null;
}

export interface StackResource {
  name: string;
  type: string;
  status: string;
  statusReason: string;
  physicalId: string;
}

export interface StackProgress {
  /** Top-level resources whose status is *_COMPLETE for the action under way. */
  done: number;
  total: number;
}

export type TemplateParameters = Record<string, string | number | boolean>;

export interface CreateStackInput {
  name: string;
  /** HOT template text (YAML) or an already parsed object. */
  template: string | Record<string, unknown>;
  /** Nested templates and get_file contents, keyed as the template refers to them. */
  files?: Record<string, string>;
  environment?: Record<string, unknown>;
  parameters?: TemplateParameters;
  timeoutMins?: number;
  disableRollback?: boolean;
}

export interface WaitOptions {
  /** Epoch ms after which the wait fails with a HeatTimeoutError. */
  deadline: number;
  /** Called when the share of resources done changes. */
  onProgress?: (progress: StackProgress, stack: Stack) => void | Promise<void>;
  /**
   * Called on every poll, answered or not: an activity heartbeats here, because a Nova server
   * can boot for minutes without any resource count changing (onProgress alone timed it out).
   */
  onPoll?: () => void;
  signal?: AbortSignal;
  /** First and maximum poll intervals (ms); polls back off between them. */
  minIntervalMs?: number;
  maxIntervalMs?: number;
  /** Resources are listed for onProgress at most this often (ms; default 3 s): a Heat call each. */
  progressEveryMs?: number;
  /**
   * How long the action usually takes (ms), when known: the first look is then taken near it
   * rather than at once, and none before (see ActionDurations). Asked before each pause.
   */
  expectedMs?: () => number | undefined;
  /** The action was asked for a moment ago: looking at once would only see it in progress. */
  justAsked?: boolean;
}

export interface HeatClient {
  readonly provider: string;
  /** 201 from Heat; resources are created asynchronously. 409 StackExists -> HeatConflictError. */
  createStack(input: CreateStackInput): Promise<StackRef>;
  /** By name or id (follows Heat's 302). null when Heat answers 404. */
  findStack(nameOrId: string): Promise<Stack | null>;
  getStack(ref: StackRef): Promise<Stack>;
  listStacks(filter?: { name?: string }): Promise<Stack[]>;
  suspendStack(ref: StackRef): Promise<void>;
  resumeStack(ref: StackRef): Promise<void>;
  /** A stack Heat no longer knows (404) counts as deleted. */
  deleteStack(ref: StackRef): Promise<void>;
  listResources(ref: StackRef): Promise<StackResource[]>;
  getOutputs(ref: StackRef): Promise<Record<string, unknown>>;
  validateTemplate(
    input: Pick<CreateStackInput, 'template' | 'files' | 'environment' | 'parameters'>,
  ): Promise<void>;
  /**
   * Polls (with backoff) until the stack reaches one of `targets`. Ends early with a
   * HeatStackFailedError on a *_FAILED status (carrying Heat's stack_status_reason), and with a
   * HeatTimeoutError at the deadline.
   */
  waitForStackStatus(ref: StackRef, targets: StackStatus[], options: WaitOptions): Promise<Stack>;
}
