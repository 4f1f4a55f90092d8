import { labPolicyOf } from '../src/config';
import type { LabPolicy } from '../workflows/policy';
import type { LabSnapshot, LabState } from '../workflows/state';
import type { ActivityDeps } from './context';

export function createProjectionActivities(deps: ActivityDeps) {
  const now = () => deps.now?.() ?? new Date();
  const date = (ms: number | null) => (ms === null ? null : new Date(ms));

  return {
    /** Writes the lab document and one audit event for a transition (both idempotent by seq). */
    async recordTransition(input: {
      snapshot: LabSnapshot;
      seq: number;
      from: LabState | null;
      reason: string;
    }): Promise<void> {
      const s = input.snapshot;
      const at = now();
      await deps.store.labs.project(
        {
          labId: s.labId,
          courseId: s.courseId,
          learnerId: s.learnerId,
          lab: s.lab,
          state: s.state,
          generation: s.generation,
          provider: s.provider,
          stack: s.stack,
          outputs: s.outputs,
          error: s.error,
          lifeStartedAt: new Date(s.lifeStartedAt),
          readyAt: date(s.readyAt),
          suspendedAt: date(s.suspendedAt),
          fromPool: s.fromPool ?? false,
          statusReason: s.statusReason ?? null,
          deletedAt: s.state === 'deleted' ? at : null,
          seq: input.seq,
        },
        at,
      );
      await deps.store.events.record({
        _id: `${s.labId}:${input.seq}`,
        labId: s.labId,
        at,
        from: input.from,
        to: s.state,
        generation: s.generation,
        provider: s.provider,
        reason: input.reason,
        error: s.error,
      });
      const log =
        s.state === 'failed'
          ? deps.logger.warn.bind(deps.logger)
          : deps.logger.info.bind(deps.logger);
      log(
        {
          labId: s.labId,
          workflowId: s.labId,
          from: input.from,
          to: s.state,
          generation: s.generation,
          provider: s.provider,
          reason: input.reason,
        },
        'lab transition',
      );
    },

    /**
     * The lab's current policy (from the configuration the worker was started with, so an
     * operator's change reaches running labs) and the learner's last recorded activity.
     */
    async currentPolicy(input: {
      labId: string;
      lab: string;
      /** False: the caller needs the policy only (a build), so the activity is not read. */
      withActivity?: boolean;
    }): Promise<{ policy: LabPolicy | null; lastActivityAt: number | null }> {
      const last =
        input.withActivity === false ? null : await deps.store.activity.lastActivityAt(input.labId);
      return {
        policy: labPolicyOf(deps.config, input.lab),
        lastActivityAt: last ? last.getTime() : null,
      };
    },
  };
}
