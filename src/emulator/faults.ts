import { heatFault, json, type Reply } from './http-util';

/**
 * What a fault does to a matching request:
 * - latency: answer normally after `ms`;
 * - status: answer `status` (5xx: Heat's or keystonemiddleware's shape) instead of handling;
 * - hang: never answer (the client's timeout must end it);
 * - reset: close the connection without an answer (ECONNRESET);
 * - quota: Heat's over-limit answer (RequestLimitExceeded, 400), or a 413 / 403 variant;
 * - unauthorized: a 401 as if the token had been revoked.
 * With `afterHandling`, the request is handled first (a create does create the stack) and only
 * the answer is lost: the case where the client must not assume nothing happened.
 */
export type FaultSpec =
  | { kind: 'latency'; ms: number }
  | { kind: 'status'; status: number; message?: string; afterHandling?: boolean }
  | { kind: 'hang'; afterHandling?: boolean }
  | { kind: 'reset'; afterHandling?: boolean }
  | { kind: 'quota'; variant?: 'requestLimit' | 'entityTooLarge' | 'forbidden' }
  | { kind: 'unauthorized' };

export interface FaultRule {
  id: number;
  /** HTTP method; any when absent. */
  method?: string;
  /** Regular expression tested against the request path (no query string); any when absent. */
  path?: string;
  /** A count-based rule: matching requests still to affect. */
  remaining?: number;
  /**
   * A time-window rule (an outage): every matching request is affected until then, in the
   * emulator's clock (epoch ms). It takes precedence over count-based rules, which it leaves
   * unconsumed, and is dropped once the time has passed.
   */
  until?: number;
  fault: FaultSpec;
}

/**
 * A rule to add: at most one of `times` (the next N matching requests; 1 when none is given),
 * `durationMs` (every matching request for that long from now) or `until` (epoch ms).
 */
export interface FaultInput {
  method?: string;
  path?: string;
  fault: FaultSpec;
  times?: number;
  durationMs?: number;
  until?: number;
}

export class FaultTable {
  private rules: FaultRule[] = [];
  private nextId = 1;

  constructor(
    private readonly now: () => number = Date.now,
    /** Called with the ids of rules removed before their end (an outage ended early). */
    private readonly onRemoved: (ids: number[]) => void = () => undefined,
  ) {}

  /** Throws on an invalid input (the admin endpoint answers 400 with the message). */
  add(input: FaultInput): FaultRule {
    if (input.path !== undefined) new RegExp(input.path);
    const limits = (['times', 'durationMs', 'until'] as const).filter(
      (k) => input[k] !== undefined,
    );
    if (limits.length > 1) throw new Error(`give one of times, durationMs, until (not ${limits})`);
    for (const k of limits) {
      const value = input[k];
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
        throw new Error(`${k} must be a positive number`);
    }
    const until =
      input.until ?? (input.durationMs !== undefined ? this.now() + input.durationMs : undefined);
    const rule: FaultRule = {
      id: this.nextId++,
      method: input.method?.toUpperCase(),
      path: input.path,
      ...(until !== undefined ? { until } : { remaining: input.times ?? 1 }),
      fault: input.fault,
    };
    this.rules.push(rule);
    return { ...rule };
  }

  list(): FaultRule[] {
    this.dropEnded();
    return this.rules.map((r) => ({ ...r }));
  }

  clear(): void {
    const ids = this.rules.map((r) => r.id);
    this.rules = [];
    this.onRemoved(ids);
  }

  /** Removes one rule (an outage ended early); false when there was none with this id. */
  remove(id: number): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    if (this.rules.length === before) return false;
    this.onRemoved([id]);
    return true;
  }

  /**
   * The rule that applies to this request: an outage in force first, else the first count-based
   * rule matching, consumed by one.
   */
  take(method: string, path: string): FaultRule | undefined {
    this.dropEnded();
    const matches = (r: FaultRule) =>
      (!r.method || r.method === method) && (!r.path || new RegExp(r.path).test(path));
    const outage = this.rules.find((r) => r.until !== undefined && matches(r));
    if (outage) return { ...outage };
    const rule = this.rules.find((r) => r.remaining !== undefined && matches(r));
    if (!rule) return undefined;
    rule.remaining = (rule.remaining ?? 1) - 1;
    if (rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
    return { ...rule };
  }

  private dropEnded(): void {
    const now = this.now();
    this.rules = this.rules.filter((r) => r.until === undefined || r.until > now);
  }
}

/** The answer a status or quota fault gives, shaped like the real service's. */
export function faultReply(fault: FaultSpec, keystone: boolean): Reply | undefined {
  if (fault.kind === 'status') {
    if (fault.status === 503 && !keystone) {
      // What heat-api answers when keystonemiddleware cannot reach Keystone.
      return json(503, {
        message:
          'The server is currently unavailable. Please try again at a later time.<br /><br />\nThe Keystone service is temporarily unavailable.\n\n',
        code: '503 Service Unavailable',
        title: 'Service Unavailable',
      });
    }
    if (keystone) {
      return json(fault.status, {
        error: {
          code: fault.status,
          message:
            fault.message ??
            'An unexpected error prevented the server from fulfilling your request.',
          title: 'Internal Server Error',
        },
      });
    }
    return heatFault(
      fault.status,
      fault.status >= 500 ? 'InternalServerError' : 'HTTPError',
      fault.message ??
        'Remote error: DBConnectionError (pymysql.err.OperationalError) Lost connection to MySQL server during query',
    );
  }
  if (fault.kind === 'quota') {
    if (fault.variant === 'entityTooLarge')
      return heatFault(
        413,
        'RequestLimitExceeded',
        'Request limit exceeded: Maximum resources per stack exceeded.',
      );
    if (fault.variant === 'forbidden')
      return heatFault(403, 'Forbidden', 'Quota exceeded for resources: stacks. Over limit.');
    return heatFault(
      400,
      'RequestLimitExceeded',
      'Request limit exceeded: You have reached the maximum stacks per tenant, 100. Please delete some stacks.',
    );
  }
  return undefined;
}
