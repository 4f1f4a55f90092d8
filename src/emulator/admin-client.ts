import type { AdminStack, RequestCounts } from './admin-api';
import type { StackDeletion } from './deletions';
import type { FaultInput, FaultRule, FaultSpec } from './faults';
import type { EmulatorSettings } from './model';

/** A cloud outage: every Heat and Keystone request (or those matching) fails for `ms`. */
export interface OutageInput {
  /** How long from now; the rule's `until` says when it ends in the emulator's clock. */
  ms: number;
  /**
   * `status`: each request answers `status` (default 503, in Heat's or Keystone's shape);
   * `hang`: none is answered (clients time out), and each held connection is dropped when the
   * outage ends.
   */
  kind: 'status' | 'hang';
  status?: number;
  /** Only requests of this method; any when absent. */
  method?: string;
  /** Only paths matching this regular expression (e.g. `^/v3/` for Keystone); any when absent. */
  path?: string;
}

/** A typed client of the emulator's `/_admin` endpoint, for tests and benchmarks. */
export class EmulatorAdminClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  /** Every stack, deleted ones included, newest first. */
  async stacks(): Promise<AdminStack[]> {
    return (await this.call<{ stacks: AdminStack[] }>('GET', 'stacks')).stacks;
  }

  /**
   * Affects the next `times` (default 1) requests matching `method` and the `path` regex, or
   * every matching request for `durationMs` / until `until` (epoch ms): see `outage()`.
   */
  async injectFault(input: FaultInput): Promise<FaultRule> {
    return (await this.call<{ fault: FaultRule }>('POST', 'faults', input)).fault;
  }

  /**
   * Starts an outage; the `/_admin` routes are never affected. While it lasts it takes precedence
   * over count-based faults (left unconsumed for after it). Ends by itself at the returned rule's
   * `until`, or earlier with `removeFault(rule.id)` or `clearFaults()`.
   */
  async outage(input: OutageInput): Promise<FaultRule> {
    const fault: FaultSpec =
      input.kind === 'hang' ? { kind: 'hang' } : { kind: 'status', status: input.status ?? 503 };
    return this.injectFault({
      ...(input.method !== undefined ? { method: input.method } : {}),
      ...(input.path !== undefined ? { path: input.path } : {}),
      durationMs: input.ms,
      fault,
    });
  }

  /**
   * Removes one fault rule (e.g. ends an outage early: requests a hang outage held are dropped
   * then); fails when there is none with this id.
   */
  async removeFault(id: number): Promise<void> {
    await this.call('DELETE', `faults/${id}`);
  }

  /** Every stack deletion the emulator started, oldest first: what, when, and who asked. */
  async deletions(): Promise<StackDeletion[]> {
    return (await this.call<{ deletions: StackDeletion[] }>('GET', 'deletions')).deletions;
  }

  /** Rules in force: count-based ones with `remaining`, outages with `until`. */
  async faults(): Promise<FaultRule[]> {
    return (await this.call<{ faults: FaultRule[] }>('GET', 'faults')).faults;
  }

  /** Removes every rule, outages included (requests they held are dropped). */
  async clearFaults(): Promise<void> {
    await this.call('DELETE', 'faults');
  }

  /**
   * The next create (of `stackName` only, when given) ends CREATE_FAILED on its last resource
   * with `reason` (Heat's resource-level reason; a Nova "No valid host" one by default).
   */
  async failNextCreate(
    input: { stackName?: string; reason?: string; times?: number } = {},
  ): Promise<void> {
    await this.call('POST', 'create-failures', input);
  }

  /**
   * The next suspend or delete (of `stackName` only, when given) ends SUSPEND_FAILED or
   * DELETE_FAILED with `reason`, `times` times (default 1): a resource that refuses the action.
   */
  async failNextAction(input: {
    action: 'SUSPEND' | 'DELETE';
    stackName?: string;
    reason?: string;
    times?: number;
  }): Promise<void> {
    await this.call('POST', 'action-failures', input);
  }

  /** As if someone deleted the stack (name or id) by hand, outside the product. */
  async deleteStackByHand(nameOrId: string): Promise<void> {
    await this.call('POST', `stacks/${encodeURIComponent(nameOrId)}/delete`);
  }

  async suspendStackByHand(nameOrId: string): Promise<void> {
    await this.call('POST', `stacks/${encodeURIComponent(nameOrId)}/suspend`);
  }

  async settings(): Promise<EmulatorSettings> {
    return (await this.call<{ settings: EmulatorSettings }>('GET', 'settings')).settings;
  }

  async updateSettings(changes: Partial<EmulatorSettings>): Promise<EmulatorSettings> {
    return (await this.call<{ settings: EmulatorSettings }>('PATCH', 'settings', changes)).settings;
  }

  async setCreateDelay(ms: number): Promise<void> {
    await this.updateSettings({ createDelayMs: ms });
  }

  async requestCounts(): Promise<RequestCounts> {
    return (await this.call<{ requests: RequestCounts }>('GET', 'requests')).requests;
  }

  async resetRequestCounts(): Promise<void> {
    await this.call('DELETE', 'requests');
  }

  /** Every issued Keystone token stops working (Heat answers 401 until a new one is issued). */
  async revokeTokens(): Promise<void> {
    await this.call('POST', 'revoke-tokens');
  }

  /** Stacks, faults, pending failures, the deletion log, counters and settings back to the start. */
  async reset(): Promise<void> {
    await this.call('POST', 'reset');
  }

  private async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/_admin/${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`emulator admin ${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }
}
