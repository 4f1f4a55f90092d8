import { LAB_STATES, type LabState } from '../../../workflows/state';
import type { DeliveryState } from '../../store';
import { readPools } from '../pools';
import type { ApiServices } from '../services';
import type { PoolFigures } from './registry';

/**
 * The figures /metrics serves from MongoDB (labs by state, warm pools), read in the background
 * every `everyMs` rather than on each scrape: /metrics is public, and a `$group` over every lab
 * per scrape let anyone who can reach it load the database. A scrape answers from memory; when
 * MongoDB is down the last figures stay (the dependency error counter and
 * `labs_api_figures_refreshed_seconds` show how old they are).
 */
export class MetricsFigures {
  private byState: Map<LabState, number> | null = null;
  private poolFigures: PoolFigures[] = [];
  private deliveries: Record<DeliveryState, number> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly api: ApiServices,
    private readonly everyMs: number,
  ) {
    api.metrics.labsByState(() => this.byState);
    api.metrics.pools(() => this.poolFigures);
    api.metrics.webhookDeliveries(() => this.deliveries);
  }

  /** Reads now, then every `everyMs` until stop(). */
  start(): void {
    if (this.timer) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing;
  }

  /** One read of both figures (never two at once); each keeps its last value when it fails. */
  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const [byState, pools, deliveries] = await Promise.allSettled([
      countLabsByState(this.api),
      readPools(this.api),
      this.api.deps.mongo('count webhook deliveries', (deadline) =>
        this.api.ctx.store.deliveries.countByState(deadline),
      ),
    ]);
    if (byState.status === 'fulfilled') this.byState = byState.value;
    if (pools.status === 'fulfilled') this.poolFigures = pools.value;
    if (deliveries.status === 'fulfilled') this.deliveries = deliveries.value;
    if ([byState, pools, deliveries].every((r) => r.status === 'fulfilled'))
      this.api.metrics.figuresRefreshed.set(Date.now() / 1000);
  }
}

/** Under the API's MongoDB deadline, which the server also enforces (maxTimeMS). */
async function countLabsByState(api: ApiServices): Promise<Map<LabState, number>> {
  const rows = await api.deps.mongo('count labs by state', (deadline) =>
    api.ctx.store.labs.countByState(deadline),
  );
  const counts = new Map<LabState, number>();
  for (const row of rows) if (LAB_STATES.includes(row._id)) counts.set(row._id, row.n);
  return counts;
}
