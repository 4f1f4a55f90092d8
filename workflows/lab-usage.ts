/**
 * Usage limits of the lab workflow (docs/usage.md): while ready, the warning, the notice and (a
 * `suspend` limit) the suspend at the learner's allowance; while suspended, a refused resume; and
 * the learner's return after a staff retry. The rule itself is src/usage/verdict.ts, asked
 * through the `usageVerdicts` activity. Behind patch USAGE_LIMITS (lab-core.ts).
 */
import { patched } from '@temporalio/workflow';
import { storeActivities } from './activity-proxies';
import { LabChecks } from './lab-checks';
import { USAGE_LIMITS } from './lab-core';
import { formatSpan, refusesStart, usageDeadlines, type UsageVerdict } from './usage';

/** A lab no usage limit applies to: nothing to wake for. */
export const NO_USAGE_LIMIT: { wakeAt: number; suspendFor?: string } = { wakeAt: Infinity };

export abstract class LabUsage extends LabChecks {
  /** The learner came back (a launch, a heartbeat) while the open interval is staff's. */
  protected backFromStaff(): boolean {
    return this.usageOpen?.charge === 'staff' && this.staffSince === null;
  }

  /**
   * The usage limits of a ready lab (patch USAGE_LIMITS): the warning at `warnAt` of a limit and
   * the notice when it is reached go out once per allowance (a grant arms them again), as audit
   * lines and, when an endpoint wants them, events. A `suspend` limit reached suspends the lab.
   * Returns when to look again.
   */
  protected async watchUsage(): Promise<{ wakeAt: number; suspendFor?: string }> {
    const now = Date.now();
    let wakeAt = Infinity;
    let suspendFor: string | undefined;
    for (const v of await this.usageVerdicts()) {
      const { warnAt, reachedAt } = usageDeadlines(v, now);
      const figures = `${formatSpan(v.usedMs)} of ${formatSpan(v.limitMs)}`;
      if (now >= reachedAt) {
        await this.noticeOnce(
          'reached',
          v,
          'usage.limit_reached',
          `usage limit reached: ${figures} used (${v.breach})`,
        );
        if (v.breach === 'suspend') suspendFor = `usage limit reached: ${figures} used`;
      } else {
        if (now >= warnAt)
          await this.noticeOnce('warn', v, 'usage.limit_warning', `usage warning: ${figures} used`);
        else wakeAt = Math.min(wakeAt, warnAt);
        wakeAt = Math.min(wakeAt, reachedAt);
      }
    }
    return { wakeAt, ...(suspendFor ? { suspendFor } : {}) };
  }

  /**
   * Whether a usage limit refuses to resume the suspended lab (patch USAGE_LIMITS): a `block` or
   * `suspend` limit used up. The refusal is written to the audit trail once per allowance.
   */
  protected async usageRefusesStart(): Promise<boolean> {
    if (!this.policy?.usageLimited || !patched(USAGE_LIMITS)) return false;
    const refusing = (await this.usageVerdicts()).find(refusesStart);
    if (!refusing) return false;
    this.snapshot = {
      ...this.snapshot,
      statusReason: `usage limit reached: resumes after a grant of more time${refusing.windowStart ? ' or when the window moves on' : ''}`,
    };
    await this.noticeOnce(
      'refused',
      refusing,
      null,
      `resume refused: usage limit reached (${formatSpan(refusing.usedMs)} of ${formatSpan(refusing.limitMs)} used)`,
    );
    return true;
  }

  protected usageVerdicts() {
    const { courseId, learnerId, lab } = this.snapshot;
    return storeActivities.usageVerdicts({
      subject: { courseId, learnerId, lab },
      at: Date.now(),
      open: this.usageOpen ?? null,
    });
  }

  /** An audit line (and event) about a usage limit, once per limit and allowance. */
  protected async noticeOnce(
    kind: 'warn' | 'reached' | 'refused',
    v: UsageVerdict,
    event: 'usage.limit_warning' | 'usage.limit_reached' | null,
    line: string,
  ): Promise<void> {
    const key = `${kind}:${v.limitIndex}`;
    if (this.warned.usage?.[key] === v.limitMs) return;
    this.warned = { ...this.warned, usage: { ...this.warned.usage, [key]: v.limitMs } };
    if (event)
      this.emit(event, `${v.limitIndex}-${v.limitMs}`, {
        usage: {
          usedSeconds: Math.round(v.usedMs / 1000),
          limitSeconds: Math.round(v.limitMs / 1000),
          breach: v.breach,
          window: v.window,
        },
      });
    await this.record(line);
  }
}
