import * as os from 'node:os';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { DuckDbQueryEngine } from '../../tasks/adapters/local/duckdb-query-engine';
import { createLakeViews } from '../../tasks/adapters/local/lake-views';
import type { QueryResult } from '../../tasks/ports/query-engine';
import { createLocalPorts } from '../../tasks/runtime/local-ports';
import { action, addLakeOption, existingLake } from '../command-helpers';
import { renderTable } from '../render';

const FORMATS = ['table', 'csv', 'json'] as const;
type Format = (typeof FORMATS)[number];

export function registerQuery(program: Command): void {
  addLakeOption(
    program
      .command('query')
      .description(
        'run one read-only SQL query (DuckDB) over the current catalog snapshot; views: events (curated), rejects (with reason and source), raw_events (the raw records)',
      )
      .argument('<sql>', 'the query, for example "select event_name, count(*) from events group by all"')
      .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('table')),
  ).action(
    action('query', async (sql: string, options: { lake: string; format: Format }) => {
      const lake = await existingLake(options.lake);
      process.stdout.write(render(await queryLake(lake, sql), options.format));
    }),
  );
}

/**
 * Runs `sql` over the lake's current snapshot without being able to change the lake: the views are
 * created first, then DuckDB is confined to exactly the files they read (nothing else on any
 * filesystem is reachable, and the setting is locked), and the query must be a single statement
 * that reads, so that not even those files can be written (`COPY ... TO` one of them is refused).
 */
async function queryLake(lake: string, sql: string): Promise<QueryResult> {
  const { store, catalog } = createLocalPorts(lake);
  const snapshot = await catalog.snapshot();
  // Spills of large sorts and joins go to the system's temporary directory, never into the lake or the working directory.
  const engine = await DuckDbQueryEngine.open({ tempDirectory: path.join(os.tmpdir(), `lakehouse-query-${process.pid}`) });
  try {
    const views = await createLakeViews(engine, snapshot, store);
    await engine.confineTo(views.files);
    return await engine.queryReadOnly(sql);
  } finally {
    await engine.close();
  }
}

function render(result: QueryResult, format: Format): string {
  switch (format) {
    case 'table':
      return renderAsTable(result);
    case 'csv':
      return renderAsCsv(result);
    case 'json':
      return renderAsJson(result);
  }
}

function renderAsTable({ columns, rows }: QueryResult): string {
  const cell = (value: unknown) => (value === null ? 'NULL' : textOf(value).replace(/\r?\n/g, '\\n'));
  const count = `(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`;
  return `${renderTable(
    columns.map(({ name }) => name),
    rows.map((row) => row.map(cell)),
  )}\n${count}\n`;
}

/** RFC 4180: CRLF line ends, a header row, fields quoted when they hold a quote, comma or line break. NULL is an empty field. */
function renderAsCsv({ columns, rows }: QueryResult): string {
  const field = (text: string) => (/[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
  const line = (cells: readonly unknown[]) => `${cells.map((value) => (value === null ? '' : field(textOf(value)))).join(',')}\r\n`;
  return line(columns.map(({ name }) => name)) + rows.map(line).join('');
}

/** One JSON array of row objects, one row per line; a repeated column name gets a suffix (`a`, `a_1`). */
function renderAsJson({ columns, rows }: QueryResult): string {
  const names = uniqueNames(columns.map(({ name }) => name));
  const objects = rows.map((row) => JSON.stringify(Object.fromEntries(names.map((name, index) => [name, row[index]])), nonFiniteAsText));
  return objects.length === 0 ? '[]\n' : `[\n${objects.join(',\n')}\n]\n`;
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value, nonFiniteAsText);
  return String(value);
}

/** JSON has no NaN or Infinity; they are written as strings rather than silently becoming null. */
function nonFiniteAsText(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

function uniqueNames(names: readonly string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    let unique = name;
    for (let suffix = 1; used.has(unique); suffix++) unique = `${name}_${suffix}`;
    used.add(unique);
    return unique;
  });
}
