import { isRecord } from './http-util';
import { isFunction } from './template';

/** A value that cannot be resolved yet (a resource not created): Heat shows null. */
export class Unresolved extends Error {
  constructor(readonly reference: string) {
    super(`unresolved reference ${reference}`);
  }
}

export interface EvalContext {
  /** Parameter values (typed: numbers stay numbers). */
  params: Record<string, unknown>;
  files: Record<string, string>;
  /** Resources whose attributes can be read now. */
  resource(name: string): { physicalId: string; attributes: Record<string, unknown> } | undefined;
}

function path(value: unknown, keys: unknown[]): unknown {
  let current = value;
  for (const key of keys) {
    if (Array.isArray(current)) current = current[Number(key)];
    else if (isRecord(current)) current = current[String(key)];
    else return null;
  }
  return current ?? null;
}

const text = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : value === null || value === undefined
      ? ''
      : JSON.stringify(value);

/** Evaluates HOT intrinsic functions (the subset lab templates use) inside `value`. */
export function evaluate(value: unknown, ctx: EvalContext): unknown {
  if (Array.isArray(value)) return value.map((v) => evaluate(v, ctx));
  if (!isRecord(value)) return value;
  if (!isFunction(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v, ctx)]));
  }
  const [fn, rawArgs] = Object.entries(value)[0] as [string, unknown];
  const args = evaluate(rawArgs, ctx);
  switch (fn) {
    case 'get_param': {
      const [name, ...rest] = Array.isArray(args) ? args : [args];
      return path(ctx.params[String(name)], rest);
    }
    case 'get_resource': {
      const resource = ctx.resource(String(args));
      if (!resource) throw new Unresolved(String(args));
      return resource.physicalId;
    }
    case 'get_attr': {
      const [name, attribute, ...rest] = Array.isArray(args) ? args : [args];
      const resource = ctx.resource(String(name));
      if (!resource) throw new Unresolved(String(name));
      if (attribute === undefined) return resource.attributes;
      return path(resource.attributes[String(attribute)], rest);
    }
    case 'get_file':
      return ctx.files[String(args)] ?? null;
    case 'str_replace':
    case 'str_replace_strict': {
      const spec = isRecord(args) ? args : {};
      let result = text(spec.template);
      const params = isRecord(spec.params) ? spec.params : {};
      for (const [key, replacement] of Object.entries(params)) {
        result = result.split(key).join(text(replacement));
      }
      return result;
    }
    case 'list_join': {
      const [delimiter, ...lists] = Array.isArray(args) ? args : [''];
      const items = lists.flatMap((l) => (Array.isArray(l) ? l : [l]));
      return items.map(text).join(String(delimiter));
    }
    case 'str_split': {
      const [delimiter, input, index] = Array.isArray(args) ? args : [];
      const parts = text(input).split(String(delimiter));
      return index === undefined ? parts : (parts[Number(index)] ?? null);
    }
    case 'map_merge': {
      const maps = Array.isArray(args) ? args.filter(isRecord) : [];
      return Object.assign({}, ...maps) as Record<string, unknown>;
    }
    default:
      return args;
  }
}

/** Evaluates, answering null when something is not resolvable yet. */
export function evaluateOrNull(value: unknown, ctx: EvalContext): unknown {
  try {
    return evaluate(value, ctx);
  } catch (error) {
    if (error instanceof Unresolved) return null;
    throw error;
  }
}
