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
  /** Matching requests still to affect. */
  remaining: number;
  fault: FaultSpec;
}

export type FaultInput = Omit<FaultRule, 'id' | 'remaining'> & { times?: number };

export class FaultTable {
  private rules: FaultRule[] = [];
  private nextId = 1;

  add(input: FaultInput): FaultRule {
    if (input.path !== undefined) new RegExp(input.path);
    const rule: FaultRule = {
      id: this.nextId++,
      method: input.method?.toUpperCase(),
      path: input.path,
      remaining: input.times ?? 1,
      fault: input.fault,
    };
    this.rules.push(rule);
    return rule;
  }

  list(): FaultRule[] {
    return this.rules.map((r) => ({ ...r }));
  }

  clear(): void {
    this.rules = [];
  }

  /** The first rule matching this request, consumed by one. */
  take(method: string, path: string): FaultSpec | undefined {
    const rule = this.rules.find(
      (r) => (!r.method || r.method === method) && (!r.path || new RegExp(r.path).test(path)),
    );
    if (!rule) return undefined;
    if (--rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
    return rule.fault;
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
