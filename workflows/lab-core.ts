/**
 * The lab workflow's state and bookkeeping, shared by its parts: the lab's snapshot and
 * intents, transitions (the projection and search attributes follow each one), the audit
 * trail, continue-as-new, and `persist`, which retries a stack action for as long as Heat
 * fails. Read workflows/lab.ts first; this is the base class of what it runs.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  ParentClosePolicy,
  patched,
  setCurrentDetails,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { heatActivities, legacyLocalActivities, storeActivities } from './activity-proxies';
import { describeLab } from './details';
import { formatDuration } from './duration';
import {
  deliveryIdOf,
  EVENT_VERSION,
  eventOfTransition,
  type EventType,
  type LabEvent,
} from './events';
import { labErrorOf, REFUSAL_CODES } from './failures';
import { IntentQueue } from './intents';
import type { CarriedState, LabWorkflowInput, Warned } from './messages';
import type { Charge, OpenInterval } from './usage';
import { labDeadlines, type LabDeadlines, type LabPolicy } from './policy';
import { LabStateKey, ProviderKey } from './search-attributes';
import type { LabError, LabSnapshot, LabState } from './state';
import { webhookDeliveryWorkflow } from './webhook-delivery';

/** How long a queued lab waits before asking for capacity again when no capacityFreed signal comes. */
export const QUEUE_POLL_MS = 30_000;
/** Deadline for a delete to reach DELETE_COMPLETE. */
export const DELETE_TIMEOUT_MS = 15 * 60_000;
/** Deadline for one attempt of a suspend or resume (the lab's persist() tries again after it). */
export const ACTION_TIMEOUT_MS = 10 * 60_000;
/**
 * Patch: policy reads are regular activities. As local activities they held the workflow task
 * open, and an update accepted meanwhile could not be replayed after a cache eviction.
 */
const POLICY_READ_ACTIVITY = 'policy-read-activity';
/** Patch: a launch of a lab with a warm pool first claims a suspended pool stack and resumes it. */
export const POOL_CLAIM = 'pool-claim';
/** A lab's history is continued-as-new at the latest here (Temporal also suggests it earlier). */
const DEFAULT_HISTORY_LIMIT = 2_000;
/**
 * Patch: stack actions outlast Heat outages. A resume or suspend that fails is retried (the
 * stack is never deleted for it), deletes retry until done, outputs are read until read, a
 * create never confirmed is looked up by name and deleted, a delete accepted before the create
 * creates nothing, and a queued lab continues as new.
 */
export const SURVIVE_OUTAGES = 'survive-heat-outages';
/**
 * Patch: a lab whose suspend, resume, delete or reset Heat keeps failing continues as new
 * between attempts once its history is long, and the new run tries the action again. A lab
 * held `suspending` for days by a stack Heat refuses to delete would otherwise grow tens of
 * thousands of events, and every replay of it (after a worker restart) costs that much.
 */
const CONTINUE_WHILE_RETRYING = 'continue-while-retrying';
/**
 * Patch: the lab emits lifecycle events (events.ts) to the webhook endpoints that want them,
 * each delivery a child workflow of its own, and warns before a suspend or a deletion.
 */
export const LIFECYCLE_EVENTS = 'lifecycle-events';
/**
 * Patch: each audit event carries the workflow's time and closes the usage interval the one
 * before it opened (workflows/usage.ts), which the projection activity counts into the ledger;
 * a staff retry runs on staff's account until the learner is back.
 */
export const USAGE_LEDGER = 'usage-ledger';
/** Patch: a ready lab watches its usage limits (warning, limit reached, suspend); a suspended one refuses a resume past them. */
export const USAGE_LIMITS = 'usage-limits';
/** Patch: the lab's projection writes never overlap (see LabCore.writeProjection). */
const SERIAL_PROJECTION = 'serial-projection-writes';
/**
 * The first pause between the lab's own retries of a stack action; it doubles up to a minute,
 * so a lab moves within a minute of Heat coming back (a 5-minute cap left labs waiting out
 * their backoff long after a short outage, in the soak). After half an hour of failures the
 * pause grows to 5 minutes, which keeps a day-long outage to a few hundred history events.
 */
