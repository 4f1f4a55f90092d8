import { labPolicyOf } from '../src/config';
import type { LabPolicy } from '../workflows/policy';
import type { LabSnapshot, LabState } from '../workflows/state';
import { usageVerdicts as verdictsOf, type UsageSubject } from '../src/usage/verdict';
import {
  usageOfInterval,
  type Charge,
  type OpenInterval,
  type UsageVerdict,
} from '../workflows/usage';
import type { ActivityDeps } from './context';

export function createProjectionActivities(deps: ActivityDeps) {
  const now = () => deps.now?.() ?? new Date();
  const date = (ms: number | null) => (ms === null ? null : new Date(ms));

  /** The interval the lab's latest stored event (before `seq`) opened, from the audit trail. */
  const previousInterval = async (input: {
    snapshot: LabSnapshot;
    seq: number;
  }): Promise<OpenInterval | null> => {
    const last = await deps.store.events.lastBefore(input.snapshot.labId, input.seq);
    return last
      ? { since: last.at.getTime(), state: last.to, charge: last.charge ?? 'learner' }
      : null;
  };

  return {
    /**
     * Writes the lab document and one audit event for a transition, and counts the usage interval
     * the event closes into the ledger (all three idempotent by seq).
     */
    async recordTransition(input: {
      snapshot: LabSnapshot;
      seq: number;
      from: LabState | null;
      reason: string;
      /** Workflow time of the event (patch usage-ledger), so every retry records the same instant. */
      at?: number;
      /**
       * The usage interval this event closes (patch usage-ledger): the one the lab's previous
       * event opened, `previous` when the workflow does not know it (a run continued from one
       * before the ledger: read from the audit trail), null when none is open (a new run).
       */
      closes?: OpenInterval | 'previous' | null;
      /** Whose running time is from this event on (absent: the learner's). */
      charge?: Charge;
    }): Promise<void> {
      const s = input.snapshot;
      const at = input.at !== undefined ? new Date(input.at) : now();
      const owner = {
        labId: s.labId,
        courseId: s.courseId,
        learnerId: s.learnerId,
        lab: s.lab,
      };
      if (input.closes) {
        const open = input.closes === 'previous' ? await previousInterval(input) : input.closes;
        if (open) {
          const days = usageOfInterval(open.state, open.since, at.getTime(), open.charge);
          await deps.store.usage.count(owner, days, input.seq, at);
        }
      }
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
          ...(input.at !== undefined ? { lastEventAt: at, charge: input.charge ?? 'learner' } : {}),
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
        ...(input.at !== undefined
          ? {
              courseId: s.courseId,
              learnerId: s.learnerId,
              lab: s.lab,
              ...(input.charge === 'staff' ? { charge: 'staff' as const } : {}),
            }
          : {}),
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

    /** The learner's standing against every usage limit of the lab (src/usage/verdict.ts). */
    async usageVerdicts(input: {
      subject: UsageSubject;
      at: number;
      open: OpenInterval | null;
    }): Promise<UsageVerdict[]> {
      return verdictsOf(deps.store.usage, deps.config, input.subject, input.at, input.open);
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
