import { formatDuration } from '../../config';
import type {
  CheckRunView,
  DeliveryView,
  Lab,
  LabEventView,
  ProviderView,
  UsageGrantView,
  UsageRebuildView,
  UsageReportView,
} from './api-client';
import type { UsageReportRow } from '../../usage/report';

/**
 * A plain text table: columns padded to their widest cell, no colours (scripts grep it).
 * `align`: per column; figures read better right-aligned.
 */
export function table(
  headers: string[],
  rows: string[][],
  align: ReadonlyArray<'left' | 'right'> = [],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) =>
        align[i] === 'right'
          ? c.padStart(widths[i] ?? 0)
          : i === cells.length - 1
            ? c
            : c.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Timestamps to the second, in UTC: what a support person compares with Temporal UI. */
export const when = (iso: string | null): string =>
  iso === null ? '-' : iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

const progressOf = (lab: Lab): string =>
  lab.progress ? ` ${lab.progress.done}/${lab.progress.total}` : '';

export function labsTable(labs: Lab[]): string {
  return table(
    ['ID', 'STATE', 'COURSE', 'LEARNER', 'LAB', 'PROVIDER', 'UPDATED', 'ERROR'],
    labs.map((lab) => [
      lab.id,
      lab.state + progressOf(lab),
      lab.courseId,
      lab.learnerId,
      lab.lab,
      lab.provider ?? '-',
      when(lab.updatedAt),
      lab.error ? `${lab.error.code}: ${lab.error.message}` : '',
    ]),
  );
}

export function workflowUrl(temporalUi: string, namespace: string, labId: string): string {
  return `${temporalUi.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${labId}`;
}