const RETRY_FIRST_MS = 5_000;
const RETRY_CAP_MS = 60_000;
const RETRY_LONG_OUTAGE_MS = 30 * 60_000;
const RETRY_MAX_MS = 5 * 60_000;
/** After Heat refused a suspend outright (SUSPEND_FAILED), an idle lab tries again this much later. */
export const SUSPEND_REFUSED_BACKOFF_MS = 15 * 60_000;
/** How often a running lab whose policy is unknown (removed from the configuration) looks again. */
export const UNKNOWN_POLICY_RECHECK_MS = 5 * 60_000;
export type LabInput = LabWorkflowInput & { historyLimit?: number };

export abstract class LabCore {
  protected snapshot: LabSnapshot;
  protected readonly intents: IntentQueue;
  protected lastActivityAt: number;
  protected seq: number;
  protected policy: LabPolicy | null;
  protected capacityFreed = false;
  /** Before this (epoch ms) an idle lab does not try to suspend again: Heat refused the last one. */
  protected suspendRetryAt: number;
  /**
   * Stacks whose create Heat may have taken without confirming it (the create ran out of
   * retries): deleted by name in the background until Heat confirms, so none runs forever.
   */
  protected unconfirmed: Array<{ provider: string; stackName: string }>;
  protected sweeping = false;
  /** When the current suspend began (workflow time), to tell a returning learner from a late heartbeat. */
  protected suspendingSince: number | undefined;
  /** Since when the action in progress has failed, when an earlier run carried it over. */
  protected carriedFailingSince: number | undefined;
  protected readonly historyLimit: number;
  protected readonly initialSeq: number;
  /**
   * Warnings sent: when the last suspend warning went out (re-armed by learner activity after
   * it), and the deletion deadline the last delete warning was for (re-armed when it moves).
   */
  protected warned: Warned;
  /**
   * The usage interval the lab's latest audit event opened (patch USAGE_LEDGER); undefined until
   * this run has written an event, unless the run it continued carried it.
   */
  protected usageOpen: OpenInterval | undefined;
  /** Since when the lab has run on staff's account (a retry), until the learner is back; null: the learner's. */
  protected staffSince: number | null;
  /**
   * Whether the lab may be waiting in the capacity queue: not after a reservation, unknown (so
   * true) in a run that continued another.
   */
  protected mayBeQueued: boolean;
  /** The state the lab was in before the current one (null: unknown, as after continue-as-new). */
  protected enteredFrom: LabState | null;

  constructor(protected readonly input: LabInput) {
    const carried: CarriedState | undefined = input.carried;
    const now = Date.now();
    this.snapshot = carried?.snapshot ?? {
      labId: input.labId,
      courseId: input.courseId,
      learnerId: input.learnerId,
      lab: input.lab,
      state: 'queued',
      generation: 0,
      provider: null,
      stack: null,
      outputs: {},
      error: null,
      lifeStartedAt: now,
      readyAt: null,
      suspendedAt: null,
    };
    this.intents = new IntentQueue(carried?.intents);
    this.policy = carried?.policy ?? null;
    this.suspendRetryAt = carried?.suspendRetryAt ?? 0;
    this.unconfirmed = carried?.unconfirmed ?? [];
    this.lastActivityAt = carried?.lastActivityAt ?? now;
    this.carriedFailingSince = carried?.failingSince;
    this.suspendingSince = carried?.suspendingSince;
    this.warned = carried?.warned ?? { suspendAt: 0, deleteFor: 0 };
    this.enteredFrom = carried?.enteredFrom ?? null;
    this.usageOpen = carried?.usageOpen;
    this.staffSince = carried?.staffSince ?? null;
    this.mayBeQueued = carried !== undefined;
    // Projection writes are ordered by seq; a new life of a deleted lab (a new run) must write
    // over the old life's document, so a fresh run starts from its start time in ms, which is
    // above any seq an earlier life reached (each transition takes at least a millisecond).
    this.seq = carried?.seq ?? now;
    this.initialSeq = this.seq;
    this.historyLimit = input.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  }

  /**
   * The lab's current policy. A lab removed from the configuration keeps its last known one
   * (carried over continue-as-new); null only for a lab the workflow never had a policy for.
   */
  protected async refreshPolicy(options: { activity?: boolean } = {}): Promise<{
    policy: LabPolicy | null;
    lastActivityAt: number | null;
  }> {
    const input = {
      labId: this.snapshot.labId,
      lab: this.snapshot.lab,
      // A build needs no learner activity: one MongoDB read fewer per launch.
      ...(options.activity === false ? { withActivity: false } : {}),
    };
    const current = patched(POLICY_READ_ACTIVITY)
      ? await storeActivities.currentPolicy(input)
      : await legacyLocalActivities.currentPolicy(input);
    if (current.policy) this.policy = current.policy;
    return { policy: this.policy, lastActivityAt: current.lastActivityAt };
  }

