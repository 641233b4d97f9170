/** Plain-text rendering for the benchmark's report. */

export type Align = 'left' | 'right';

/** A table with a header row, columns padded to their widest cell; numbers are right-aligned by default. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const alignOf = (column: number): Align => align?.[column] ?? (column === 0 ? 'left' : 'right');
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (alignOf(column) === 'left' ? cell.padEnd(widths[column] as number) : cell.padStart(widths[column] as number)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

export function count(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US');
}

export function seconds(ms: number | undefined): string {
  return ms === undefined || !Number.isFinite(ms) ? '-' : (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
}

export function mib(kib: number | undefined): string {
  return kib === undefined || !Number.isFinite(kib) ? '-' : (kib / 1024).toFixed(0);
}

export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '-';
}

export function percent(part: number, whole: number): string {
  return whole > 0 && Number.isFinite(part) ? `${((100 * part) / whole).toFixed(1)} %` : '-';
}
