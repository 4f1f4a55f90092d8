import type { AxiosInstance, AxiosResponse, Method } from 'axios';
import type { ProviderConfig } from '../config/types';
import { HeatNotFoundError, HeatUnauthorizedError, HeatUnavailableError } from './errors';
import {
  createAxios,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRY,
  errorFromResponse,
  isRecord,
  sendOnce,
  withRetry,
  type ErrorContext,
  type RetryMode,
  type RetryPolicy,
} from './http';
import { KeystoneAuth } from './keystone';
import { parseResource, parseStack, stackFromLocation } from './parse';
import type {
  CreateStackInput,
  HeatClient,
  Stack,
  StackRef,
  StackResource,
  StackStatus,
  WaitOptions,
} from './types';
import { waitForStackStatus } from './wait';

export interface HeatClientOptions {
  /** Per request, connect to last byte (default 15 s). */
  requestTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Renew the Keystone token this long before it expires (default 5 min). */
  tokenRenewBeforeMs?: number;
  /** For tests: an axios instance of one's own. */
  http?: AxiosInstance;
  now?: () => number;
}

interface RequestSpec {
  method: Method;
  /** Relative to the orchestration endpoint, starting with "/". */
  path: string;
  data?: unknown;
  params?: Record<string, string>;
  mode: RetryMode;
  stackName?: string;
}

const enc = encodeURIComponent;

/** The Heat v1 client on axios; one per provider, sharing that provider's Keystone token. */
export class AxiosHeatClient implements HeatClient {
  readonly provider: string;
  private readonly keystone: KeystoneAuth;
  private readonly http: AxiosInstance;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;

  constructor(config: ProviderConfig, options: HeatClientOptions = {}) {
    this.provider = config.name;
    this.http = options.http ?? createAxios();
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.keystone = new KeystoneAuth(config, {
      http: this.http,
      timeoutMs: this.timeoutMs,
      retry: this.retry,
      renewBeforeMs: options.tokenRenewBeforeMs,
      now: options.now,
    });
  }

  async createStack(input: CreateStackInput): Promise<StackRef> {
    const body: Record<string, unknown> = {
      stack_name: input.name,
      template: input.template,
      disable_rollback: input.disableRollback ?? true,
    };
    if (input.files) body.files = input.files;
    if (input.environment) body.environment = input.environment;
    if (input.parameters) body.parameters = input.parameters;
    if (input.timeoutMins !== undefined) body.timeout_mins = input.timeoutMins;
    const res = await this.request({
      method: 'POST',
      path: '/stacks',
      data: body,
      mode: 'refusedOnly',
      stackName: input.name,
    });
    this.expect(res, [201, 200], input.name);
    const stack = isRecord(res.data) && isRecord(res.data.stack) ? res.data.stack : {};
    return { id: typeof stack.id === 'string' ? stack.id : '', name: input.name };
  }

  async findStack(nameOrId: string): Promise<Stack | null> {
    const res = await this.request({
      method: 'GET',
      path: `/stacks/${enc(nameOrId)}`,
      mode: 'always',
      stackName: nameOrId,
    });
    if (res.status === 404) return null;
    if (res.status === 200 && isRecord(res.data)) return parseStack(res.data.stack);
    if (res.status !== 302) throw errorFromResponse(res, this.context(nameOrId));
    const ref = stackFromLocation(String(res.headers.location ?? ''));
    if (!ref) throw this.badRedirect(res, nameOrId);
    try {
      return await this.getStack(ref);
    } catch (error) {
      if (error instanceof HeatNotFoundError) return null;
      throw error;
    }
  }

  async getStack(ref: StackRef): Promise<Stack> {
    const target = await this.resolve(ref);
    const res = await this.request({
      method: 'GET',
      path: stackPath(target),
      mode: 'always',
      stackName: target.name,
    });
    this.expect(res, [200], target.name);
    return parseStack(isRecord(res.data) ? res.data.stack : undefined);
  }

  async listStacks(filter: { name?: string } = {}): Promise<Stack[]> {
    const res = await this.request({
      method: 'GET',
      path: '/stacks',
      params: filter.name ? { name: filter.name } : undefined,
      mode: 'always',
    });
    this.expect(res, [200]);
    const stacks = isRecord(res.data) && Array.isArray(res.data.stacks) ? res.data.stacks : [];
    return stacks.map(parseStack);
  }

  suspendStack(ref: StackRef): Promise<void> {
    return this.action(ref, 'suspend');
  }

  resumeStack(ref: StackRef): Promise<void> {
    return this.action(ref, 'resume');
  }

  async deleteStack(ref: StackRef): Promise<void> {
    let target: StackRef;
    try {
      target = await this.resolve(ref);
    } catch (error) {
      if (error instanceof HeatNotFoundError) return;
      throw error;
    }
    const res = await this.request({
      method: 'DELETE',
      path: stackPath(target),
      mode: 'always',
      stackName: target.name,
    });
    // Heat answers 404 for a stack already DELETE_COMPLETE: the goal is reached either way.
    if (res.status === 404) return;
    this.expect(res, [204, 200], target.name);
  }

