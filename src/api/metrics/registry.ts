import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DELIVERY_STATES, type DeliveryState } from '../../store';
import { LAB_STATES, type LabState } from '../../../workflows/state';

export interface PoolFigures {
  lab: string;
  size: number;
  ready: number;
  building: number;
  claims: number;
  misses: number;
  refillSeconds: number | null;
}

/**
 * The API's Prometheus metrics, on a registry of its own (not prom-client's global one) so
 * several apps in one process, as in tests, do not collide.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'labs_api_requests_total',
    help: 'HTTP requests by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'labs_api_request_duration_seconds',
    help: 'HTTP request latency by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly heartbeatsReceived = new Counter({
    name: 'labs_api_heartbeats_received_total',
    help: 'Heartbeats accepted (204)',
    registers: [this.registry],
  });
  readonly heartbeatWrites = new Counter({
    name: 'labs_api_heartbeat_writes_total',
    help: 'Lab activity writes to MongoDB after coalescing (one per lab per flush)',
    registers: [this.registry],
  });
  readonly heartbeatFlushes = new Counter({
    name: 'labs_api_heartbeat_flushes_total',
    help: 'Coalesced heartbeat flushes (bulk writes) to MongoDB',
    registers: [this.registry],
  });
  readonly heartbeatSignals = new Counter({
    name: 'labs_api_heartbeat_signals_total',
    help: 'Heartbeat signals sent to lab workflows (suspended labs only, coalesced)',
    registers: [this.registry],
  });
  readonly heartbeatStateReads = new Counter({
    name: 'labs_api_heartbeat_state_reads_total',
    help: 'Batched MongoDB reads of lab states behind the heartbeat state cache',
    registers: [this.registry],
  });
  readonly heartbeatWorkflowLookups = new Counter({
    name: 'labs_api_heartbeat_workflow_lookups_total',
    help: 'Temporal describes behind heartbeats of labs with no projection yet (one per lab until it has one, 5 min at most)',
    registers: [this.registry],
  });
  readonly dependencyErrors = new Counter({
    name: 'labs_api_dependency_errors_total',
    help: 'Failed or timed-out calls to Temporal or MongoDB',
    labelNames: ['dependency', 'operation'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'labs_api_rate_limited_total',
    help: 'Requests refused with 429, by whose bucket was empty (token, lab or learner)',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });
  readonly figuresRefreshed = new Gauge({
    name: 'labs_api_figures_refreshed_seconds',
    help: 'When labs_by_state and the pool figures were last read from MongoDB (Unix time)',
    registers: [this.registry],
  });
  readonly terminalSessions = new Gauge({
    name: 'labs_api_terminal_sessions',
    help: 'Browser terminal sessions open (WebSocket to a lab over SSH) on this API process',
    registers: [this.registry],
  });
  readonly longPollWaiters = new Gauge({
    name: 'labs_api_long_poll_waiters',
    help: 'GET /v1/labs/{id}?wait=N requests waiting for a change',
    registers: [this.registry],
  });

  /**
   * Warm pools by lab, from what the workers record in MongoDB (claims and misses are counted
   * there, so every API replica reports the same totals). `current` answers from memory: a
   * scrape never queries MongoDB (see MetricsFigures).
   */
  pools(current: () => PoolFigures[]): void {
    const figures: Array<[string, string, (p: PoolFigures) => number | null]> = [
      ['labs_pool_size', 'Target size of the warm pool now', (p) => p.size],
      ['labs_pool_ready', 'Warm pool stacks ready to be claimed', (p) => p.ready],
      ['labs_pool_building', 'Warm pool stacks being built', (p) => p.building],
      ['labs_pool_claims_total', 'Launches that got a warm pool stack', (p) => p.claims],
      [
        'labs_pool_misses_total',
        'Launches of a pooled lab that found no stack ready',
        (p) => p.misses,
      ],
      [
        'labs_pool_refill_seconds',
        'Median build time of the last 20 pool stacks',
        (p) => p.refillSeconds,
      ],
    ];
    for (const [name, help, value] of figures) {
      new Gauge({
        name,
        help,
        labelNames: ['lab'] as const,
        registers: [this.registry],
        collect() {
          for (const pool of current()) {
            const v = value(pool);
            if (v !== null) this.set({ lab: pool.lab }, v);
          }
        },
      });
    }
  }

  /** Webhook deliveries by state (sent, failed, gone, pending), from memory like labsByState. */
  webhookDeliveries(current: () => Record<DeliveryState, number> | null): void {
    new Gauge({
      name: 'labs_webhook_deliveries',
      help: 'Webhook deliveries recorded in MongoDB by state: sent, failed, gone (410) and pending',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const counts = current();
        if (!counts) return;
        for (const state of DELIVERY_STATES) this.set({ state }, counts[state]);
      },
    });
  }

  /** Labs by state; `current` answers from memory (null until the first read succeeded). */
  labsByState(current: () => Map<LabState, number> | null): void {
    new Gauge({
      name: 'labs_by_state',
      help: 'Labs in the MongoDB projection by state (read in the background, see api.metricsRefresh)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const counts = current();
        if (!counts) return;
        for (const state of LAB_STATES) this.set({ state }, counts.get(state) ?? 0);
      },
    });
  }
}
