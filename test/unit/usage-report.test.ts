import { parse } from 'csv-parse/sync';
import type { LabUsageRow } from '../../src/store/labs';
import type { LedgerLine } from '../../src/store/usage';
import {
  csvField,
  reportCsv,
  usageReport,
  type GroupBy,
  type UsageReportInput,
  type UsageReportRow,
} from '../../src/usage/report';
import type { LabState } from '../../workflows/state';

const H = 3_600_000;
const COURSE = 'course-v1:Org+Usage+2026';
const BOB = 'bob,"the builder"';
const at = (iso: string) => new Date(iso);

type Line = Omit<LedgerLine, '_id' | 'seq'>;
const line = (
  labId: string,
  lab: string,
  learnerId: string,
  day: string,
  hours: { running?: number; suspended?: number; charged?: number },
): Line => ({
  labId,
  courseId: COURSE,
  learnerId,
  lab,
  day,
  runningMs: (hours.running ?? 0) * H,
  suspendedMs: (hours.suspended ?? 0) * H,
  chargedMs: (hours.charged ?? 0) * H,
});

const open = (
  labId: string,
  lab: string,
  learnerId: string,
  state: LabState,
  since: { lastEventAt?: Date; updatedAt?: Date; charge?: 'learner' | 'staff' },
): LabUsageRow => ({
  _id: labId,
  courseId: COURSE,
  learnerId,
  lab,
  state,
  updatedAt: since.updatedAt ?? since.lastEventAt ?? at('2000-01-01T00:00:00Z'),
  ...(since.lastEventAt ? { lastEventAt: since.lastEventAt } : {}),
  ...(since.charge ? { charge: since.charge } : {}),
});

/**
 * The script: three days (2026-03-01..03), as of 03-03 12:00. demo costs 0.5 USD/h running and
 * 0.05 suspended, shell 1 EUR/h and 0.1, nocost has no cost. Every expected figure below is
 * computed by hand from these lines.
 */
const INPUT: Omit<UsageReportInput, 'groupBy'> = {
  from: '2026-03-01',
  to: '2026-03-03',
  asOf: Date.parse('2026-03-03T12:00:00Z'),
  labs: {
    demo: { cost: { runningPerHour: 0.5, suspendedPerHour: 0.05, currency: 'USD' } },
    shell: { cost: { runningPerHour: 1, suspendedPerHour: 0.1, currency: 'EUR' } },
    nocost: {},
  },
  lines: [
    line('lab_a', 'demo', 'alice', '2026-03-01', { running: 2, suspended: 10, charged: 1.5 }),
    line('lab_a', 'demo', 'alice', '2026-03-02', { running: 1, charged: 1 }),
    line('lab_a', 'demo', 'alice', '2026-02-28', { running: 100, charged: 100 }), // before `from`
    line('lab_b', 'demo', BOB, '2026-03-01', { running: 3, suspended: 1, charged: 3 }),
    line('lab_c', 'nocost', BOB, '2026-03-02', { running: 0.5, charged: 0.5 }),
    line('lab_f', 'shell', 'alice', '2026-03-03', { running: 1, suspended: 2, charged: 1 }),
  ],
  open: [
    // Running since 03-02 22:00: 2 h on 03-02, 12 h on 03-03, charged.
    open('lab_b', 'demo', BOB, 'ready', { lastEventAt: at('2026-03-02T22:00:00Z') }),
    // Suspended since 02-27 (no lastEventAt: a lab from before the ledger): 24 + 24 + 12 h in range.
    open('lab_d', 'demo', 'carol', 'suspended', { updatedAt: at('2026-02-27T00:00:00Z') }),
    // A staff retry since 10:00, the learner not back: 2 h running, none charged.
    open('lab_e', 'demo', 'carol', 'ready', {
      lastEventAt: at('2026-03-03T10:00:00Z'),
      charge: 'staff',
    }),
    // Deleted: its open interval costs nothing.
    open('lab_a', 'demo', 'alice', 'deleted', { lastEventAt: at('2026-03-02T23:00:00Z') }),
  ],
  active: [
    { labId: 'lab_a', day: '2026-03-01', activeMs: 1 * H },
    { labId: 'lab_a', day: '2026-02-28', activeMs: 9 * H }, // before `from`
    { labId: 'lab_b', day: '2026-03-03', activeMs: 0.5 * H },
    { labId: 'lab_unknown', day: '2026-03-01', activeMs: 5 * H }, // no owner known: left out
  ],
};

