import { randomBytes, randomUUID } from 'node:crypto';
import { DeletionLog, type DeletionActor } from './deletions';
import { evaluate, type EvalContext } from './evaluate';
import { badRequest, heatError, isRecord, stackNotFound } from './http-util';
import {
  stackStatus,
  type EmuResource,
  type EmuStack,
  type EmulatorSettings,
  type ShellHost,
} from './model';
import { SHELL_TYPE, simulate, testResourceWaitSecs, type ResourceAction } from './resource-types';
import { loadTemplate, parseTemplate, validationFailed, type ParsedTemplate } from './template';

export interface CreateRequest {
  stack_name?: unknown;
  template?: unknown;
  files?: unknown;
  environment?: unknown;
  parameters?: unknown;
  timeout_mins?: unknown;
  disable_rollback?: unknown;
}

export interface PendingFailure {
  /** Only a create of this stack name; any create when absent. */
  stackName?: string;
  /** The resource-level reason; Heat prefixes "Resource CREATE failed: ". */
  reason?: string;
  remaining: number;
}

/** A suspend or delete that Heat will end *_FAILED, as when a resource refuses it. */
export interface PendingActionFailure {
  action: 'SUSPEND' | 'DELETE';
  /** Only this stack; any stack when absent. */
  stackName?: string;
  reason?: string;
  remaining: number;
}

const NAME = /^[a-zA-Z][a-zA-Z0-9_.-]*$/;
const STATES_READABLE = ['CREATE', 'UPDATE', 'SUSPEND', 'RESUME', 'CHECK'];

/**
 * The stacks and their lifecycle: each action runs over the stack's resources in (reverse)
 * creation order, one delay per resource, with Heat's status names and reasons.
 */
