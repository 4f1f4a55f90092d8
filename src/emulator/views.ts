import { evaluateOrNull } from './evaluate';
import { heatTime } from './http-util';
import { stackStatus, type EmuResource, type EmuStack } from './model';
import type { StackEngine } from './engine';

const time = (ms: number | null): string | null => (ms === null ? null : heatTime(ms));

const shown = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : Array.isArray(value)
      ? value.join(',')
      : JSON.stringify(value);

export function stackLinks(base: string, stack: EmuStack): Array<{ href: string; rel: string }> {
  return [{ href: `${base}/v1/${stack.projectId}/stacks/${stack.name}/${stack.id}`, rel: 'self' }];
}

/** Heat's show body, with its quirks: string parameters, outputs gone after delete. */
export function stackView(
  base: string,
  engine: StackEngine,
  stack: EmuStack,
): Record<string, unknown> {
  const view: Record<string, unknown> = {
    stack_name: stack.name,
    id: stack.id,
    links: stackLinks(base, stack),
    creation_time: time(stack.creationTime),
    updated_time: time(stack.updatedTime),
    deletion_time: time(stack.deletionTime),
    notification_topics: [],
    parameters: {
      'OS::stack_id': stack.id,
      'OS::project_id': stack.projectId,
      'OS::stack_name': stack.name,
      ...Object.fromEntries(Object.entries(stack.parameters).map(([k, v]) => [k, shown(v)])),
    },
    description: stack.description,
    template_description: stack.description,
    capabilities: [],
    disable_rollback: stack.disableRollback,
    timeout_mins: stack.timeoutMins,
    stack_owner: stack.owner,
    parent: null,
    stack_user_project_id: stack.stackUserProjectId,
    tags: [],
    stack_status: stackStatus(stack),
    stack_status_reason: stack.statusReason,
  };
  const outputs = outputsView(engine, stack, true);
  if (outputs) view.outputs = outputs;
  return view;
}

export function stackListItem(base: string, stack: EmuStack): Record<string, unknown> {
  return {
    id: stack.id,
    links: stackLinks(base, stack),
    project: stack.projectId,
    stack_name: stack.name,
    description: '',
    stack_status: stackStatus(stack),
    stack_status_reason: stack.statusReason,
    creation_time: time(stack.creationTime),
    updated_time: time(stack.updatedTime),
    deletion_time: time(stack.deletionTime),
    stack_owner: stack.owner,
    parent: null,
    stack_user_project_id: stack.stackUserProjectId,
    tags: null,
  };
}

/** undefined when Heat omits the key (DELETE_COMPLETE). */
export function outputsView(
  engine: StackEngine,
  stack: EmuStack,
  withValues: boolean,
): Array<Record<string, unknown>> | undefined {
  const status = stackStatus(stack);
  if (status === 'DELETE_COMPLETE') return undefined;
  if (stack.rolledBack) return [];
  const ctx = engine.evalContext(stack);
  return stack.outputs.map((o) => {
    const item: Record<string, unknown> = { output_key: o.key, description: o.description };
    if (!withValues) return item;
    if (status === 'DELETE_IN_PROGRESS') {
      const ref = firstReference(o.value) ?? o.key;
      return {
        ...item,
        output_value: null,
        output_error: `The specified reference "${ref}" (in unknown) is incorrect.`,
      };
    }
    return { ...item, output_value: evaluateOrNull(o.value, ctx) };
  });
}

function firstReference(value: unknown): string | undefined {
  const match = /"get_(?:attr|resource)":\s*\[?"([^"]+)"/.exec(JSON.stringify(value ?? null));
  return match?.[1];
}

export function resourceView(
  base: string,
  stack: EmuStack,
  resource: EmuResource,
  detailed: boolean,
): Record<string, unknown> {
  const stackUrl = `${base}/v1/${stack.projectId}/stacks/${stack.name}/${stack.id}`;
  const view: Record<string, unknown> = {
    updated_time: time(resource.updatedTime ?? stack.creationTime),
    creation_time: time(resource.creationTime ?? stack.creationTime),
    logical_resource_id: resource.name,
    resource_name: resource.name,
    physical_resource_id: resource.physicalId,
    resource_status: stackStatus(resource),
    resource_status_reason: resource.statusReason,
    resource_type: resource.type,
    links: [
      { href: `${stackUrl}/resources/${resource.name}`, rel: 'self' },
      { href: stackUrl, rel: 'stack' },
    ],
    required_by: stack.resources
      .filter((r) => r.dependsOn.includes(resource.name))
      .map((r) => r.name),
  };
  if (detailed) {
    view.description = '';
    view.attributes = resource.attributes;
  }
  return view;
}
