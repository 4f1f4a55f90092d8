import type { PendingActionFailure, StackEngine } from './engine';
import type { FaultInput, FaultTable } from './faults';
import { isRecord, json, type Reply } from './http-util';
import type { KeystoneEmulator } from './keystone-api';
import { stackStatus, type EmuStack, type EmulatorSettings } from './model';

export interface RequestCounts {
  total: number;
  keystone: number;
  heat: number;
  /**
   * e.g. `stacks.create`, `stacks.lookup`, `stacks.show`, `resources.list`, `keystone.tokens`;
   * `fault.<kind>` for requests a count-based fault affected, `outage.<kind>` for an outage's.
   */
  byRoute: Record<string, number>;
}

/** One stack as the admin endpoint lists it (deleted ones included). */
export interface AdminStack {
  id: string;
  name: string;
  projectId: string;
  status: string;
  statusReason: string;
  resources: number;
  creationTime: number;
  deletionTime: number | null;
}

export interface AdminDeps {
  engine: StackEngine;
  faults: FaultTable;
  keystone: KeystoneEmulator;
  counts: RequestCounts;
  initialSettings: EmulatorSettings;
}

const SETTING_KEYS: Array<keyof EmulatorSettings> = [
  'createDelayMs',
  'actionDelayMs',
  'deleteDelayMs',
  'waitScale',
  'maxStacksPerProject',
];

export function resetCounts(counts: RequestCounts): void {
  counts.total = 0;
  counts.keystone = 0;
  counts.heat = 0;
  counts.byRoute = {};
}

const problem = (status: number, message: string): Reply => json(status, { error: { message } });

/** `/_admin/...`: the test and benchmark controls. Never reachable with a Keystone token. */
export function handleAdmin(
  deps: AdminDeps,
  method: string,
  segments: string[],
  body: unknown,
): Reply {
  const { engine, faults, counts } = deps;
  const [what, key, verb] = segments;
  const input = isRecord(body) ? body : {};
  switch (
    `${method} ${what ?? ''}${key !== undefined ? '/*' : ''}${verb !== undefined ? `/${verb}` : ''}`
  ) {
    case 'GET stacks':
      return json(200, { stacks: engine.stacks.map(adminStack) });
    case 'POST stacks/*/delete':
    case 'POST stacks/*/suspend': {
      const stack =
        engine.stacks.find((s) => s.id === key) ??
        engine.stacks.find((s) => s.name === key && !engine.isGone(s));
      if (!stack) return problem(404, `no stack ${key}`);
      if (verb === 'delete') {
        if (!engine.isGone(stack)) engine.delete(stack, { via: 'admin' });
      } else {
        engine.suspend(stack);
      }
      return { status: 204 };
    }
    case 'GET faults':
      return json(200, { faults: faults.list() });
    case 'POST faults':
      if (!isRecord(input.fault) || typeof input.fault.kind !== 'string')
        return problem(400, 'fault.kind is required');
      try {
        return json(201, { fault: faults.add(input as unknown as FaultInput) });
      } catch (error) {
        return problem(400, (error as Error).message);
      }
    case 'DELETE faults':
      faults.clear();
      return { status: 204 };
    case 'DELETE faults/*':
      return faults.remove(Number(key)) ? { status: 204 } : problem(404, `no fault ${key}`);
    case 'GET deletions':
      return json(200, { deletions: engine.deletions.list() });
    case 'POST create-failures': {
      const failure = {
        stackName: typeof input.stackName === 'string' ? input.stackName : undefined,
        reason: typeof input.reason === 'string' ? input.reason : undefined,
        remaining: typeof input.times === 'number' ? input.times : 1,
      };
      engine.pendingFailures.push(failure);
      return json(201, { failure });
    }
    case 'POST action-failures': {
      if (input.action !== 'SUSPEND' && input.action !== 'DELETE')
        return problem(400, 'action must be SUSPEND or DELETE');
      const failure: PendingActionFailure = {
        action: input.action,
        stackName: typeof input.stackName === 'string' ? input.stackName : undefined,
        reason: typeof input.reason === 'string' ? input.reason : undefined,
        remaining: typeof input.times === 'number' ? input.times : 1,
      };
      engine.pendingActionFailures.push(failure);
      return json(201, { failure });
    }
    case 'GET settings':
      return json(200, { settings: engine.settings });
    case 'PATCH settings': {
      for (const name of SETTING_KEYS) {
        const value = input[name];
        if (value === undefined) continue;
        if (typeof value !== 'number' || Number.isNaN(value))
          return problem(400, `${name} must be a number`);
        engine.settings[name] = value;
      }
      return json(200, { settings: engine.settings });
    }
    case 'GET requests':
      return json(200, { requests: counts });
    case 'DELETE requests':
      resetCounts(counts);
      return { status: 204 };
    case 'POST revoke-tokens':
      deps.keystone.revokeAll();
      return { status: 204 };
    case 'POST reset':
      engine.reset();
      faults.clear();
      resetCounts(counts);
      Object.assign(engine.settings, deps.initialSettings);
      return { status: 204 };
    default:
      return problem(404, `no admin route ${method} /_admin/${segments.join('/')}`);
  }
}

function adminStack(stack: EmuStack): AdminStack {
  return {
    id: stack.id,
    name: stack.name,
    projectId: stack.projectId,
    status: stackStatus(stack),
    statusReason: stack.statusReason,
    resources: stack.resources.length,
    creationTime: stack.creationTime,
    deletionTime: stack.deletionTime,
  };
}
