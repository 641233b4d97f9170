/** Plain-text rendering shared by the commands: aligned tables and human durations. */

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}

/** A table with a header row, columns padded to their widest cell. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** One visit of a state, as an execution's table shows it. */
export interface StateRow {
  /** The state's name, with its Map iteration where it ran in one. */
  readonly label: string;
  readonly type: string;
  readonly status: string;
  /** ISO 8601. */
  readonly enteredAt: string;
  readonly durationMs?: number;
  readonly retries: number;
  readonly error?: string;
}

/** The per-state table of an execution, local or on Step Functions. */
export function renderStateTable(states: readonly StateRow[]): string {
  const rows = states.map((state) => [
    state.label,
    state.type,
    state.status,
    state.enteredAt.slice(11, 23),
    formatDuration(state.durationMs),
    String(state.retries),
    (state.error ?? '').slice(0, 120),
  ]);
  return renderTable(['STATE', 'TYPE', 'STATUS', 'ENTERED', 'DURATION', 'RETRIES', 'ERROR'], rows);
}