  /** Time until `at`, but at most the policy refresh interval, so a changed policy is seen in time. */
  protected wakeIn(at: number, policy: LabPolicy): number {
    return Math.max(1, Math.min(at - Date.now(), policy.refreshEvery));
  }

  /** The lab's deadlines under `policy`, by the rule the API shows them with. */
  protected deadlines(policy: LabPolicy): LabDeadlines & { suspendAt: number } {
    const deadlines = labDeadlines(
      {
        lastActivityAt: this.lastActivityAt,
        suspendedAt: this.snapshot.suspendedAt,
        lifeStartedAt: this.snapshot.lifeStartedAt,
        suspendRetryAt: this.suspendRetryAt,
      },
      policy,
      Date.now(),
    );
    return { ...deadlines, suspendAt: deadlines.suspendAt ?? this.lastActivityAt };
  }

  protected async transition(
    state: LabState,
    patch: Partial<LabSnapshot>,
    reason: string,
  ): Promise<void> {
    const from = this.snapshot.state;
    const before = this.enteredFrom;
    if (from !== state) this.enteredFrom = from;
    if (state === 'suspending') this.suspendingSince = Date.now();
    const first = !this.input.carried && this.seq === this.initialSeq;
    // A state change ends whatever statusReason said, unless the change says something new.
    this.snapshot = { ...this.snapshot, statusReason: null, ...patch, state };
    this.seq += 1;
    upsertSearchAttributes([
      { key: LabStateKey, value: state },
      { key: ProviderKey, value: this.snapshot.provider },
    ]);
    this.describe(null, reason);
    // The ready lab's idle clock starts no earlier than it became ready (whileReady does the same).
    if (state === 'ready')
      this.lastActivityAt = Math.max(this.lastActivityAt, this.snapshot.readyAt ?? 0);
    const event = first ? null : eventOfTransition(from, state, before);
    if (event) this.emit(event, this.seq);
    await this.writeProjection({
      snapshot: this.snapshot,
      seq: this.seq,
      from: first ? null : from,
      reason,
      ...this.usageOfEvent(),
    });
  }

  /** An audit line without a state change. */
  protected async record(reason: string): Promise<void> {
    this.seq += 1;
    await this.writeProjection({
      snapshot: this.snapshot,
      seq: this.seq,
      from: this.snapshot.state,
      reason,
      ...this.usageOfEvent(),
    });
  }

  /**
   * What the event being written tells the usage ledger (patch USAGE_LEDGER): its time, the
   * interval it closes, and whose the running time is from it on; it opens the next interval.
   */
  private usageOfEvent(): {
    at?: number;
    closes?: OpenInterval | 'previous' | null;
    charge?: Charge;
  } {
    if (!patched(USAGE_LEDGER)) return {};
    const at = Date.now();
    const charge: Charge = this.staffSince === null ? 'learner' : 'staff';
    // A new run's first event opens the lab's life (nothing before it costs); a run that began
    // before the patch, or continued one that did, leaves the open interval to the audit trail.
    const firstOfNewRun = !this.input.carried && this.seq === this.initialSeq + 1;
    const closes = this.usageOpen ?? (firstOfNewRun ? null : 'previous');
    this.usageOpen = { since: at, state: this.snapshot.state, charge };
    return { at, closes, charge };
  }

  /** Learner activity at `at` ends a staff retry's account (the time is theirs again). */
  protected learnerActive(at: number): void {
    if (this.staffSince !== null && at > this.staffSince) this.staffSince = null;
  }

  private writing: Promise<unknown> = Promise.resolve();
  /**
   * Projection writes of a lab go one at a time (patch SERIAL_PROJECTION). The background
   * deletion of unconfirmed creates writes audit lines while the main loop makes transitions;
   * FerretDB v1 applies an update as read-modify-write, so of two concurrent writes the later
   * wins whatever their seq: the soak saw a lab's `deleted` overwritten by its `deleting`.
   */
  private writeProjection(input: Parameters<typeof storeActivities.recordTransition>[0]) {
    if (!patched(SERIAL_PROJECTION)) return storeActivities.recordTransition(input);
    const write = this.writing.then(() => storeActivities.recordTransition(input));
    this.writing = write.catch(() => undefined);
    return write;
  }