const report = (groupBy: GroupBy, overrides: Partial<UsageReportInput> = {}) =>
  usageReport({ ...INPUT, groupBy, ...overrides });

type Figures = Omit<UsageReportRow, 'key' | 'cost' | 'note'>;
const figures = (
  runningHours: number,
  suspendedHours: number,
  chargedHours: number,
  staffHours: number,
  activeHours: number,
  labs: number,
  learners: number,
): Figures => ({
  runningHours,
  suspendedHours,
  chargedHours,
  staffHours,
  activeHours,
  labs,
  learners,
});
const usd = (estimated: number, alwaysOn: number, saving: number) => ({
  currency: 'USD',
  estimated,
  alwaysOn,
  saving,
});

const MIXED = 'labs priced in different currencies (EUR, USD)';
const PARTIAL = 'estimate leaves out labs with no cost in the catalog for nocost';

describe('usageReport', () => {
  it('by lab: sums per lab name, costs at its rates, open intervals up to asOf', () => {
    const r = report('lab');
    expect(r).toMatchObject({
      from: '2026-03-01',
      to: '2026-03-03',
      groupBy: 'lab',
      asOf: '2026-03-03T12:00:00.000Z',
    });
    expect(r.rows).toEqual([
      {
        key: 'demo',
        // running 2+1+3 (ledger) + 14 (lab_b open) + 2 (lab_e staff); suspended 10+1 + 60 (lab_d)
        ...figures(22, 71, 19.5, 2.5, 1.5, 4, 3),
        cost: usd(14.55, 46.5, 31.95), // 22 x 0.5 + 71 x 0.05; 93 x 0.5
        note: null,
      },
      { key: 'nocost', ...figures(0.5, 0, 0.5, 0, 0, 1, 1), cost: null, note: null },
      {
        key: 'shell',
        ...figures(1, 2, 1, 0, 0, 1, 1),
        cost: { currency: 'EUR', estimated: 1.2, alwaysOn: 3, saving: 1.8 },
        note: null,
      },
    ]);
    expect(r.total).toEqual({
      key: 'total',
      ...figures(23.5, 73, 21, 2.5, 1.5, 6, 3),
      cost: null,
      note: `${MIXED}; no cost in the catalog for nocost`,
    });
  });

  it('by learner: a row mixing currencies has no cost; one with an unpriced lab a partial one', () => {
    expect(report('learner').rows).toEqual([
      { key: 'alice', ...figures(4, 12, 3.5, 0.5, 1, 2, 1), cost: null, note: MIXED },
      {
        key: BOB,
        ...figures(17.5, 1, 17.5, 0, 0.5, 2, 1),
        cost: usd(8.55, 9, 0.45), // demo only: 17 x 0.5 + 1 x 0.05; 18 x 0.5
        note: PARTIAL,
      },
      {
        key: 'carol',
        ...figures(2, 60, 0, 2, 0, 2, 1),
        cost: usd(4, 31, 27),
        note: null,
      },
    ]);
  });

  it('by day: open intervals are cut at midnight and clipped to the range', () => {
    const r = report('day');
    expect(r.rows).toEqual([
      {
        key: '2026-03-01',
        ...figures(5, 35, 4.5, 0.5, 1, 3, 3),
        cost: usd(4.25, 20, 15.75),
        note: null,
      },
      {
        key: '2026-03-02',
        ...figures(3.5, 24, 3.5, 0, 0, 4, 3),
        cost: usd(2.7, 13.5, 10.8),
        note: PARTIAL,
      },
      { key: '2026-03-03', ...figures(15, 14, 13, 2, 0.5, 4, 3), cost: null, note: MIXED },
    ]);
    // The totals do not depend on the grouping.
    expect(r.total).toEqual(report('lab').total);

    // A range that ends before asOf: the open intervals count up to its last day only.
    const short = report('day', { to: '2026-03-02' });
    expect(short.rows.map((row) => row.key)).toEqual(['2026-03-01', '2026-03-02']);
    expect(short.total).toMatchObject(figures(8.5, 59, 8, 0.5, 1, 4, 3));
  });

  it('counts nothing open before its interval starts, or for a state that costs nothing', () => {
    const r = usageReport({
      ...INPUT,
      groupBy: 'lab',
      lines: [],
      active: [],
      open: [
        open('lab_x', 'demo', 'dave', 'ready', { lastEventAt: at('2026-03-04T00:00:00Z') }),
        open('lab_y', 'demo', 'dave', 'failed', { lastEventAt: at('2026-03-01T00:00:00Z') }),
        open('lab_z', 'demo', 'dave', 'queued', { lastEventAt: at('2026-03-01T00:00:00Z') }),
      ],
    });
    expect(r.rows).toEqual([]);
    expect(r.total).toEqual({
      key: 'total',
      ...figures(0, 0, 0, 0, 0, 0, 0),
      cost: null,
      note: null,
    });
  });

  it('rounds hours to 4 decimals once, from exact ms sums', () => {
    const second = (day: string) => ({
      ...line('lab_s', 'demo', 'erin', day, {}),
      runningMs: 1000,
    });
    const r = usageReport({
      ...INPUT,
      groupBy: 'learner',
      open: [],
      active: [],
      lines: [second('2026-03-01'), second('2026-03-02'), second('2026-03-03')],
    });
    // 3 s = 0.000833 h -> 0.0008 (three rounded seconds would add up to 0.0009).
    expect(r.rows[0]!.runningHours).toBe(0.0008);
    expect(r.rows[0]!.staffHours).toBe(0.0008);
  });
});

