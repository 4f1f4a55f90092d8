import { Context } from '@temporalio/activity';
import { SWEEP_KINDS, type SweepKind } from '../src/store';
import type { ActivityDeps } from './context';

/** Where a sweep stopped: the kind it was on and the last `_id` it looked at. */
export interface SweepCursor {
  kind: SweepKind;
  after: string | null;
}

export interface SweepResult {
  /** Documents deleted by this call, per kind. */
  deleted: Record<SweepKind, number>;
  /** Where the next call goes on; null when the sweep is complete. */
  next: SweepCursor | null;
  /** How long the workflow waits before the next sweep (the configuration, read now). */
  sweepEveryMs: number;
}

/**
 * One call works this long at most, then hands its cursor back: a first sweep over years of
 * records (MongoDB, no TTL index needed) is many short activities, each visible in the history.
 */
const CALL_BUDGET_MS = 2 * 60_000;

export function createMaintenanceActivities(deps: ActivityDeps) {
  const now = () => deps.now?.() ?? new Date();

  return {
    /**
     * Deletes what is past retention (see src/store/retention.ts), batch after batch of at most
     * 25 documents, from `from` on. Idempotent: every batch checks its condition again as it
     * deletes, so a retried call or a second sweep deletes nothing twice and no live lab's
     * document. Heartbeats after each batch.
     */
    async sweepRetention(input: { from: SweepCursor | null }): Promise<SweepResult> {
      const ctx = Context.current();
      const { retention } = deps.config;
      const at = now().getTime();
      const cutoffs: Record<SweepKind, Date> = {
        events: new Date(at - retention.events),
        labs: new Date(at - retention.deletedLabs),
        activity: new Date(at - retention.deletedLabs),
        secrets: new Date(at - retention.deletedLabs),
        checks: new Date(at - retention.deletedLabs),
        hostKeys: new Date(at - retention.deletedLabs),
        poolClaims: new Date(at - retention.poolRecords),
        poolStacks: new Date(at - retention.poolRecords),
        poolMisses: new Date(at - retention.poolRecords),
        webhookDeliveries: new Date(at - retention.webhookDeliveries),
      };
      const deleted = Object.fromEntries(SWEEP_KINDS.map((k) => [k, 0])) as Record<
        SweepKind,
        number
      >;
      const started = Date.now();
      const first = input.from ? SWEEP_KINDS.indexOf(input.from.kind) : 0;
      let next: SweepCursor | null = null;
      for (let k = Math.max(0, first); k < SWEEP_KINDS.length && !next; k++) {
        const kind = SWEEP_KINDS[k]!;
        let after = input.from?.kind === kind ? input.from.after : null;
        do {
          const batch = await deps.store.retention.sweep(kind, cutoffs[kind], after);
          deleted[kind] += batch.deleted;
          after = batch.next;
          ctx.heartbeat({ kind, after });
        } while (after !== null && Date.now() - started < CALL_BUDGET_MS);
        if (after !== null) next = { kind, after };
      }
      const total = Object.values(deleted).reduce((a, b) => a + b, 0);
      if (total > 0 || !next)
        deps.logger.info(
          { deleted, done: !next },
          'retention sweep deleted what was past retention',
        );
      return { deleted, next, sweepEveryMs: retention.sweepEvery };
    },
  };
}
