import { isRecord } from './http';
import type { Stack, StackResource } from './types';

const str = (value: unknown): string => (typeof value === 'string' ? value : '');
const strOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** A stack from Heat's show or list body (`{stack: {...}}` unwrapped by the caller). */
export function parseStack(body: unknown): Stack {
  const raw = isRecord(body) ? body : {};
  const stack: Stack = {
    id: str(raw.id),
    name: str(raw.stack_name),
    status: str(raw.stack_status),
    statusReason: str(raw.stack_status_reason),
    creationTime: strOrNull(raw.creation_time),
    updatedTime: strOrNull(raw.updated_time),
  };
  // After DELETE_COMPLETE Heat omits `outputs`; keep that distinction visible to callers.
  if (Array.isArray(raw.outputs)) {
    const outputs: Record<string, unknown> = {};
    for (const output of raw.outputs) {
      if (isRecord(output) && typeof output.output_key === 'string')
        outputs[output.output_key] = output.output_value ?? null;
    }
    stack.outputs = outputs;
  }
  return stack;
}

export function parseResource(body: unknown): StackResource {
  const raw = isRecord(body) ? body : {};
  return {
    name: str(raw.resource_name) || str(raw.logical_resource_id),
    type: str(raw.resource_type),
    status: str(raw.resource_status),
    statusReason: str(raw.resource_status_reason),
    physicalId: str(raw.physical_resource_id),
  };
}

/** `/stacks/{name}/{id}` at the end of a Location header Heat sends with its 302. */
export function stackFromLocation(location: string): { name: string; id: string } | undefined {
  const path = location.split('?')[0] ?? '';
  const match = /\/stacks\/([^/]+)\/([^/]+)(?:\/.*)?$/.exec(path);
  if (!match?.[1] || !match[2]) return undefined;
  return { name: decodeURIComponent(match[1]), id: decodeURIComponent(match[2]) };
}

/** The action part of a status: CREATE_IN_PROGRESS -> CREATE. */
export function actionOf(status: string): string {
  return status.replace(/_(IN_PROGRESS|COMPLETE|FAILED)$/, '');
}
