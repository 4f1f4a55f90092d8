/** One line of the bench table: a figure, its target, the same-run baseline and the verdict. */
export interface Row {
  bench: string;
  figure: string;
  /** The measured value, formatted with its unit; "not measured" when the bench did not run. */
  value: string;
  target: string;
  baseline: string;
  ratio: string;
  verdict: 'PASS' | 'FAIL' | 'n/a';
  notes?: string;
}

export function row(
  bench: string,
  figure: string,
  value: string,
  target: string,
  pass: boolean | undefined,
  extra: { baseline?: string; ratio?: string; notes?: string } = {},
): Row {
  return {
    bench,
    figure,
    value,
    target,
    baseline: extra.baseline ?? '-',
    ratio: extra.ratio ?? '-',
    verdict: pass === undefined ? 'n/a' : pass ? 'PASS' : 'FAIL',
    notes: extra.notes,
  };
}

export function notMeasured(bench: string, figure: string, target: string, why: string): Row {
  return row(bench, figure, 'not measured', target, undefined, { notes: why });
}

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toFixed(digits);
}

export function printTable(rows: Row[]): string {
  const header = ['bench', 'figure', 'value', 'target', 'baseline', 'ratio', 'verdict'];
  const cells = rows.map((r) => [
    r.bench,
    r.figure,
    r.value,
    r.target,
    r.baseline,
    r.ratio,
    r.verdict,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`];
  for (const c of cells) out.push(line(c));
  const notes = rows.filter((r) => r.notes);
  if (notes.length) {
    out.push('', 'notes:');
    for (const r of notes) out.push(`- ${r.bench} / ${r.figure}: ${r.notes}`);
  }
  return out.join('\n');
}