describe('reportCsv', () => {
  it('quotes what needs it, and parses back to the report', () => {
    const r = report('learner');
    const csv = reportCsv(r);
    expect(csv.endsWith('\r\n')).toBe(true);
    expect(csv).toContain('"bob,""the builder"""');
    const records = parse(csv, { columns: true }) as Array<Record<string, string>>;
    expect(Object.keys(records[0]!)).toEqual([
      'learner',
      'runningHours',
      'suspendedHours',
      'chargedHours',
      'staffHours',
      'activeHours',
      'labs',
      'learners',
      'currency',
      'estimatedCost',
      'alwaysOnCost',
      'saving',
      'note',
    ]);
    expect(records.map((rec) => rec.learner)).toEqual(['alice', BOB, 'carol', 'total']);
    expect(records[1]).toEqual({
      learner: BOB,
      runningHours: '17.5',
      suspendedHours: '1',
      chargedHours: '17.5',
      staffHours: '0',
      activeHours: '0.5',
      labs: '2',
      learners: '1',
      currency: 'USD',
      estimatedCost: '8.55',
      alwaysOnCost: '9',
      saving: '0.45',
      note: PARTIAL,
    });
    // No cost: empty cost cells; a note with a comma and parentheses survives.
    expect(records[0]).toMatchObject({ currency: '', estimatedCost: '', note: MIXED });
    expect(records[3]).toMatchObject({ runningHours: '23.5', labs: '6', learners: '3' });
  });

  it('writes only the header and the totals for an empty report', () => {
    const r = usageReport({ ...INPUT, groupBy: 'day', lines: [], open: [], active: [] });
    expect(reportCsv(r)).toBe(
      'day,runningHours,suspendedHours,chargedHours,staffHours,activeHours,labs,learners,currency,estimatedCost,alwaysOnCost,saving,note\r\n' +
        'total,0,0,0,0,0,0,0,,,,,\r\n',
    );
  });

  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\r', '"cr\r"'],
    [1.25, '1.25'],
  ])('field %j -> %j', (value, expected) => {
    expect(csvField(value)).toBe(expected);
  });
});
