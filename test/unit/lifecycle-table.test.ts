import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventOfTransition } from '../../workflows/events';
import { isTransition, LAB_STATES, LAB_TRANSITIONS, type LabState } from '../../workflows/state';

const HISTORIES = join(__dirname, '../fixtures/histories');

interface RecordedTransition {
  file: string;
  from: LabState | null;
  to: LabState;
  reason: string;
}

/** Every recordTransition the lab workflow scheduled in the committed histories, in order. */
function recordedTransitions(): RecordedTransition[] {
  const found: RecordedTransition[] = [];
  for (const file of readdirSync(HISTORIES).filter((f) => f.startsWith('lab-'))) {
    const history = JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')) as {
      events: Array<{
        activityTaskScheduledEventAttributes?: {
          activityType: { name: string };
          input: { payloads: Array<{ data: string }> };
        };
      }>;
    };
    for (const event of history.events) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled?.activityType.name !== 'recordTransition') continue;
      const input = JSON.parse(
        Buffer.from(scheduled.input.payloads[0]!.data, 'base64').toString('utf8'),
      ) as { snapshot: { state: LabState }; from: LabState | null; reason: string };
      found.push({ file, from: input.from, to: input.snapshot.state, reason: input.reason });
    }
  }
  return found;
}

describe('the lifecycle table (workflows/state.ts LAB_TRANSITIONS)', () => {
  it('holds every transition of every recorded lab history', () => {
    const transitions = recordedTransitions();
    expect(transitions.length).toBeGreaterThan(50);
    const outside = transitions.filter((t) => !isTransition(t.from, t.to));
    expect(outside).toEqual([]);
    // The histories go through most of the lifecycle, not a corner of it.
    const seen = new Set(
      transitions.filter((t) => t.from !== t.to).map((t) => `${t.from}>${t.to}`),
    );
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([
        'null>queued',
        'queued>launching',
        'launching>ready',
        'ready>suspending',
        'suspending>suspended',
        'suspended>resuming',
        'resuming>ready',
        'ready>resetting',
        'resetting>ready',
        'ready>deleting',
        'deleting>deleted',
      ]),
    );
  });

  it('names only lab states, and every state but deleted can be deleted', () => {
    for (const [from, targets] of Object.entries(LAB_TRANSITIONS)) {
      expect(LAB_STATES).toContain(from);
      for (const to of targets) expect(LAB_STATES).toContain(to);
    }
    for (const state of LAB_STATES.filter((s) => s !== 'deleted' && s !== 'deleting'))
      expect(LAB_TRANSITIONS[state]).toContain('deleting');
  });

  it('refuses a move the workflow never makes', () => {
    expect(isTransition('deleted', 'ready')).toBe(false);
    expect(isTransition('suspended', 'ready')).toBe(false);
    expect(isTransition(null, 'ready')).toBe(false);
    expect(isTransition('ready', 'ready')).toBe(true);
  });
});

describe('lifecycle events of transitions', () => {
  it('names the event a transition makes: resumed only for a lab that was suspended', () => {
    expect(eventOfTransition('launching', 'ready', 'queued')).toBe('lab.ready');
    expect(eventOfTransition('resuming', 'ready', 'suspended')).toBe('lab.resumed');
    expect(eventOfTransition('resuming', 'ready', 'suspending')).toBe('lab.resumed');
    // A launch that claimed a warm pool stack resumes it: a new lab to the learner.
    expect(eventOfTransition('resuming', 'ready', 'queued')).toBe('lab.ready');
    expect(eventOfTransition('resetting', 'ready', 'ready')).toBe('lab.ready');
    expect(eventOfTransition('suspending', 'suspended', 'ready')).toBe('lab.suspended');
    expect(eventOfTransition('ready', 'resetting', 'launching')).toBe('lab.reset');
    expect(eventOfTransition('launching', 'failed', 'queued')).toBe('lab.failed');
    expect(eventOfTransition('deleting', 'deleted', 'ready')).toBe('lab.deleted');
    // Notes (from === to) and the steps in between make none.
    expect(eventOfTransition('ready', 'ready', 'launching')).toBeNull();
    expect(eventOfTransition('ready', 'suspending', 'launching')).toBeNull();
    expect(eventOfTransition('queued', 'launching', null)).toBeNull();
  });
});
