import type { UsageStore } from '../../src/store/usage';
import { limitsFor, shownVerdict, usageVerdicts, windowStartOf } from '../../src/usage/verdict';
import type { UsageLimitConfig } from '../../src/config';
import {
  formatSpan,
  usageDeadlines,
  usageOfInterval,
  usageOfTrail,
  type UsageVerdict,
} from '../../workflows/usage';

const at = (iso: string) => Date.parse(iso);
const limit = (over: Partial<UsageLimitConfig>): UsageLimitConfig => ({
  scope: 'course',
  courses: null,
  labs: null,
  limit: 3_600_000,
  window: 'course',
  breach: 'warn',
  warnAt: 0.8,
  ...over,
});
const verdict = (over: Partial<UsageVerdict>): UsageVerdict => ({
  usedMs: 0,
  limitMs: 10_000,
  breach: 'warn',
  warnAt: 0.8,
  window: 'course',
  windowStart: null,
  limitIndex: 0,
  ...over,
});

describe('what lab time counts as (workflows/usage.ts)', () => {
  it('cuts an interval at UTC midnight and counts it by the state it was spent in', () => {
    const from = at('2026-12-04T23:00:00Z');
    const to = at('2026-12-05T01:30:00Z');
    expect(usageOfInterval('ready', from, to, 'learner')).toEqual([
      { day: '2026-12-04', runningMs: 3_600_000, suspendedMs: 0, chargedMs: 3_600_000 },
      { day: '2026-12-05', runningMs: 5_400_000, suspendedMs: 0, chargedMs: 5_400_000 },
    ]);
    expect(usageOfInterval('suspended', from, to, 'learner')).toEqual([
      { day: '2026-12-04', runningMs: 0, suspendedMs: 3_600_000, chargedMs: 0 },
      { day: '2026-12-05', runningMs: 0, suspendedMs: 5_400_000, chargedMs: 0 },
    ]);
    // Staff's running time is recorded, not charged; states without a stack cost nothing.
    expect(usageOfInterval('resuming', from, from + 1_000, 'staff')).toEqual([
      { day: '2026-12-04', runningMs: 1_000, suspendedMs: 0, chargedMs: 0 },
    ]);
    for (const state of ['queued', 'failed', 'deleted'] as const)
      expect(usageOfInterval(state, from, to, 'learner')).toEqual([]);
    expect(usageOfInterval('ready', to, from, 'learner')).toEqual([]);
  });

  it('reads a trail: each event closes the interval the one before it opened; the last stays open', () => {
    const t0 = at('2026-12-05T10:00:00Z');
    const days = usageOfTrail([
      { at: t0, to: 'queued' },
      { at: t0 + 1_000, to: 'launching' },
      { at: t0 + 6_000, to: 'ready' },
      { at: t0 + 66_000, to: 'suspending' },
      { at: t0 + 70_000, to: 'suspended' },
      { at: t0 + 170_000, to: 'resuming', charge: 'staff' },
      { at: t0 + 172_000, to: 'ready' },
    ]);
    expect(days).toEqual([
      { day: '2026-12-05', runningMs: 71_000, suspendedMs: 100_000, chargedMs: 69_000 },
    ]);
  });

  it('knows when a running lab reaches a limit and its warning', () => {
    const now = at('2026-12-05T10:00:00Z');
    expect(usageDeadlines(verdict({ usedMs: 2_000, limitMs: 10_000, warnAt: 0.5 }), now)).toEqual({
      warnAt: now + 3_000,
      reachedAt: now + 8_000,
    });
  });

  it('writes spans for people', () => {
    expect(formatSpan(0)).toBe('0s');
    expect(formatSpan(3_999)).toBe('3s');
    expect(formatSpan(72_004_000)).toBe('20h 4s');
    expect(formatSpan(90_061_000)).toBe('1d 1h 1m 1s');
  });
});

describe('which limits apply and which one a lab shows (src/usage/verdict.ts)', () => {
  it('matches limits by course and lab', () => {
    const limits = [
      limit({ courses: ['c1'] }),
      limit({ labs: ['demo'] }),
      limit({ courses: ['c2'], labs: ['demo'] }),
    ];
    const indexes = (courseId: string, lab: string) =>
      limitsFor({ usageLimits: limits }, { courseId, lab }).map((l) => l.index);
    expect(indexes('c1', 'demo')).toEqual([0, 1]);
    expect(indexes('c1', 'shell')).toEqual([0]);
    expect(indexes('c2', 'demo')).toEqual([1, 2]);
    expect(indexes('c3', 'shell')).toEqual([]);
  });

  it('never counts twice an interval the ledger counted before the projection moved on', async () => {
    // recordTransition writes the ledger, then the projection: a reader in between sees the
    // ledger count up to t0 + 5 s while the projection still says "ready since t0".
    const t0 = at('2026-12-05T10:00:00Z');
    const store = {
      charged: () => Promise.resolve({ chargedMs: 5_000, countedTo: t0 + 5_000 }),
      grantedMs: () => Promise.resolve(0),
    } as unknown as UsageStore;
    const subject = { courseId: 'c1', learnerId: 'l1', lab: 'demo' };
    const open = { since: t0, state: 'ready' as const, charge: 'learner' as const };
    const [v] = await usageVerdicts(store, { usageLimits: [limit({})] }, subject, t0 + 6_000, open);
    expect(v!.usedMs).toBe(6_000);
  });

  it('counts an N-day window from N-1 days before today, UTC', () => {
    expect(windowStartOf('30d', at('2026-12-05T23:59:00Z'))).toBe('2026-11-06');
    expect(windowStartOf('1d', at('2026-12-05T00:00:00Z'))).toBe('2026-12-05');
    expect(windowStartOf('course', at('2026-12-05T00:00:00Z'))).toBeNull();
  });

  it('shows a used-up limit first, the most severe, else the one with the least time left', () => {
    const roomy = verdict({ usedMs: 1_000, limitMs: 100_000, limitIndex: 0 });
    const tight = verdict({ usedMs: 9_000, limitMs: 10_000, limitIndex: 1, breach: 'suspend' });
    const usedUpWarn = verdict({ usedMs: 20_000, limitMs: 10_000, limitIndex: 2 });
    const usedUpBlock = verdict({
      usedMs: 500_000,
      limitMs: 400_000,
      limitIndex: 3,
      breach: 'block',
    });
    expect(shownVerdict([])).toBeNull();
    expect(shownVerdict([roomy, tight])).toBe(tight);
    expect(shownVerdict([roomy, usedUpWarn, tight])).toBe(usedUpWarn);
    expect(shownVerdict([usedUpWarn, usedUpBlock, roomy])).toBe(usedUpBlock);
  });
});
