import type { CatalogSnapshot, Column } from '../../ports/catalog';
import type { ObjectStore } from '../../ports/object-store';
import type { QueryEngine } from '../../ports/query-engine';
import { EVENT_COLUMNS, EVENTS_TABLE, REJECTS_TABLE } from '../../curated/layout';
import { RAW_EVENTS_TABLE } from '../../crawl/run';
import { AGGREGATE_QUERY_NAMES, AGGREGATES_PREFIX } from '../../aggregate/queries';
import { sqlIdentifier, sqlString } from '../../shared/sql-text';

/** How much of a rejected record the `rejects` view shows; the file keeps it whole. */
export const REJECT_RECORD_PREVIEW_CHARS = 500;

/**
 * Larger than any line these views read: raw records over 1 MiB are rejected, and a rejects line
 * keeps such a record whole (JSON-escaped, or as base64).
 */
const MAX_JSON_LINE_BYTES = 256 * 1024 * 1024;

interface ViewColumn {
  readonly name: string;
  readonly duckdb: string;
}

/** The columns of the `rejects` view, in order. */
export const REJECT_VIEW_COLUMNS: readonly ViewColumn[] = [
  { name: 'reason', duckdb: 'VARCHAR' },
  { name: 'source_key', duckdb: 'VARCHAR' },
  { name: 'record_number', duckdb: 'INTEGER' },
  { name: 'arrival_hour', duckdb: 'TIMESTAMP' },
  { name: 'record', duckdb: 'VARCHAR' },
];

/** What the views read. */
export interface LakeViews {
  /** Every file the views read, as the engine reaches it (`ObjectStore.locate`). */
  readonly files: readonly string[];
}

export interface LakeViewOptions {
  /** Also create one view per aggregate query that has unloaded files. @default true */
  readonly aggregates?: boolean;
}

/**
 * Creates the views `events`, `rejects` and `raw_events` over the files of `snapshot`, and only
 * those: a file that a commit has not named yet, or that a later commit replaced, is invisible,
 * which is what makes commits atomic for readers. A table without files gets an empty view with the
 * same columns, so that queries run on a new lake too. With `aggregates`, each aggregate query with
 * unloaded CSV files also gets a view of its name over them (see aggregateViews).
 */
export async function createLakeViews(engine: QueryEngine, snapshot: CatalogSnapshot, store: ObjectStore, options: LakeViewOptions = {}): Promise<LakeViews> {
  const events = filesOf(snapshot, EVENTS_TABLE, store);
  const rejects = filesOf(snapshot, REJECTS_TABLE, store);
  const raw = filesOf(snapshot, RAW_EVENTS_TABLE, store);
  await engine.run(`CREATE OR REPLACE VIEW events AS ${eventsSql(events.map(({ path }) => path))}`);
  await engine.run(`CREATE OR REPLACE VIEW rejects AS ${rejectsSql(rejects.map(({ path }) => path))}`);
  await engine.run(`CREATE OR REPLACE VIEW raw_events AS ${rawEventsSql(raw, snapshot.tables[RAW_EVENTS_TABLE]?.columns ?? [])}`);
  const aggregates = (options.aggregates ?? true) ? await aggregateViews(engine, store) : [];
  return { files: [...events, ...rejects, ...raw].map(({ path }) => path).concat(aggregates) };
}

/**
 * One view per aggregate query (names from the allowlist only) over its unloaded CSV files,
 * `aggregates/<query>/.../<query>.csv`, read as they were written: `|` delimited, with a header.
 * Aggregates are not in the catalog: each file is replaced atomically in place, so a listing is a
 * consistent set of files. Column types are sniffed from the first file, so the largest goes first
 * (a file with a header only would make every column VARCHAR). Returns the files the views read.
 */