  /** Child workflow starts of events not yet confirmed: awaited before the run ends. */
  private emitting: Promise<unknown> = Promise.resolve();

  /** Whether some webhook endpoint wants this lab's events of `type`. */
  protected wants(type: EventType): boolean {
    return this.policy?.events?.webhooks.some((w) => w.types.includes(type)) ?? false;
  }

  /**
   * Sends a lifecycle event to every endpoint that wants it: one delivery workflow per endpoint,
   * started without waiting (a dead endpoint never holds the lab up), its id deterministic from
   * `key` (the transition's seq, the warned deadline, the check run), so a replay or a retried
   * start never makes a second event. The payload carries no output of the stack.
   */
  protected emit(type: EventType, key: number | string, extra: Partial<LabEvent['data']> = {}) {
    const endpoints = (this.policy?.events?.webhooks ?? []).filter((w) => w.types.includes(type));
    if (endpoints.length === 0 || !patched(LIFECYCLE_EVENTS)) return;
    const s = this.snapshot;
    const event: LabEvent = {
      id: `evt_${s.labId}_${type.replace(/^[a-z]+\./, '')}_${key}`,
      type,
      version: EVENT_VERSION,
      occurredAt: iso(Date.now()),
      data: {
        labId: s.labId,
        courseId: s.courseId,
        learnerId: s.learnerId,
        lab: s.lab,
        state: s.state,
        ...this.eventDeadlines(),
        ...(s.state === 'failed' && s.error ? { error: s.error } : {}),
        ...extra,
      },
    };
    const starts = endpoints.map(
      ({ endpoint }) =>
        startChild(webhookDeliveryWorkflow, {
          workflowId: deliveryIdOf(endpoint, event.id),
          args: [{ version: 1, endpoint, event }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        }).catch(() => undefined), // already started: the same event, being delivered
    );
    this.emitting = Promise.all([this.emitting, ...starts]);
  }

  /** The deadline an event shows: a ready lab's suspend, a suspended lab's deletion. */
  private eventDeadlines(): Pick<LabEvent['data'], 'suspendAt' | 'deleteAt'> {
    if (!this.policy) return {};
    const { suspendAt, deleteAt, endOfLife } = this.deadlines(this.policy);
    if (this.snapshot.state === 'ready')
      return {
        suspendAt: iso(suspendAt),
        ...(Number.isFinite(endOfLife) ? { deleteAt: iso(endOfLife) } : {}),
      };
    if (this.snapshot.state === 'suspended') return { deleteAt: iso(deleteAt) };
    return {};
  }

  /** Waits until every event emitted so far has its delivery workflow started. */
  protected async eventsStarted(): Promise<void> {
    await this.emitting;
  }

  private lastReason = '';
  protected describe(waitingFor: string | null, reason?: string): void {
    if (reason) this.lastReason = reason;
    setCurrentDetails(describeLab(this.snapshot, this.lastReason, waitingFor));
  }

  /** `failingSince`: a stack action failing since then, started over by the new run. */
  protected async continueAsNewIfLong(failingSince?: number): Promise<void> {
    const info = workflowInfo();
    if (!info.continueAsNewSuggested && info.historyLength < this.historyLimit) return;
    await condition(allHandlersFinished);
    await this.eventsStarted();
    await continueAsNew<(input: LabInput) => Promise<void>>({
      ...this.input,
      carried: {
        snapshot: this.snapshot,
        intents: this.intents.list(),
        lastActivityAt: this.lastActivityAt,
        seq: this.seq,
        policy: this.policy,
        suspendRetryAt: this.suspendRetryAt,
        unconfirmed: this.unconfirmed,
        ...(this.warned.suspendAt || this.warned.deleteFor || this.warned.usage
          ? { warned: this.warned }
          : {}),
        ...(this.usageOpen !== undefined ? { usageOpen: this.usageOpen } : {}),
        ...(this.staffSince !== null ? { staffSince: this.staffSince } : {}),
        ...(this.enteredFrom ? { enteredFrom: this.enteredFrom } : {}),
        ...(failingSince !== undefined ? { failingSince } : {}),
        ...(this.snapshot.state === 'suspending' && this.suspendingSince !== undefined
          ? { suspendingSince: this.suspendingSince }
          : {}),
      },
    });
  }

  /**
   * Runs a stack action until Heat has done it. A failure (Heat down, a timeout, a 401 after a
   * password rotation, an action Heat refused) never deletes the stack: the lab's statusReason
   * says what is wrong since when (API, labctl, Temporal UI), and the action is tried again
   * after a pause that doubles up to a minute (5 minutes after half an hour), for as long as it
   * takes. `until` ends the wait between attempts (something the learner or staff asked for
   * comes first); `isFinal` ends it on an answer no retry fixes. The audit trail gets one line per kind of failure,
   * not one per attempt.
   */
  protected async persist<T>(
    what: string,
    action: () => Promise<T>,
    options: {
      until?: () => boolean;
      isFinal?: (error: LabError) => boolean;
      /** The lab's state handler starts this action over in a new run (see CONTINUE_WHILE_RETRYING). */
      restartable?: boolean;
    } = {},
  ): Promise<{ done: true; value: T } | { done: false; error?: LabError }> {
    let failingSince: number | null = null;
    if (options.restartable) {
      failingSince = this.carriedFailingSince ?? null;
      this.carriedFailingSince = undefined;
    }
    let recorded = '';
    for (let attempt = 1; ; attempt++) {
      try {
        const value = await action();
        if (failingSince !== null) {
          this.snapshot.statusReason = null;
          await this.record(
            `${what} went through after ${formatDuration(Math.max(1000, Math.round((Date.now() - failingSince) / 1000) * 1000))}`,
          );
        }
        return { done: true, value };
      } catch (err) {
        if (isCancellation(err)) throw err;
        const error = labErrorOf(err);
        if (options.isFinal?.(error)) {
          this.snapshot.statusReason = null;
          return { done: false, error };
        }
        failingSince ??= Date.now();
        const since = clock(failingSince);
        this.snapshot.statusReason = REFUSAL_CODES.includes(error.code)
          ? `${what}: refused by Heat since ${since} (${error.message}), retrying`
          : error.code === 'stack_busy'
            ? `${what}: the stack has been busy in Heat since ${since} (${error.message}), retrying`
            : `${what}: Heat unavailable since ${since}, retrying`;
        const cap = Date.now() - failingSince < RETRY_LONG_OUTAGE_MS ? RETRY_CAP_MS : RETRY_MAX_MS;
        const pause = Math.min(cap, RETRY_FIRST_MS * 2 ** Math.min(attempt - 1, 16));
        if (this.snapshot.statusReason !== recorded) {
          recorded = this.snapshot.statusReason;
          await this.record(`${recorded} (${error.code}: ${error.message})`);
        }
        this.describe(`attempt ${attempt + 1} at ${iso(Date.now() + pause)} (${error.message})`);
        const interrupted = await condition(() => options.until?.() ?? false, pause);
        if (interrupted) {
          this.snapshot.statusReason = null;
          return { done: false };
        }
        if (options.restartable && patched(CONTINUE_WHILE_RETRYING))
          await this.continueAsNewIfLong(failingSince);
      }
    }
  }

  /** Deletes, in the background, stacks whose create was never confirmed, until Heat confirms. */
  protected sweepUnconfirmed(): void {
    if (this.sweeping || this.unconfirmed.length === 0) return;
    this.sweeping = true;
    void (async () => {
      let failures = 0;
      while (this.unconfirmed.length > 0) {
        const { provider, stackName } = this.unconfirmed[0]!;
        try {
          await heatActivities.deleteStack({
            labId: this.snapshot.labId,
            provider,
            stack: { id: '', name: stackName },
            deadline: Date.now() + DELETE_TIMEOUT_MS,
          });
          this.unconfirmed = this.unconfirmed.slice(1);
          failures = 0;
          await this.record(`${stackName} on ${provider}, created unconfirmed, is gone`);
        } catch (err) {
          if (isCancellation(err)) throw err;
          failures += 1;
          await sleep(Math.min(RETRY_CAP_MS, RETRY_FIRST_MS * 2 ** Math.min(failures - 1, 16)));
        }
      }
      this.sweeping = false;
    })();
  }
}

export const iso = (ms: number) => new Date(ms).toISOString();
/** A time of day, for "Heat unavailable since 12:03:10 UTC". */
const clock = (ms: number) => `${new Date(ms).toISOString().slice(11, 19)} UTC`;