export class StackEngine {
  readonly stacks: EmuStack[] = [];
  readonly pendingFailures: PendingFailure[] = [];
  readonly pendingActionFailures: PendingActionFailure[] = [];
  readonly deletions = new DeletionLog();
  /** The SSH gateway behind OS::Emulator::Shell resources; none when the emulator runs without. */
  shells?: ShellHost;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    readonly settings: EmulatorSettings,
    private readonly onChange: () => void,
  ) {}

  // ---- lookup ----

  /** A live stack by name, or any stack (deleted too, as Heat does) by id. */
  lookup(projectId: string, key: string): EmuStack | undefined {
    return (
      this.stacks.find((s) => s.projectId === projectId && s.id === key) ??
      this.stacks.find((s) => s.projectId === projectId && s.name === key && !this.isGone(s))
    );
  }

  /** `/stacks/{name}/{id}`: both must match. */
  get(projectId: string, name: string, id: string): EmuStack {
    const stack = this.stacks.find((s) => s.projectId === projectId && s.id === id);
    if (!stack || stack.name !== name) throw stackNotFound(name);
    return stack;
  }

  isGone(stack: EmuStack): boolean {
    return stackStatus(stack) === 'DELETE_COMPLETE';
  }

  // ---- create / validate ----

  validate(body: CreateRequest): ParsedTemplate {
    return parseTemplate(loadTemplate(body.template), filesOf(body));
  }

  create(projectId: string, owner: string, body: CreateRequest): EmuStack {
    if (typeof body.stack_name !== 'string' || body.stack_name === '')
      throw badRequest('No stack name specified');
    const name = body.stack_name;
    const raw = loadTemplate(body.template);
    const files = filesOf(body);
    const environment = isRecord(body.environment) ? body.environment : {};
    if (!NAME.test(name) || name.length > 255) {
      throw validationFailed(
        `Invalid stack name ${name} must contain only alphanumeric or "_-." characters, must start with alpha and must be 255 characters or less.`,
      );
    }
    const parsed = parseTemplate(raw, files);
    const given = {
      ...(isRecord(environment.parameters) ? environment.parameters : {}),
      ...(isRecord(body.parameters) ? body.parameters : {}),
    };
    for (const key of Object.keys(isRecord(body.parameters) ? body.parameters : {})) {
      if (!(key in parsed.parameters))
        throw heatError(
          400,
          'UnknownUserParameter',
          `The Parameter (${key}) was not defined in template.`,
        );
    }
    const parameters: Record<string, unknown> = {};
    for (const [key, def] of Object.entries(parsed.parameters)) {
      const value = key in given ? given[key] : def.default;
      if (value === undefined)
        throw heatError(400, 'UserParameterMissing', `The Parameter (${key}) was not provided.`);
      parameters[key] = coerce(def.type, value);
    }
    if (this.stacks.some((s) => s.projectId === projectId && s.name === name && !this.isGone(s)))
      throw heatError(409, 'StackExists', `The Stack (${name}) already exists.`);
    const limit = this.settings.maxStacksPerProject;
    const live = this.stacks.filter((s) => s.projectId === projectId && !this.isGone(s)).length;
    if (limit >= 0 && live >= limit) {
      throw heatError(
        400,
        'RequestLimitExceeded',
        `Request limit exceeded: You have reached the maximum stacks per tenant, ${limit}. Please delete some stacks.`,
      );
    }
    const now = Date.now();
    const stack: EmuStack = {
      id: randomUUID(),
      name,
      projectId,
      owner,
      template: raw,
      files,
      environment,
      parameters,
      description: parsed.description,
      timeoutMins: typeof body.timeout_mins === 'number' ? body.timeout_mins : null,
      disableRollback: body.disable_rollback === undefined ? true : body.disable_rollback === true,
      action: 'CREATE',
      status: 'IN_PROGRESS',
      statusReason: 'Stack CREATE started',
      creationTime: now,
      updatedTime: null,
      deletionTime: null,
      resources: parsed.resources.map((r) => ({
        name: r.name,
        type: r.type,
        properties: r.properties,
        dependsOn: r.dependsOn,
        action: 'INIT',
        status: 'COMPLETE',
        statusReason: '',
        physicalId: '',
        attributes: {},
        creationTime: null,
        updatedTime: null,
      })),
      outputs: parsed.outputs,
      rolledBack: false,
      injectedFailure: this.takeInjectedFailure(name, parsed),
      stackUserProjectId: randomBytes(16).toString('hex'),
      generation: 0,
    };
    this.stacks.unshift(stack);
    this.changed();
    void this.runCreate(stack, stack.generation);
    return stack;
  }

  private takeInjectedFailure(name: string, parsed: ParsedTemplate): EmuStack['injectedFailure'] {
    const index = this.pendingFailures.findIndex((f) => !f.stackName || f.stackName === name);
    const pending = this.pendingFailures[index];
    const last = parsed.resources[parsed.resources.length - 1];
    if (!pending || !last) return undefined;
    if (--pending.remaining <= 0) this.pendingFailures.splice(index, 1);
    return {
      resource: last.name,
      reason:
        pending.reason ??
        `ResourceInError: resources.${last.name}: Went to status ERROR due to "Message: No valid host was found. There are not enough hosts available., Code: 500"`,
    };
  }

  // ---- actions ----

  suspend(stack: EmuStack): void {
    this.requireLive(stack);
    if (stackStatus(stack) === 'SUSPEND_COMPLETE') return;
    const invalid = this.firstInvalid(stack, 'SUSPEND');
    if (invalid) {
      // Heat abandons nothing explicitly, but the stack never reports the create's end.
      stack.generation++;
      this.setStack(stack, 'SUSPEND', 'FAILED', `Resource SUSPEND failed: ${invalid}`);
      return;
    }
    this.setStack(stack, 'SUSPEND', 'IN_PROGRESS', 'Stack SUSPEND started');
    void this.runSimpleAction(stack, ++stack.generation, 'SUSPEND');
  }

  resume(stack: EmuStack): void {
    this.requireLive(stack);
    const invalid = this.firstInvalid(stack, 'RESUME');
    if (invalid) {
      stack.generation++;
      this.setStack(stack, 'RESUME', 'FAILED', `Resource RESUME failed: ${invalid}`);
      return;
    }
    this.setStack(stack, 'RESUME', 'IN_PROGRESS', 'Stack RESUME started');
    void this.runSimpleAction(stack, ++stack.generation, 'RESUME');
  }

  /** `by` is who asked: the deletion log records each deletion this starts. */
  delete(stack: EmuStack, by: DeletionActor): void {
    if (this.isGone(stack)) throw stackNotFound(stack.name);
    if (stackStatus(stack) === 'DELETE_IN_PROGRESS') return;
    this.deletions.record(stack, by);
    stack.updatedTime = Date.now();
    this.setStack(stack, 'DELETE', 'IN_PROGRESS', 'Stack DELETE started');
    void this.runDelete(stack, ++stack.generation);
  }

  /** After a restart: carry on with what was in progress. */
  resumeInterrupted(): void {
    for (const stack of this.stacks) {
      const gen = ++stack.generation;
      if (stack.status !== 'IN_PROGRESS') continue;
      if (stack.action === 'CREATE') void this.runCreate(stack, gen);
      else if (stack.action === 'DELETE') void this.runDelete(stack, gen);
      else if (stack.action === 'ROLLBACK') void this.runDelete(stack, gen, 'ROLLBACK');
      else if (stack.action === 'SUSPEND' || stack.action === 'RESUME')
        void this.runSimpleAction(stack, gen, stack.action);
    }
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  reset(): void {
    for (const stack of this.stacks) stack.generation++;
    this.stacks.length = 0;
    this.pendingFailures.length = 0;
    this.pendingActionFailures.length = 0;
    this.deletions.clear();
    this.shells?.stacksCleared();
    this.changed();
  }

  // ---- the running actions ----

  private async runCreate(stack: EmuStack, gen: number): Promise<void> {
    const deadline = stack.timeoutMins ? stack.creationTime + stack.timeoutMins * 60_000 : Infinity;
    for (const resource of stack.resources) {
      if (resource.action === 'CREATE' && resource.status === 'COMPLETE') continue;
      this.setResource(resource, 'CREATE', 'IN_PROGRESS', 'state changed');
      const wait = this.waitFor(stack, resource, 'CREATE', this.settings.createDelayMs);
      const timedOut = Date.now() + wait > deadline;
      if (!(await this.pause(timedOut ? deadline - Date.now() : wait, stack, gen))) return;
      if (timedOut) {
        const taskName = resource.type.split('::').pop() ?? resource.type;
        this.setResource(
          resource,
          'CREATE',
          'FAILED',
          `CREATE aborted (Task create from ${taskName} "${resource.name}" Stack "${stack.name}" [${stack.id}] Timed out)`,
        );
        return this.failCreate(stack, gen, 'Timed out');
      }
      const failure = this.failureOf(stack, resource);
      if (failure) {
        this.setResource(resource, 'CREATE', 'FAILED', failure);
        return this.failCreate(stack, gen, `Resource CREATE failed: ${failure}`);
      }
      const properties = evaluate(resource.properties, this.evalContext(stack)) as Record<
        string,
        unknown
      >;
      const index = stack.resources.indexOf(resource);
      const simulated = simulate(resource.type, properties, {
        stackName: stack.name,
        resourceName: resource.name,
        index: index + (this.stacks.length % 50) * 5,
        sshPort: this.shells?.port,
      });
      resource.physicalId = simulated.physicalId;
      resource.attributes = simulated.attributes;
      resource.creationTime = Date.now();
      if (resource.type === SHELL_TYPE) this.shells?.shellCreated(stack);
      this.setResource(resource, 'CREATE', 'COMPLETE', 'state changed');
    }
    this.setStack(stack, 'CREATE', 'COMPLETE', 'Stack CREATE completed successfully');
  }

  private async failCreate(stack: EmuStack, gen: number, reason: string): Promise<void> {
    if (stack.disableRollback) {
      this.setStack(stack, 'CREATE', 'FAILED', reason);
      return;
    }
    this.setStack(stack, 'ROLLBACK', 'IN_PROGRESS', 'Stack ROLLBACK started');
    await this.runDelete(stack, gen, 'ROLLBACK');
  }

  private async runSimpleAction(
    stack: EmuStack,
    gen: number,
    action: 'SUSPEND' | 'RESUME',
  ): Promise<void> {
    const ordered = action === 'SUSPEND' ? [...stack.resources].reverse() : stack.resources;
    for (const resource of ordered) {
      if (resource.action === action && resource.status === 'COMPLETE') continue;
      this.setResource(resource, action, 'IN_PROGRESS', 'state changed');
      if (!(await this.pause(this.settings.actionDelayMs, stack, gen))) return;
      this.setResource(resource, action, 'COMPLETE', 'state changed');
    }
    if (action === 'SUSPEND' && this.takeActionFailure(stack, 'SUSPEND')) return;
    this.setStack(stack, action, 'COMPLETE', `Stack ${action} completed successfully`);
  }

  /** Ends the stack's action *_FAILED when a failure was asked for it; true when it did. */
  private takeActionFailure(stack: EmuStack, action: PendingActionFailure['action']): boolean {
    const index = this.pendingActionFailures.findIndex(
      (f) => f.action === action && (!f.stackName || f.stackName === stack.name),
    );
    const pending = this.pendingActionFailures[index];
    if (!pending) return false;
    if (--pending.remaining <= 0) this.pendingActionFailures.splice(index, 1);
    const reason =
      pending.reason ??
      (action === 'DELETE'
        ? 'Resource DELETE failed: Conflict: resources.machine: Port is still in use'
        : 'Resource SUSPEND failed: Error: resources.machine: Suspend of instance failed');
    this.setStack(stack, action, 'FAILED', reason);
    return true;
  }

  private async runDelete(
    stack: EmuStack,
    gen: number,
    action: 'DELETE' | 'ROLLBACK' = 'DELETE',
  ): Promise<void> {
    for (const resource of [...stack.resources].reverse()) {
      if (resource.action === 'INIT' || resource.action === 'DELETE') continue;
      this.setResource(resource, 'DELETE', 'IN_PROGRESS', 'state changed');
      const wait = this.waitFor(stack, resource, 'DELETE', this.settings.deleteDelayMs);
      if (!(await this.pause(wait, stack, gen))) return;
      this.setResource(resource, 'DELETE', 'COMPLETE', 'state changed');
    }
    if (action === 'DELETE' && this.takeActionFailure(stack, 'DELETE')) return;
    if (action === 'ROLLBACK') {
      stack.rolledBack = true;
      stack.updatedTime = Date.now();
      this.setStack(stack, 'ROLLBACK', 'COMPLETE', 'Stack ROLLBACK completed successfully');
      return;
    }
    stack.deletionTime = Date.now();
    this.setStack(stack, 'DELETE', 'COMPLETE', 'Stack DELETE completed successfully');
  }

  // ---- helpers ----

  private requireLive(stack: EmuStack): void {
    if (this.isGone(stack)) throw stackNotFound(stack.name);
    if (stackStatus(stack) === 'DELETE_IN_PROGRESS')
      throw heatError(
        409,
        'ActionInProgress',
        `Stack ${stack.name} already has an action (DELETE) in progress.`,
      );
  }

  /** Heat's resource.suspend()/resume() state checks; in-progress or failed resources first. */
  private firstInvalid(stack: EmuStack, action: 'SUSPEND' | 'RESUME'): string | undefined {
    const invalid = stack.resources.filter((r) =>
      action === 'SUSPEND'
        ? r.action === 'DELETE' || (r.action !== 'SUSPEND' && r.status !== 'COMPLETE')
        : r.action !== 'INIT' &&
          !['SUSPEND_COMPLETE', 'RESUME_FAILED', 'RESUME_COMPLETE'].includes(stackStatus(r)),
    );
    const first = invalid.find((r) => r.status !== 'COMPLETE') ?? invalid[0];
    if (!first) return undefined;
    return `Error: resources.${first.name}: State ('${first.action}', '${first.status}') invalid for ${action.toLowerCase()}`;
  }

  private failureOf(stack: EmuStack, resource: EmuResource): string | undefined {
    if (resource.type === 'OS::Heat::TestResource') {
      const props = evaluate(resource.properties, this.evalContext(stack));
      const fail = isRecord(props) ? props.fail : undefined;
      if (fail === true || fail === 'true')
        return `ValueError: resources.${resource.name}: Test Resource failed ${resource.name}`;
    }
    if (resource.type === SHELL_TYPE) {
      if (!this.shells) return `resources.${resource.name}: this emulator runs no SSH gateway`;
      const props = evaluate(resource.properties, this.evalContext(stack));
      const refusal = this.shells.refusal(resource.name, isRecord(props) ? props : {});
      if (refusal) return refusal;
    }
    if (stack.injectedFailure?.resource === resource.name) return stack.injectedFailure.reason;
    return undefined;
  }

  private waitFor(
    stack: EmuStack,
    resource: EmuResource,
    action: ResourceAction,
    fallback: number,
  ): number {
    if (resource.type !== 'OS::Heat::TestResource') return fallback;
    const props = evaluate(resource.properties, this.evalContext(stack));
    const secs = isRecord(props) ? testResourceWaitSecs(props, action) : undefined;
    return secs === undefined ? fallback : secs * 1000 * this.settings.waitScale;
  }

  evalContext(stack: EmuStack | undefined): EvalContext {
    return {
      params: {
        ...(stack?.parameters ?? {}),
        'OS::stack_name': stack?.name,
        'OS::stack_id': stack?.id,
        'OS::project_id': stack?.projectId,
      },
      files: stack?.files ?? {},
      resource: (name) => {
        const r = stack?.resources.find((x) => x.name === name);
        return r && STATES_READABLE.includes(r.action) && r.physicalId !== '' ? r : undefined;
      },
    };
  }

  /** Resolves true after `ms`, false when the action was superseded (or the emulator closed). */
  private pause(ms: number, stack: EmuStack, gen: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.timers.delete(timer);
          resolve(!this.closed && stack.generation === gen);
        },
        Math.max(0, ms),
      );
      this.timers.add(timer);
    });
  }

  private setStack(stack: EmuStack, action: string, status: string, reason: string): void {
    stack.action = action;
    stack.status = status;
    stack.statusReason = reason;
    this.shells?.stackChanged(stack);
    this.changed();
  }

  private setResource(resource: EmuResource, action: string, status: string, reason: string): void {
    resource.action = action;
    resource.status = status;
    resource.statusReason = reason;
    resource.updatedTime = Date.now();
    this.changed();
  }

  private changed(): void {
    this.onChange();
  }
}

function filesOf(body: CreateRequest): Record<string, string> {
  if (!isRecord(body.files)) return {};
  return Object.fromEntries(Object.entries(body.files).map(([k, v]) => [k, String(v)]));
}

function coerce(type: string, value: unknown): unknown {
  if (
    type === 'number' &&
    typeof value === 'string' &&
    value.trim() !== '' &&
    !Number.isNaN(Number(value))
  )
    return Number(value);
  if (type === 'boolean' && typeof value === 'string')
    return ['true', 'yes', '1', 't', 'on'].includes(value.toLowerCase());
  if (type === 'comma_delimited_list' && typeof value === 'string') return value.split(',');
  if (type === 'json' && typeof value === 'string') {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }
  return value;
}
