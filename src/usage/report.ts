/**
 * The usage report (GET /v1/reports/usage, `labctl report`): the ledger of a range of days, plus
 * the intervals still open as of now, summed by lab, learner or day, with what the stacks cost.
 * Pure: the route reads the store, this decides what the figures are, and renders the CSV too,
 * so the JSON, the CSV and labctl's table cannot disagree.
 */
import type { LabConfig } from '../config/types';
import type { LabUsageRow } from '../store/labs';
import type { ActiveLine, LedgerLine } from '../store/usage';
import { openSince, usageOfInterval, type DayUsage } from '../../workflows/usage';

export const GROUP_BYS = ['lab', 'learner', 'day'] as const;
export type GroupBy = (typeof GROUP_BYS)[number];

export interface UsageReportInput {
  lines: ReadonlyArray<Omit<LedgerLine, '_id' | 'seq'>>;
  /** Labs with their open interval (LabsStore.usageRowsOf): not in the ledger yet. */
  open: readonly LabUsageRow[];
  active: ReadonlyArray<Pick<ActiveLine, 'labId' | 'day' | 'activeMs'>>;
  /** The catalog, for the labs' cost. */
  labs: Readonly<Record<string, Pick<LabConfig, 'cost'>>>;
  /** Inclusive, YYYY-MM-DD (UTC). */
  from: string;
  to: string;
  /** Epoch ms the open intervals are counted up to. */
  asOf: number;
  groupBy: GroupBy;
}

export interface UsageCost {
  currency: string;
  /** What the stacks cost: running at runningPerHour, suspended at suspendedPerHour. */
  estimated: number;
  /** What the same stacks would have cost never suspended (all their time at runningPerHour). */
  alwaysOn: number;
  /** alwaysOn - estimated: what suspending saved. */
  saving: number;
}

export interface UsageReportRow {
  /** The lab's name, the learner's id or the day (YYYY-MM-DD); "total" on the totals row. */
  key: string;
  runningHours: number;
  suspendedHours: number;
  /** Running time charged to learners (what usage limits count). */
  chargedHours: number;
  /** Running time staff started (a support retry) that the learner has not been back to. */
  staffHours: number;
  /** Time a learner was active in the lab (heartbeats). */
  activeHours: number;
  /** Distinct labs (lab ids). */
  labs: number;
  /** Distinct learners. */
  learners: number;
  /** null: none of the row's labs has a cost in the catalog, or they cost in different currencies. */
  cost: UsageCost | null;
  /** Why the cost is missing or partial; null when there is nothing to say. */
  note: string | null;
}

export interface UsageReport {
  from: string;
  to: string;
  groupBy: GroupBy;
  /** ISO 8601: open intervals are counted up to this instant. */
  asOf: string;
  /** Ordered by key (days chronologically). */
  rows: UsageReportRow[];
  total: UsageReportRow;
}

/** Whose time a contribution is: what the grouping and the distinct counts need. */
interface Owner {
  labId: string;
  lab: string;
  learnerId: string;
}

/** Exact sums, in whole ms: rounding happens once, when a row is presented. */
interface Sums {
  runningMs: number;
  suspendedMs: number;
  chargedMs: number;
  activeMs: number;
}

const ZERO: Sums = { runningMs: 0, suspendedMs: 0, chargedMs: 0, activeMs: 0 };

/** One row in the making: sums per lab name (costs are per lab of the catalog). */
class Bucket {
  readonly byLab = new Map<string, Sums>();
  readonly labIds = new Set<string>();
  readonly learners = new Set<string>();

  add(owner: Owner, sums: Partial<Sums>): void {
    const known = this.byLab.get(owner.lab) ?? ZERO;
    this.byLab.set(owner.lab, {
      runningMs: known.runningMs + (sums.runningMs ?? 0),
      suspendedMs: known.suspendedMs + (sums.suspendedMs ?? 0),
      chargedMs: known.chargedMs + (sums.chargedMs ?? 0),
      activeMs: known.activeMs + (sums.activeMs ?? 0),
    });
    this.labIds.add(owner.labId);
    this.learners.add(owner.learnerId);
  }

  sums(): Sums {
    let total = ZERO;
    for (const s of this.byLab.values())
      total = {
        runningMs: total.runningMs + s.runningMs,
        suspendedMs: total.suspendedMs + s.suspendedMs,
        chargedMs: total.chargedMs + s.chargedMs,
        activeMs: total.activeMs + s.activeMs,
      };
    return total;
  }
}

const HOUR_MS = 3_600_000;
/** Hours to 4 decimals, from exact ms (ms / 360 is hours x 10^4). */
const hoursOf = (ms: number): number => Math.round(ms / 360) / 10_000;
const round4 = (n: number): number => Math.round(n * 10_000) / 10_000;

