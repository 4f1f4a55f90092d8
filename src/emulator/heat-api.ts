import { heatActor } from './deletions';
import type { StackEngine, CreateRequest } from './engine';
import {
  badRequest,
  heatError,
  htmlNotFound,
  isRecord,
  json,
  redirect,
  stackNotFound,
  type Reply,
} from './http-util';
import type { TokenInfo } from './keystone-api';
import type { EmuStack } from './model';
import { outputsView, resourceView, stackListItem, stackView } from './views';

export interface HeatRequest {
  method: string;
  /** Path segments after `/v1/`, decoded. */
  segments: string[];
  query: URLSearchParams;
  body: unknown;
  token: TokenInfo;
  acceptsJson: boolean;
}

export interface Routed {
  /** A stable route name, for request counting. */
  route: string;
  reply: Reply;
}

/** Sub-paths that Heat redirects from /stacks/{name} to /stacks/{name}/{id}. */
const REDIRECTED = new Set(['resources', 'events', 'template', 'environment', 'actions']);
const PARAM_TYPES: Record<string, string> = {
  string: 'String',
  number: 'Number',
  json: 'Json',
  comma_delimited_list: 'CommaDelimitedList',
  boolean: 'Boolean',
};

export class HeatApi {
  constructor(
    private readonly engine: StackEngine,
    private readonly base: () => string,
  ) {}

  /** Throws HttpFailure for Heat's error answers. */
  handle(req: HeatRequest): Routed {
    const [project, collection, key, sub, ...rest] = req.segments;
    if (project === undefined || collection === undefined)
      return { route: 'unknown', reply: htmlNotFound() };
    if (project !== req.token.projectId) {
      throw heatError(403, 'HTTPForbidden', 'Access was denied to this resource.');
    }
    if (collection === 'validate' && key === undefined && req.method === 'POST') {
      return { route: 'validate', reply: this.validate(req.body) };
    }
    if (collection !== 'stacks') return { route: 'unknown', reply: htmlNotFound() };
    if (key === undefined) {
      if (req.method === 'GET') return { route: 'stacks.list', reply: this.list(req) };
      if (req.method === 'POST') return { route: 'stacks.create', reply: this.create(req) };
      return { route: 'unknown', reply: htmlNotFound() };
    }
    if (sub === undefined || (REDIRECTED.has(sub) && rest.length === 0)) {
      return { route: 'stacks.lookup', reply: this.lookup(req, key, sub) };
    }
    const stack = this.engine.get(project, key, sub);
    return this.onStack(req, stack, rest);
  }

  private onStack(req: HeatRequest, stack: EmuStack, rest: string[]): Routed {
    const [part, item, ...more] = rest;
    const { method } = req;
    const base = this.base();
    if (more.length > 0) return { route: 'unknown', reply: htmlNotFound() };
    if (part === undefined) {
      if (method === 'GET')
        return {
          route: 'stacks.show',
          reply: json(200, { stack: stackView(base, this.engine, stack) }),
        };
      if (method === 'DELETE') {
        this.engine.delete(stack, heatActor(req.token));
        return { route: 'stacks.delete', reply: { status: 204 } };
      }
      if (method === 'PATCH' || method === 'PUT')
        throw heatError(400, 'NotSupported', 'Stack update is not supported by this emulator.');
    }
    if (part === 'actions' && item === undefined && method === 'POST') {
      this.action(stack, req.body);
      return { route: 'stacks.action', reply: json(200, null) };
    }
    if (method !== 'GET') return { route: 'unknown', reply: htmlNotFound() };
    switch (part) {
      case 'resources': {
        if (item === undefined) {
          const resources = stack.resources.map((r) => resourceView(base, stack, r, false));
          return { route: 'resources.list', reply: json(200, { resources }) };
        }
        const resource = stack.resources.find((r) => r.name === item);
        if (!resource)
          throw heatError(404, 'EntityNotFound', `The Resource (${item}) could not be found.`);
        return {
          route: 'resources.show',
          reply: json(200, { resource: resourceView(base, stack, resource, true) }),
        };
      }
      case 'outputs': {
        const outputs = outputsView(this.engine, stack, item !== undefined) ?? [];
        if (item === undefined) return { route: 'outputs.list', reply: json(200, { outputs }) };
        const output = outputs.find((o) => o.output_key === item);
        if (!output) throw heatError(404, 'NotFound', `Specified output key ${item} not found.`);
        return { route: 'outputs.show', reply: json(200, { output }) };
      }
      case 'template':
        return { route: 'template.show', reply: json(200, stack.template) };
      case 'environment':
        return {
          route: 'environment.show',
          reply: json(200, {
            resource_registry: { resources: {} },
            parameters: isRecord(stack.environment.parameters) ? stack.environment.parameters : {},
            parameter_defaults: {},
            event_sinks: [],
            encrypted_param_names: [],
          }),
        };
      case 'events':
        return { route: 'events.list', reply: json(200, { events: [] }) };
      default:
        return { route: 'unknown', reply: htmlNotFound() };
    }
  }

