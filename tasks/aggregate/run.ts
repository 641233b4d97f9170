import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { timestampValue, type DuckDBValue } from '@duckdb/node-api';
import { DuckDbQueryEngine, sqlIdentifier, sqlString } from '../adapters/local/duckdb-query-engine';
import { createLakeViews } from '../adapters/local/lake-views';
import type { Catalog, CatalogSnapshot, PartitionState } from '../ports/catalog';
import { InvalidInputError } from '../ports/errors';
import type { ObjectStore } from '../ports/object-store';
import { EVENTS_TABLE, executionNameOf, hourOfPartitionKey, partitionKeyOfHour } from '../curated/layout';
import { addHours, formatHour, HOUR_IN_MS, hourStartMs, type Hour } from '../shared/hours';
import { AGGREGATE_QUERIES, aggregateKey, parametersOf, querySql, type AggregateQuery, type QueryParameter } from './queries';

export const USERS_DIMENSION_KEY = 'dims/users.jsonl';

export interface AggregateInput {
  /** The workflow execution (`$$.Execution.Id`); only checked, since aggregates are overwritten in place. */
  readonly executionId: string;
  /** The arrival hour the run processes, `YYYY-MM-DDTHH`. */
  readonly hour: string;
  /** Keys (`dt=YYYY-MM-DD/hr=HH`) of the event partitions this run's merge changed (`partitionsTouched`). */
  readonly partitions: readonly string[];
}

export interface AggregatePorts {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
}

export interface AggregateSettings {
  /** Also write `<query>.parquet` next to each CSV. @default false */
  readonly parquet?: boolean;
  /** `$z_threshold` of traffic_anomalies. @default 3 */
  readonly zThreshold?: number;
  /** DuckDB `threads`. @default DuckDB's default, one per core */
  readonly threads?: number;
  /** DuckDB `memory_limit`. @default '1GB' */
  readonly memoryLimit?: string;
}

/** The aggregate step's report; JSON-serialisable, it becomes the Step Functions state output. */
export interface AggregateResult {
  /** Every event hour some hourly query was recomputed for, ascending. */
  readonly hours: string[];
  /** Every UTC day (`YYYY-MM-DD`) the day-level queries were recomputed for, ascending. */
  readonly days: string[];
  readonly queries: string[];
  readonly filesWritten: number;
  /** The catalog version the aggregates were computed from. */
  readonly catalogVersion: number;
}

/** One result to compute: a query over one period (an event hour `YYYY-MM-DDTHH`, or a day `YYYY-MM-DD`). */
export interface AggregateJob {
  readonly query: AggregateQuery;
  readonly period: string;
}

/**
 * Recomputes the aggregates that the changed event partitions can have changed, over the catalog's
 * current snapshot, and unloads each result to `aggregates/<query>/dt=.../hr=.../<query>.csv` as
 * Redshift `UNLOAD ... CSV DELIMITER '|' HEADER` writes it, replacing the previous file atomically.
 *
 * What is recomputed, per query: every touched hour T, and every existing event hour whose result reads
 * T through the query's look-back or look-ahead: T+1 .. T+lookbackHours (e.g. the 24 hours of
 * traffic_anomalies after T, the hour after T for the sliding window and session starts) and
 * T-lookaheadHours .. T-1 (the hour before T, whose sessions may run into T). Day-level queries: every
 * day containing one of those hours. An hour without an events partition is recomputed only if touched.
 * Rows are in each query's ORDER BY, so a rerun over the same snapshot writes identical bytes.
 */