export function usageReport(input: UsageReportInput): UsageReport {
  const { from, to, groupBy } = input;
  const inRange = (day: string) => day >= from && day <= to;
  const keyOf = (owner: Owner, day: string): string =>
    groupBy === 'lab' ? owner.lab : groupBy === 'learner' ? owner.learnerId : day;

  const buckets = new Map<string, Bucket>();
  const total = new Bucket();
  const add = (owner: Owner, day: string, sums: Partial<Sums>) => {
    if (!inRange(day)) return;
    const key = keyOf(owner, day);
    let bucket = buckets.get(key);
    if (!bucket) buckets.set(key, (bucket = new Bucket()));
    bucket.add(owner, sums);
    total.add(owner, sums);
  };

  // Active lines carry only a lab id: their owner comes from the ledger or the labs.
  const owners = new Map<string, Owner>();
  const countedTo = new Map<string, number>();
  for (const line of input.lines) {
    owners.set(line.labId, line);
    add(line, line.day, line);
    if (line.countedTo)
      countedTo.set(line.labId, Math.max(countedTo.get(line.labId) ?? 0, line.countedTo.getTime()));
  }
  for (const row of input.open) {
    const owner = { labId: row._id, lab: row.lab, learnerId: row.learnerId };
    owners.set(row._id, owner);
    for (const d of openUsage(row, input.asOf, countedTo.get(row._id))) add(owner, d.day, d);
  }
  for (const line of input.active) {
    const owner = owners.get(line.labId);
    if (owner) add(owner, line.day, { activeMs: line.activeMs });
  }

  const rows = [...buckets.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, bucket]) => rowOf(key, bucket, input.labs));
  return {
    from,
    to,
    groupBy,
    asOf: new Date(input.asOf).toISOString(),
    rows,
    total: rowOf('total', total, input.labs),
  };
}

/** A lab's interval still open at `asOf`, in its state, from `openSince` its last event (or write). */
function openUsage(row: LabUsageRow, asOf: number, countedTo: number | undefined): DayUsage[] {
  const since = openSince((row.lastEventAt ?? row.updatedAt).getTime(), countedTo);
  return usageOfInterval(row.state, since, asOf, row.charge ?? 'learner');
}

function rowOf(key: string, bucket: Bucket, catalog: UsageReportInput['labs']): UsageReportRow {
  const s = bucket.sums();
  return {
    key,
    runningHours: hoursOf(s.runningMs),
    suspendedHours: hoursOf(s.suspendedMs),
    chargedHours: hoursOf(s.chargedMs),
    staffHours: hoursOf(s.runningMs - s.chargedMs),
    activeHours: hoursOf(s.activeMs),
    labs: bucket.labIds.size,
    learners: bucket.learners.size,
    ...costOf(bucket.byLab, catalog),
  };
}

/**
 * The cost of a row's time, lab by lab at the catalog's rates. Labs without a cost are left out
 * of the estimate and named in the note (the figure is then a lower bound); labs priced in
 * different currencies cannot be added up, so the row has no cost, and the note says why.
 */
function costOf(
  byLab: ReadonlyMap<string, Sums>,
  catalog: UsageReportInput['labs'],
): Pick<UsageReportRow, 'cost' | 'note'> {
  const unpriced: string[] = [];
  const currencies = new Set<string>();
  let estimated = 0;
  let alwaysOn = 0;
  for (const [lab, s] of byLab) {
    const rate = catalog[lab]?.cost;
    if (!rate) {
      unpriced.push(lab);
      continue;
    }
    currencies.add(rate.currency);
    estimated +=
      (s.runningMs * rate.runningPerHour + s.suspendedMs * rate.suspendedPerHour) / HOUR_MS;
    alwaysOn += ((s.runningMs + s.suspendedMs) * rate.runningPerHour) / HOUR_MS;
  }
  const leftOut =
    unpriced.length > 0 ? `no cost in the catalog for ${unpriced.sort().join(', ')}` : null;
  if (currencies.size > 1)
    return {
      cost: null,
      note: [`labs priced in different currencies (${[...currencies].sort().join(', ')})`, leftOut]
        .filter((n) => n !== null)
        .join('; '),
    };
  const [currency] = currencies;
  if (currency === undefined) return { cost: null, note: null };
  // Saving from the rounded figures, so the three shown always add up.
  const shown = { estimated: round4(estimated), alwaysOn: round4(alwaysOn) };
  return {
    cost: { currency, ...shown, saving: round4(shown.alwaysOn - shown.estimated) },
    note: leftOut && `estimate leaves out labs with ${leftOut}`,
  };
}

/** The CSV columns, in order (the first is named after the grouping). */
const CSV_COLUMNS = [
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
] as const;

/**
 * The report as CSV (RFC 4180): a header line, one line per row, then the totals line (key
 * "total"), CRLF-terminated. Keys and notes are quoted when they need it: course and learner
 * ids may hold commas and quotes.
 */
export function reportCsv(report: UsageReport): string {
  const line = (cells: Array<string | number>) => `${cells.map(csvField).join(',')}\r\n`;
  const cellsOf = (row: UsageReportRow): Array<string | number> => [
    row.key,
    row.runningHours,
    row.suspendedHours,
    row.chargedHours,
    row.staffHours,
    row.activeHours,
    row.labs,
    row.learners,
    row.cost?.currency ?? '',
    row.cost?.estimated ?? '',
    row.cost?.alwaysOn ?? '',
    row.cost?.saving ?? '',
    row.note ?? '',
  ];
  return [
    line([report.groupBy, ...CSV_COLUMNS]),
    ...report.rows.map((row) => line(cellsOf(row))),
    line(cellsOf(report.total)),
  ].join('');
}

/** One field: quoted (quotes doubled) when it holds a comma, a quote or a line break. */
export function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