  private lookup(req: HeatRequest, key: string, sub: string | undefined): Reply {
    const stack = this.engine.lookup(req.token.projectId, key);
    if (!stack) throw stackNotFound(key);
    const location = `${this.base()}/v1/${stack.projectId}/stacks/${stack.name}/${stack.id}${sub ? `/${sub}` : ''}`;
    return redirect(location, req.acceptsJson);
  }

  private list(req: HeatRequest): Reply {
    const name = req.query.get('name') ?? req.query.get('stack_name');
    const showDeleted = (req.query.get('show_deleted') ?? '').toLowerCase() === 'true';
    const stacks = this.engine.stacks
      .filter((s) => s.projectId === req.token.projectId)
      .filter((s) => showDeleted || !this.engine.isGone(s))
      .filter((s) => !name || s.name === name)
      .map((s) => stackListItem(this.base(), s));
    return json(200, { stacks });
  }

  private create(req: HeatRequest): Reply {
    if (!isRecord(req.body)) throw badRequest('The request body must be a JSON object.');
    const stack = this.engine.create(
      req.token.projectId,
      req.token.userName,
      req.body as CreateRequest,
    );
    const href = `${this.base()}/v1/${stack.projectId}/stacks/${stack.name}/${stack.id}`;
    return json(
      201,
      { stack: { id: stack.id, links: [{ href, rel: 'self' }] } },
      { Location: href },
    );
  }

  private action(stack: EmuStack, body: unknown): void {
    const keys = isRecord(body) ? Object.keys(body) : [];
    if (keys.length > 1) throw badRequest('Multiple actions specified');
    const action = keys[0] ?? '';
    if (action === 'suspend') return this.engine.suspend(stack);
    if (action === 'resume') return this.engine.resume(stack);
    // Accepted like Heat does; the emulator's stacks have nothing to check or cancel.
    if (action === 'check' || action === 'cancel_update') return;
    throw badRequest(`Invalid action ${action} specified`);
  }

  private validate(body: unknown): Reply {
    const parsed = this.engine.validate(isRecord(body) ? (body as CreateRequest) : {});
    const parameters = Object.fromEntries(
      Object.entries(parsed.parameters).map(([name, p]) => [
        name,
        {
          Type: PARAM_TYPES[p.type] ?? 'String',
          Description: p.description ?? '',
          NoEcho: p.hidden ? 'true' : 'false',
          Label: p.label ?? name,
          ...(p.default !== undefined ? { Default: p.default } : {}),
        },
      ]),
    );
    return json(200, {
      Description: parsed.description,
      Parameters: parameters,
      Environment: {
        resource_registry: { resources: {} },
        parameters: {},
        parameter_defaults: {},
        event_sinks: [],
        encrypted_param_names: [],
      },
    });
  }
}
