import type { StackDeletion } from '../../src/emulator';
import type { LabEvent } from '../../src/store/events';
import type { LabState } from '../../workflows/state';
import { judgeDeletions, judgeTransitions, type AskedAction } from '../reliability/soak-checks';

/** The soak's deletion check on hand-made evidence: what warrants deleting a learner's stack. */
describe('judgeDeletions', () => {
  const T0 = Date.parse('2026-07-09T12:00:00Z');
  const LAB = 'lab_abc';
  const byHeat = {
    via: 'heat',
    userId: 'u',
    userName: 'labs',
    projectId: 'p',
    projectName: 'cloud-a',
  } as const;
  let seq = 0;
  const event = (sec: number, generation: number, to: LabState, reason: string): LabEvent => ({
    _id: `${LAB}:${++seq}`,
    labId: LAB,
    at: new Date(T0 + sec * 1000),
    from: null,
    to,
    generation,
    provider: 'cloud-a',
    reason,
    error: null,
  });
  const deletion = (sec: number, generation: number, createdSec: number): StackDeletion => ({
    stackId: `id-${generation}-${createdSec}`,
    stackName: `demo-abc-g${generation}`,
    projectId: 'p',
    createdAt: T0 + createdSec * 1000,
    at: T0 + sec * 1000,
    statusBefore: 'SUSPEND_COMPLETE',
    by: byHeat,
  });
  const judge = (
    deletions: StackDeletion[],
    events: LabEvent[],
    asked: AskedAction[] = [],
  ): ReturnType<typeof judgeDeletions> =>
    judgeDeletions({
      deletions,
      labOf: (name) => (name.startsWith('demo-abc-') ? LAB : undefined),
      events: new Map([[LAB, events]]),
      asked: new Map([[LAB, asked]]),
      started: T0,
    });

  it('a delete and a reset the soak sent, and retention, warrant deleting a ready stack', () => {
    const events = [
      event(1, 1, 'ready', 'demo-abc-g1 is CREATE_COMPLETE'),
      event(5, 1, 'resetting', 'reset requested'),
      event(7, 2, 'ready', 'demo-abc-g2 is CREATE_COMPLETE'),
      event(9, 2, 'suspended', 'demo-abc-g2 is SUSPEND_COMPLETE'),
      event(30, 2, 'deleting', 'suspended for 20s (deleteAfter)'),
    ];
    const verdict = judge([deletion(5.1, 1, 0), deletion(30.1, 2, 5.5)], events, [
      { what: 'reset', at: T0 + 4_900 },
    ]);
    expect(verdict).toEqual({ breaches: [], tally: { reset: 1, retention: 1 } });
  });

  it('a stack deleted after a failed resume is a breach naming the lab, the stack and its story', () => {
    const events = [
      event(1, 1, 'ready', 'demo-abc-g1 is CREATE_COMPLETE'),
      event(4, 1, 'suspended', 'demo-abc-g1 is SUSPEND_COMPLETE'),
      event(6, 1, 'resuming', 'learner is back'),
      event(70, 1, 'resuming', 'resume failed (Heat unavailable); recreating the stack'),
    ];
    const { breaches } = judge([deletion(70.2, 1, 0)], events);
    expect(breaches).toEqual([
      'lab lab_abc: its stack demo-abc-g1 (SUSPEND_COMPLETE, ready at 1.0 s) was deleted at 70.2 s by labs/cloud-a without a delete, reset, retention or maxLifetime (its events: ready: demo-abc-g1 is CREATE_COMPLETE > suspended: demo-abc-g1 is SUSPEND_COMPLETE > resuming: learner is back > resuming: resume failed (Heat unavailable); recreating the stack)',
    ]);
  });

  it('"delete requested" without a delete sent by the soak is a breach', () => {
    const events = [
      event(1, 1, 'ready', 'demo-abc-g1 is CREATE_COMPLETE'),
      event(3, 1, 'deleting', 'delete requested'),
    ];
    const { breaches } = judge([deletion(3.1, 1, 0)], events, [{ what: 'reset', at: T0 + 2_000 }]);
    expect(breaches).toHaveLength(1);
    expect(breaches[0]).toContain('the soak sent no delete of the lab while the stack existed');
  });

  it('stacks never ready, deletions by hand and other runs’ stacks are not judged; an earlier life’s events do not count', () => {
    const events = [
      // An earlier life: g1 was ready and deleted on request, long before this g1 was created.
      event(1, 1, 'ready', 'demo-abc-g1 is CREATE_COMPLETE'),
      event(2, 1, 'deleting', 'delete requested'),
      // This life's g1 never got to ready: its failed create was cleaned up.
      event(12, 1, 'launching', 'building demo-abc-g1 on cloud-a'),
    ];
    const verdict = judge(
      [
        deletion(2.1, 1, 0),
        deletion(13, 1, 12),
        { ...deletion(14, 2, 13), by: { via: 'admin' } },
        { ...deletion(15, 1, 0), stackName: 'other-xyz-g1' },
      ],
      events,
      [{ what: 'delete', at: T0 + 1_500 }],
    );
    expect(verdict).toEqual({
      breaches: [],
      tally: { delete: 1, 'not ready': 1, 'by hand': 1 },
    });
  });
});

describe('judgeTransitions', () => {
  const at = new Date('2026-07-09T12:00:00Z');
  const step = (from: LabState | null, to: LabState, reason: string): LabEvent => ({
    _id: `lab_abc:${reason}`,
    labId: 'lab_abc',
    at,
    from,
    to,
    generation: 1,
    provider: 'cloud-a',
    reason,
    error: null,
  });

  it('accepts a life along the table and names a move outside it', () => {
    const life = [
      step(null, 'queued', 'launch requested'),
      step('queued', 'launching', 'building'),
      step('launching', 'ready', 'CREATE_COMPLETE'),
      step('ready', 'ready', 'a note'),
      step('ready', 'suspending', 'idle'),
      step('suspending', 'suspended', 'SUSPEND_COMPLETE'),
    ];
    expect(judgeTransitions(new Map([['lab_abc', life]]))).toEqual([]);
    expect(
      judgeTransitions(new Map([['lab_abc', [...life, step('suspended', 'ready', 'magic')]]])),
    ).toEqual(['lab lab_abc: suspended -> ready is not in the lifecycle table ("magic")']);
  });
});
