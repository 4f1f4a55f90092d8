/**
 * Lifecycle events: what leaves the product for a course team's systems (signed webhooks, see
 * src/webhooks and workflows/webhook-delivery.ts). Names are stable; the payload is thin and
 * versioned (a consumer reads the rest from the API). Pure, so workflow-safe.
 */
import type { LabError, LabState } from './state';

/** Payload version: a field is only ever added within one version. */
export const EVENT_VERSION = 1;

export const EVENT_TYPES = [
  'lab.ready',
  'lab.suspend_warning',
  'lab.suspended',
  'lab.resumed',
  'lab.delete_warning',
  'lab.deleted',
  'lab.failed',
  'lab.reset',
  'check.completed',
  'usage.limit_warning',
  'usage.limit_reached',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface LabEvent {
  /** Unique per event and the same on every delivery attempt (the `webhook-id` header). */
  id: string;
  type: EventType;
  version: typeof EVENT_VERSION;
  /** ISO 8601, UTC. */
  occurredAt: string;
  data: {
    labId: string;
    courseId: string;
    learnerId: string;
    lab: string;
    state: LabState;
    /** ISO 8601: when a ready lab is suspended if the learner stays away. */
    suspendAt?: string;
    /** ISO 8601: when the lab and its files are deleted. */
    deleteAt?: string;
    error?: LabError;
    checkId?: string;
    /** usage.* events: the learner's charged running time against the limit, in its window. */
    usage?: {
      usedSeconds: number;
      limitSeconds: number;
      breach: 'warn' | 'block' | 'suspend';
      window: string;
    };
  };
}

/**
 * The event a transition makes, if any: `to` reached from `from`, which was entered from
 * `before`. A lab is `resumed` when it was suspended (or suspending) before it was resuming: a
 * launch that claims a pool stack also goes through `resuming`, and is a new lab (`lab.ready`).
 */
export function eventOfTransition(
  from: LabState | null,
  to: LabState,
  before: LabState | null,
): EventType | null {
  if (from === to) return null;
  switch (to) {
    case 'ready':
      return from === 'resuming' && (before === 'suspended' || before === 'suspending')
        ? 'lab.resumed'
        : 'lab.ready';
    case 'suspended':
      return 'lab.suspended';
    case 'deleted':
      return 'lab.deleted';
    case 'failed':
      return 'lab.failed';
    case 'resetting':
      return 'lab.reset';
    default:
      return null;
  }
}

/** The Temporal workflow id of one event's delivery to one endpoint: deterministic, so never sent twice as new. */
export function deliveryIdOf(endpoint: string, eventId: string): string {
  return `webhook:${endpoint}:${eventId}`;
}