export function labDetails(lab: Lab, events: LabEventView[], uiLink: string): string {
  const rows: Array<[string, string]> = [
    ['id', lab.id],
    ['state', lab.state + progressOf(lab)],
    ['course', lab.courseId],
    ['learner', lab.learnerId],
    ['lab', lab.lab],
    ['provider', lab.provider ?? '-'],
    [
      'stack',
      lab.stack
        ? `${lab.stack.name} (${lab.stack.status})${lab.stack.statusReason ? `: ${lab.stack.statusReason}` : ''}`
        : '-',
    ],
    ['error', lab.error ? `${lab.error.code}: ${lab.error.message}` : '-'],
    ['status', lab.statusReason ?? '-'],
    ['outputs', Object.keys(lab.outputs).length > 0 ? JSON.stringify(lab.outputs) : '-'],
    ['created', when(lab.createdAt)],
    ['updated', when(lab.updatedAt)],
    ['last activity', when(lab.lastActivityAt)],
    ['suspend at', when(lab.suspendAt)],
    ['delete at', when(lab.deleteAt)],
    ['temporal ui', uiLink],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const head = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
  const trail =
    events.length === 0
      ? '(no events recorded yet)'
      : table(
          ['AT', 'FROM', 'TO', 'GEN', 'PROVIDER', 'REASON'],
          events.map((e) => [
            when(e.at),
            e.from ?? '-',
            e.to,
            String(e.generation),
            e.provider ?? '-',
            e.reason + (e.error ? ` [${e.error.code}: ${e.error.message}]` : ''),
          ]),
        );
  return `${head}\n\nrecent events (newest first)\n${trail}`;
}

const capacityText = (capacity: number): string =>
  capacity === -1 ? 'unlimited' : capacity === 0 ? 'disabled' : String(capacity);

export function providersTable(providers: ProviderView[]): string {
  return table(
    ['PROVIDER', 'REGION', 'CAPACITY', 'USED', 'FREE', 'QUEUED'],
    providers.map((p) => [
      p.name,
      p.region,
      capacityText(p.capacity),
      String(p.used),
      p.capacity === -1 ? '-' : String(Math.max(0, p.capacity - p.used)),
      String(p.queued),
    ]),
  );
}

/** One progress line of --wait. */
export function progressLine(lab: Lab, elapsedMs: number): string {
  const seconds = Math.round(elapsedMs / 1000);
  const error =
    lab.state === 'failed' && lab.error ? ` (${lab.error.code}: ${lab.error.message})` : '';
  return `${lab.id}: ${lab.state}${progressOf(lab)}${lab.progress ? ' resources' : ''}${error} [${seconds}s]`;
}

const scoreOf = (run: CheckRunView): string => `${run.score.earned}/${run.score.possible}`;

/** A lab's check runs, newest first. */
export function checkRunsTable(runs: CheckRunView[]): string {
  return table(
    ['ID', 'STATE', 'SCORE', 'STARTED', 'FINISHED', 'FAILED'],
    runs.map((run) => [
      run.id,
      run.state,
      scoreOf(run),
      when(run.startedAt),
      when(run.finishedAt),
      run.error ??
        run.results
          .filter((r) => !r.passed)
          .map((r) => r.name)
          .join(', '),
    ]),
  );
}

/** One run: its score, then each check with its hint. */
export function checkRunDetails(run: CheckRunView): string {
  const lines = [`${run.id}  ${run.state}  score ${scoreOf(run)}  started ${when(run.startedAt)}`];
  if (run.error) lines.push(`  error: ${run.error}`);
  for (const r of run.results) {
    const mark = r.passed ? 'pass' : r.timedOut ? 'TIMEOUT' : 'FAIL';
    lines.push(`  ${mark.padEnd(7)} ${r.name}: ${r.title}`);
    if (r.hint) lines.push(...r.hint.split('\n').map((h) => `          ${h}`));
  }
  return lines.join('\n');
}

/** Webhook deliveries: what went out to which endpoint, and what is still due or gave up. */
export function deliveriesTable(deliveries: DeliveryView[]): string {
  return table(
    ['CREATED', 'ENDPOINT', 'EVENT', 'LAB', 'STATE', 'ATTEMPTS', 'LAST', 'NEXT ATTEMPT'],
    deliveries.map((d) => [
      d.createdAt,
      d.endpoint,
      d.type,
      d.labId,
      d.state,
      String(d.attempts),
      d.lastError ?? (d.lastStatus === null ? '-' : `HTTP ${d.lastStatus}`),
      d.nextAttemptAt ?? '-',
    ]),
  );
}

/** Hours to 2 decimals: the table is read, the JSON and CSV keep 4. */
const hoursText = (h: number): string => h.toFixed(2);
const moneyText = (amount: number, currency: string): string => `${amount.toFixed(2)} ${currency}`;

/** The usage report: a title line, one line per row, then the totals. */
export function usageReportTable(report: UsageReportView): string {
  const cells = (row: UsageReportRow): string[] => [
    row.key,
    hoursText(row.runningHours),
    hoursText(row.suspendedHours),
    hoursText(row.chargedHours),
    hoursText(row.staffHours),
    hoursText(row.activeHours),
    String(row.labs),
    String(row.learners),
    row.cost ? moneyText(row.cost.estimated, row.cost.currency) : '-',
    row.cost ? moneyText(row.cost.alwaysOn, row.cost.currency) : '-',
    row.cost ? moneyText(row.cost.saving, row.cost.currency) : '-',
    row.note ?? '',
  ];
  const title =
    `usage of ${report.courseId ?? 'every course'} from ${report.from} to ${report.to}, ` +
    `by ${report.groupBy}, as of ${when(report.asOf)} (hours)`;
  const body = table(
    [
      report.groupBy.toUpperCase(),
      'RUNNING',
      'SUSPENDED',
      'CHARGED',
      'STAFF',
      'ACTIVE',
      'LABS',
      'LEARNERS',
      'COST',
      'ALWAYS-ON',
      'SAVING',
      'NOTE',
    ],
    [...report.rows.map(cells), cells(report.total)],
    ['left', ...Array<'right'>(10).fill('right'), 'left'],
  );
  return `${title}\n${body}`;
}

export function usageGrantsTable(grants: UsageGrantView[]): string {
  return table(
    ['AT', 'COURSE', 'LEARNER', 'LAB', 'EXTRA', 'GRANTED BY', 'REASON'],
    grants.map((g) => [
      when(g.at),
      g.courseId,
      g.learnerId,
      g.lab ?? '(every lab)',
      formatDuration(g.extraSeconds * 1000),
      g.grantedBy,
      g.reason,
    ]),
  );
}

export const usageRebuildText = (r: UsageRebuildView): string =>
  `rebuilt the usage ledger of ${r.labs} lab(s): ${r.lines} line(s) written, ${r.skipped} lab(s) skipped`;