export async function runAggregate(input: AggregateInput, ports: AggregatePorts, settings: AggregateSettings = {}): Promise<AggregateResult> {
  checkInput(input);
  const zThreshold = settings.zThreshold ?? 3;
  if (!Number.isFinite(zThreshold) || zThreshold <= 0) throw new InvalidInputError(`invalid aggregate setting zThreshold ${zThreshold}: expected a positive number`);

  const snapshot = await ports.catalog.snapshot();
  const jobs = planAggregates(input.partitions.map(hourOfPartitionKey), eventHoursOf(snapshot));
  const engine = await DuckDbQueryEngine.open({
    memoryLimit: settings.memoryLimit ?? '1GB',
    tempDirectory: path.join(ports.store.scratchDir, `aggregate-spill-${randomUUID()}`),
    ...(settings.threads === undefined ? {} : { threads: settings.threads }),
  });
  const scratch = path.join(ports.store.scratchDir, `aggregate-${randomUUID()}`);
  let filesWritten = 0;
  try {
    await createUsersView(engine, ports.store);
    for (const job of jobs) {
      const sql = querySql(job.query.name);
      const { start, end } = periodBounds(job.period);
      await createLakeViews(engine, windowSnapshot(snapshot, start - job.query.lookbackHours * HOUR_IN_MS, end + job.query.lookaheadHours * HOUR_IN_MS), ports.store, { aggregates: false });
      const values: Record<QueryParameter, DuckDBValue> = {
        hour_start: timestampOf(start),
        hour_end: timestampOf(end),
        day_start: timestampOf(start),
        day_end: timestampOf(end),
        z_threshold: zThreshold,
      };
      const bound = Object.fromEntries(parametersOf(sql, job.query.name).map((name) => [name, values[name]]));
      await engine.connection.run(`CREATE OR REPLACE TEMP TABLE aggregate_result AS ${statementOf(sql)}`, bound);
      await ports.store.put(aggregateKey(job.query.name, job.period, 'csv'), await resultAsCsv(engine));
      filesWritten += 1;
      if (settings.parquet) {
        await fs.mkdir(scratch, { recursive: true });
        const local = path.join(scratch, `${job.query.name}-${randomUUID()}.parquet`);
        await engine.run(`COPY aggregate_result TO ${sqlString(local)} (FORMAT parquet)`);
        await ports.store.putFile(aggregateKey(job.query.name, job.period, 'parquet'), local);
        filesWritten += 1;
      }
    }
  } finally {
    await engine.close();
    await fs.rm(scratch, { recursive: true, force: true });
  }
  const periods = (grain: 'hour' | 'day') => [...new Set(jobs.filter((job) => job.query.grain === grain).map((job) => job.period))].sort();
  return {
    hours: periods('hour'),
    days: periods('day'),
    queries: AGGREGATE_QUERIES.map(({ name }) => name),
    filesWritten,
    catalogVersion: snapshot.version,
  };
}

/**
 * Which (query, period) results depend on the events of `touched` hours, given the event hours that
 * exist; see runAggregate. Ordered by query, then period.
 */
export function planAggregates(touched: readonly Hour[], existing: ReadonlySet<Hour>, queries: readonly AggregateQuery[] = AGGREGATE_QUERIES): AggregateJob[] {
  const jobs: AggregateJob[] = [];
  for (const query of queries) {
    const hours = new Set<Hour>(touched);
    for (const hour of touched) {
      for (let offset = -query.lookaheadHours; offset <= query.lookbackHours; offset++) {
        const dependent = addHours(hour, offset);
        if (existing.has(dependent)) hours.add(dependent);
      }
    }
    const periods = query.grain === 'hour' ? [...hours] : [...new Set([...hours].map((hour) => hour.slice(0, 10)))];
    for (const period of periods.sort()) jobs.push({ query, period });
  }
  return jobs;
}

/** The event hours with at least one file in `snapshot`. */
function eventHoursOf(snapshot: CatalogSnapshot): Set<Hour> {
  const partitions = snapshot.tables[EVENTS_TABLE]?.partitions ?? {};
  return new Set(Object.keys(partitions).filter((key) => partitions[key]!.files.length > 0).map(hourOfPartitionKey));
}

/**
 * `snapshot` with only the events partitions of the hours overlapping [startMs, endMs): the `events`
 * view then reads what the query's window needs, as partition pruning does on Spectrum.
 */