  async listResources(ref: StackRef): Promise<StackResource[]> {
    const target = await this.resolve(ref);
    const res = await this.request({
      method: 'GET',
      path: `${stackPath(target)}/resources`,
      mode: 'always',
      stackName: target.name,
    });
    this.expect(res, [200], target.name);
    const list = isRecord(res.data) && Array.isArray(res.data.resources) ? res.data.resources : [];
    return list.map(parseResource);
  }

  async getOutputs(ref: StackRef): Promise<Record<string, unknown>> {
    const stack = await this.getStack(ref);
    return stack.outputs ?? {};
  }

  async validateTemplate(
    input: Pick<CreateStackInput, 'template' | 'files' | 'environment' | 'parameters'>,
  ): Promise<void> {
    const body: Record<string, unknown> = { template: input.template };
    if (input.files) body.files = input.files;
    if (input.environment) body.environment = input.environment;
    if (input.parameters) body.parameters = input.parameters;
    const res = await this.request({
      method: 'POST',
      path: '/validate',
      data: body,
      mode: 'always',
    });
    this.expect(res, [200]);
  }

  waitForStackStatus(ref: StackRef, targets: StackStatus[], options: WaitOptions): Promise<Stack> {
    return waitForStackStatus(this, ref, targets, options);
  }

  private async action(ref: StackRef, name: 'suspend' | 'resume'): Promise<void> {
    const target = await this.resolve(ref);
    const res = await this.request({
      method: 'POST',
      path: `${stackPath(target)}/actions`,
      data: { [name]: null },
      // Not re-sent after an answer that may have been lost: Heat fails a stack that is asked
      // to suspend or resume while the first request's action runs, and leaves a resource
      // *_IN_PROGRESS for good (seen in the chaos soak). The caller looks at the stack instead.
      mode: 'refusedOnly',
      stackName: target.name,
    });
    this.expect(res, [200, 202, 204], target.name);
  }

  /** A ref without an id (only the name is known) is looked up once, through Heat's 302. */
  private async resolve(ref: StackRef): Promise<StackRef> {
    if (ref.id && ref.name) return ref;
    const key = ref.id || ref.name;
    const res = await this.request({
      method: 'GET',
      path: `/stacks/${enc(key)}`,
      mode: 'always',
      stackName: ref.name || undefined,
    });
    if (res.status === 302) {
      const found = stackFromLocation(String(res.headers.location ?? ''));
      if (found) return found;
      throw this.badRedirect(res, key);
    }
    throw errorFromResponse(res, this.context(ref.name || key));
  }

  private async request(spec: RequestSpec): Promise<AxiosResponse> {
    const context = this.context(spec.stackName);
    return withRetry(
      async () => {
        let session = await this.keystone.session();
        let res = await this.send(spec, session.orchestrationUrl, session.token, context);
        if (res.status === 401) {
          // A token revoked or expired early: one fresh token, then Heat's answer stands.
          this.keystone.invalidate(session.token);
          session = await this.keystone.session();
          res = await this.send(spec, session.orchestrationUrl, session.token, context);
          if (res.status === 401) {
            const error = errorFromResponse(res, context);
            throw new HeatUnauthorizedError(error.heatMessage, { ...context, status: 401 });
          }
        }
        if (res.status >= 500 || res.status === 429) throw errorFromResponse(res, context);
        return res;
      },
      spec.mode,
      this.retry,
    );
  }

  private send(
    spec: RequestSpec,
    endpoint: string,
    token: string,
    context: ErrorContext,
  ): Promise<AxiosResponse> {
    return sendOnce(
      this.http,
      {
        method: spec.method,
        url: `${endpoint}${spec.path}`,
        params: spec.params,
        data: spec.data === undefined ? undefined : JSON.stringify(spec.data),
        headers: {
          'X-Auth-Token': token,
          Accept: 'application/json',
          ...(spec.data === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        // Heat's 302 on a name is followed by hand (see createAxios); the body is irrelevant.
        responseType: 'json',
      },
      this.timeoutMs,
      context,
    );
  }

  private expect(res: AxiosResponse, ok: number[], stackName?: string): void {
    if (!ok.includes(res.status)) throw errorFromResponse(res, this.context(stackName));
  }

  private context(stackName?: string): ErrorContext {
    return { provider: this.provider, stackName };
  }

  private badRedirect(res: AxiosResponse, key: string): HeatUnavailableError {
    return new HeatUnavailableError(
      `Heat answered ${res.status} without a usable Location for ${key}`,
      { ...this.context(key), status: res.status },
    );
  }
}

function stackPath(ref: StackRef): string {
  return `/stacks/${enc(ref.name)}/${enc(ref.id)}`;
}

export function createHeatClient(
  provider: ProviderConfig,
  options: HeatClientOptions = {},
): HeatClient {
  return new AxiosHeatClient(provider, options);
}