async function aggregateViews(engine: QueryEngine, store: ObjectStore): Promise<string[]> {
  const byQuery = new Map<string, { path: string; size: number; key: string }[]>();
  for await (const { key, size } of store.list(AGGREGATES_PREFIX)) {
    const query = key.slice(AGGREGATES_PREFIX.length).split('/')[0]!;
    if (!AGGREGATE_QUERY_NAMES.includes(query) || !key.endsWith(`/${query}.csv`)) continue;
    const files = byQuery.get(query) ?? [];
    files.push({ path: store.locate(key), size, key });
    byQuery.set(query, files);
  }
  const paths: string[] = [];
  for (const query of [...byQuery.keys()].sort()) {
    const files = byQuery.get(query)!.sort((a, b) => b.size - a.size || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const list = sqlList(files.map(({ path }) => path));
    await engine.run(`CREATE OR REPLACE VIEW ${sqlIdentifier(query)} AS SELECT * FROM read_csv(${list}, delim = '|', header = true, quote = '"', escape = '"', union_by_name = true)`);
    paths.push(...files.map(({ path }) => path));
  }
  return paths;
}

/** A SELECT of the curated events of `snapshot`, typed as the `events` view is. */
export function curatedEventsSql(snapshot: CatalogSnapshot, store: ObjectStore): string {
  return eventsSql(filesOf(snapshot, EVENTS_TABLE, store).map(({ path }) => path));
}

interface LocatedFile {
  readonly key: string;
  readonly path: string;
}

function filesOf(snapshot: CatalogSnapshot, table: string, store: ObjectStore): LocatedFile[] {
  const partitions = snapshot.tables[table]?.partitions ?? {};
  return Object.keys(partitions)
    .sort()
    .flatMap((partition) => partitions[partition]!.files.map(({ key }) => ({ key, path: store.locate(key) })));
}

function eventsSql(paths: readonly string[]): string {
  if (paths.length === 0) return emptySql(EVENT_COLUMNS);
  // Typed as the layout says, whatever the writer's Parquet types; hive_partitioning off because the
  // dt=/hr=/v= directories are the catalog's business, and dt and hr are columns of the files.
  const columns = EVENT_COLUMNS.map(({ name, duckdb }) => `CAST(${sqlIdentifier(name)} AS ${duckdb}) AS ${sqlIdentifier(name)}`);
  return `SELECT ${columns.join(', ')} FROM read_parquet(${sqlList(paths)}, hive_partitioning = false)`;
}

function rejectsSql(paths: readonly string[]): string {
  if (paths.length === 0) return emptySql(REJECT_VIEW_COLUMNS);
  // Every field of a RejectLine, declared rather than detected: no sampling, and the same types for every file.
  const lineColumns = `{'reason': 'VARCHAR', 'source_key': 'VARCHAR', 'record_number': 'INTEGER', 'arrival_hour': 'VARCHAR', 'record': 'VARCHAR', 'record_base64': 'VARCHAR'}`;
  return [
    'SELECT reason, source_key, record_number,',
    `  strptime(arrival_hour, '%Y-%m-%dT%H') AS arrival_hour,`,
    `  CASE WHEN record IS NOT NULL THEN left(record, ${REJECT_RECORD_PREVIEW_CHARS})`,
    `       WHEN record_base64 IS NOT NULL THEN 'base64:' || left(record_base64, ${REJECT_RECORD_PREVIEW_CHARS}) END AS record`,
    `FROM read_json(${sqlList(paths)}, format = 'newline_delimited', columns = ${lineColumns}, maximum_object_size = ${MAX_JSON_LINE_BYTES})`,
  ].join('\n');
}

/** Glue/Hive scalar types the crawl infers, as DuckDB types; everything else is read as JSON. */
const RAW_SCALAR_TYPES: Readonly<Record<string, string>> = { string: 'VARCHAR', bigint: 'BIGINT', double: 'DOUBLE', boolean: 'BOOLEAN' };

/** The name of the column that tells which raw object a record came from, as in `events` and `rejects`. */
const SOURCE_KEY = 'source_key';
/** The column in which read_json_objects names the file of each line. */
const PATH_COLUMN = '__lakehouse_path';

/**
 * The raw records as the producers sent them, one row per line of the raw objects, with the columns
 * the crawls recorded in the catalog (as Glue's crawler gives Spectrum its table), so that nothing is
 * sampled when the view is created. Scalars are typed as the crawl inferred them (its type lattice
 * widens every mix it saw, so every registered value fits); objects and arrays are JSON, because
 * producers send some of them as strings holding JSON. `source_key` is the raw object's key.
 *
 * Each line is parsed on its own (`read_json_objects`; `read_json` would let a record cut short
 * swallow the next line). Broken records (not JSON, not an object, not UTF-8, or several records on
 * one line) are skipped here and kept, with their reason, in `rejects`.
 */
function rawEventsSql(files: readonly LocatedFile[], columns: readonly Column[]): string {
  const fields = rawColumns(columns);
  if (files.length === 0 || fields.length === 0) return emptySql([{ name: SOURCE_KEY, duckdb: 'VARCHAR' }]);
  const structure = JSON.stringify(Object.fromEntries(fields.map(({ name, duckdb }) => [name, duckdb])));
  const keys = `MAP {${files.map(({ key, path }) => `${sqlString(path)}: ${sqlString(key)}`).join(', ')}}`;
  return [
    `SELECT unnest(json_transform(json, ${sqlString(structure)})), ${keys}[${PATH_COLUMN}] AS ${SOURCE_KEY}`,
    `FROM read_json_objects(${sqlList(files.map(({ path }) => path))}, format = 'newline_delimited',`,
    `  ignore_errors = true, filename = ${sqlString(PATH_COLUMN)}, maximum_object_size = ${MAX_JSON_LINE_BYTES})`,
    // ignore_errors reads a broken line as NULL.
    `WHERE json_type(json) = 'OBJECT'`,
  ].join('\n');
}

function rawColumns(columns: readonly Column[]): ViewColumn[] {
  // DuckDB names are case-insensitive while JSON keys are not: the first of `userId` and `userid` wins.
  const taken = new Set([SOURCE_KEY]);
  const fields: ViewColumn[] = [];
  for (const { name, type } of columns) {
    if (taken.has(name.toLowerCase())) continue;
    taken.add(name.toLowerCase());
    fields.push({ name, duckdb: RAW_SCALAR_TYPES[type] ?? 'JSON' });
  }
  return fields;
}

function emptySql(columns: readonly ViewColumn[]): string {
  return `SELECT ${columns.map(({ name, duckdb }) => `CAST(NULL AS ${duckdb}) AS ${sqlIdentifier(name)}`).join(', ')} WHERE false`;
}

function sqlList(values: readonly string[]): string {
  return `[${values.map(sqlString).join(', ')}]`;
}