function windowSnapshot(snapshot: CatalogSnapshot, startMs: number, endMs: number): CatalogSnapshot {
  const all = snapshot.tables[EVENTS_TABLE];
  const partitions: Record<string, PartitionState> = {};
  if (all) {
    for (let ms = startMs - (startMs % HOUR_IN_MS); ms < endMs; ms += HOUR_IN_MS) {
      const key = partitionKeyOfHour(formatHour(ms));
      if (all.partitions[key]) partitions[key] = all.partitions[key];
    }
  }
  return { version: snapshot.version, tables: all ? { [EVENTS_TABLE]: { ...all, partitions } } : {} };
}

/** The view `users` (user_id, segment) over the users dimension; empty when there is none. */
async function createUsersView(engine: DuckDbQueryEngine, store: ObjectStore): Promise<void> {
  if (!(await store.exists(USERS_DIMENSION_KEY))) {
    await engine.run('CREATE OR REPLACE TEMP VIEW users AS SELECT CAST(NULL AS VARCHAR) AS user_id, CAST(NULL AS VARCHAR) AS segment WHERE false');
    return;
  }
  // One row per user, whatever the file repeats: max() keeps the result deterministic.
  await engine.run(
    [
      'CREATE OR REPLACE TEMP TABLE users AS',
      'SELECT CAST(user_id AS VARCHAR) AS user_id, max(CAST(segment AS VARCHAR)) AS segment',
      `FROM read_json(${sqlString(store.locate(USERS_DIMENSION_KEY))}, format = 'newline_delimited', columns = {'user_id': 'VARCHAR', 'segment': 'VARCHAR'})`,
      'GROUP BY 1',
    ].join('\n'),
  );
}

/**
 * The temp table `aggregate_result` as UNLOAD writes CSV: `|` between fields, a header, `\n` after
 * every row; NULL as an empty field, an empty string as `""`; a field holding `|`, `"`, CR or LF in
 * double quotes with quotes doubled; timestamps `YYYY-MM-DD HH:MM:SS`; decimals with their scale.
 */
async function resultAsCsv(engine: DuckDbQueryEngine): Promise<string> {
  const described = await engine.query('DESCRIBE aggregate_result');
  const columns = described.rows.map((row) => ({ name: String(row[0]), type: String(row[1]) }));
  const texts = columns.map(({ name, type }) =>
    type.startsWith('TIMESTAMP') ? `strftime(${sqlIdentifier(name)}, '%Y-%m-%d %H:%M:%S')` : `CAST(${sqlIdentifier(name)} AS VARCHAR)`,
  );
  // A table scan keeps insertion order, which is the query's ORDER BY.
  const result = await engine.query(`SELECT ${texts.join(', ')} FROM aggregate_result`);
  const line = (fields: readonly unknown[]) => `${fields.map((field) => csvField(field as string | null)).join('|')}\n`;
  return line(columns.map(({ name }) => name)) + result.rows.map(line).join('');
}

export function csvField(value: string | null): string {
  if (value === null) return '';
  if (value === '' || /[|"\r\n]/.test(value)) return `"${value.replaceAll('"', '""')}"`;
  return value;
}

/** The one statement of a query file, without a trailing semicolon. */
function statementOf(sql: string): string {
  return sql.trim().replace(/;\s*$/, '');
}

function periodBounds(period: string): { start: number; end: number } {
  if (period.length === 10) {
    const start = hourStartMs(`${period}T00`);
    return { start, end: start + 24 * HOUR_IN_MS };
  }
  const start = hourStartMs(period);
  return { start, end: start + HOUR_IN_MS };
}

function timestampOf(ms: number): DuckDBValue {
  return timestampValue(BigInt(ms) * 1000n);
}

function checkInput(input: AggregateInput): void {
  try {
    executionNameOf(input.executionId);
  } catch (error) {
    throw new InvalidInputError((error as Error).message, { cause: error });
  }
  hourStartMs(input.hour);
  for (const partition of input.partitions) {
    try {
      hourOfPartitionKey(partition);
    } catch (error) {
      throw new InvalidInputError(`invalid partition "${partition}": expected dt=YYYY-MM-DD/hr=HH`, { cause: error });
    }
  }
}
