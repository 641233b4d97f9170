import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { HOUR_IN_MS } from '../shared/hours';

/**
 * The aggregate queries: one file each in `queries/`, named after what it builds. This list is the
 * allowlist of names that become keys under `aggregates/` and view names in `lakehouse query`.
 */
export interface AggregateQuery {
  readonly name: string;
  /** `hour`: one result per event hour (`$hour_start`, `$hour_end`); `day`: per UTC day (`$day_start`, `$day_end`). */
  readonly grain: 'hour' | 'day';
  /** Whole hours of events before the period that the query reads (its look-back, rounded up). */
  readonly lookbackHours: number;
  /** Whole hours of events after the period that the query reads (its look-ahead). */
  readonly lookaheadHours: number;
  /**
   * For an hourly query each of whose rows belongs to one hour and depends only on the events of that
   * hour's read window (the hour with its look-back and look-ahead): the output column, a timestamp,
   * whose hour is the row's hour. Run over many hours at once, such a query gives each hour the rows, in
   * order, of its run for that hour alone, so an engine whose table holds every hour's read window may
   * compute them all in one statement.
   */
  readonly hourColumn?: 'hour' | 'minute';
}

export const AGGREGATE_QUERIES: readonly AggregateQuery[] = [
  { name: 'events_by_name', grain: 'hour', lookbackHours: 0, lookaheadHours: 0, hourColumn: 'hour' },
  { name: 'events_by_country', grain: 'hour', lookbackHours: 0, lookaheadHours: 0, hourColumn: 'hour' },
  { name: 'active_users_per_minute', grain: 'hour', lookbackHours: 0, lookaheadHours: 0, hourColumn: 'minute' },
  { name: 'active_users_per_hour', grain: 'hour', lookbackHours: 0, lookaheadHours: 0, hourColumn: 'hour' },
  // 4 minutes before the hour
  { name: 'active_users_sliding_5min', grain: 'hour', lookbackHours: 1, lookaheadHours: 0, hourColumn: 'minute' },
  { name: 'purchase_price_by_segment', grain: 'hour', lookbackHours: 0, lookaheadHours: 0, hourColumn: 'minute' },
  { name: 'high_interest_views', grain: 'hour', lookbackHours: 0, lookaheadHours: 0, hourColumn: 'hour' },
  // 30 minutes before (session starts), one hour after (sessions crossing the end of the period)
  { name: 'funnel', grain: 'hour', lookbackHours: 1, lookaheadHours: 1, hourColumn: 'hour' },
  { name: 'funnel_daily', grain: 'day', lookbackHours: 1, lookaheadHours: 1 },
  { name: 'sessions', grain: 'hour', lookbackHours: 1, lookaheadHours: 1, hourColumn: 'hour' },
  { name: 'top_regions', grain: 'hour', lookbackHours: 0, lookaheadHours: 0, hourColumn: 'hour' },
  { name: 'customer_actions', grain: 'hour', lookbackHours: 0, lookaheadHours: 0, hourColumn: 'hour' },
  { name: 'traffic_anomalies', grain: 'hour', lookbackHours: 24, lookaheadHours: 0 },
  { name: 'product_demand', grain: 'hour', lookbackHours: 0, lookaheadHours: 0, hourColumn: 'hour' },
];

export const AGGREGATE_QUERY_NAMES: readonly string[] = AGGREGATE_QUERIES.map(({ name }) => name);

export const AGGREGATES_PREFIX = 'aggregates/';

/** Where an engine that UNLOADs (Redshift, Athena) writes each result before it moves to its key. */
export const AGGREGATES_STAGING_PREFIX = '_staging/aggregates/';

/** The directory of the SQL files. */
export const QUERIES_DIR = path.resolve(__dirname, '../../queries');

/** The names a query may use as `$name` parameters; anything else in a query file is an error. */
export const QUERY_PARAMETERS = ['hour_start', 'hour_end', 'day_start', 'day_end', 'z_threshold'] as const;
export type QueryParameter = (typeof QUERY_PARAMETERS)[number];

/** A value for every parameter: a Date (UTC) for the TIMESTAMP ones, a number for `$z_threshold`. */
export type QueryParameterValues = Readonly<Record<QueryParameter, Date | number>>;

/** The SQL of `name` for `engine` (`queries/<name>.<engine>.sql` where the dialects differ, else `queries/<name>.sql`). */
export function querySql(name: string, engine: 'duckdb' | 'postgres' | 'redshift' | 'athena' = 'duckdb'): string {
  if (!AGGREGATE_QUERY_NAMES.includes(name)) throw new Error(`unknown aggregate query "${name}"; expected one of ${AGGREGATE_QUERY_NAMES.join(', ')}`);
  // Read once per process: every aggregate job asks, hundreds in a run with late events.
  const known = querySqlRead.get(`${name}.${engine}`);
  if (known !== undefined) return known;
  for (const file of [`${name}.${engine}.sql`, `${name}.sql`]) {
    try {
      const sql = readFileSync(path.join(QUERIES_DIR, file), 'utf8');
      querySqlRead.set(`${name}.${engine}`, sql);
      return sql;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  throw new Error(`no SQL file for aggregate query "${name}" in ${QUERIES_DIR}`);
}

const querySqlRead = new Map<string, string>();

/** The one statement of a query file, without a trailing semicolon. */
export function statementOf(sql: string): string {
  return sql.trim().replace(/;\s*$/, '');
}

/** The `$name` parameters `sql` uses (outside comments), checked against QUERY_PARAMETERS. */
export function parametersOf(sql: string, name = 'query'): QueryParameter[] {
  const code = sql.replace(/--[^\n]*/g, '');
  const found = new Set<string>();
  for (const match of code.matchAll(/\$([a-z_][a-z0-9_]*)/gi)) found.add(match[1]!);
  for (const parameter of found) {
    if (!(QUERY_PARAMETERS as readonly string[]).includes(parameter)) {
      throw new Error(`aggregate query ${name} uses unknown parameter $${parameter}; expected only ${QUERY_PARAMETERS.map((p) => `$${p}`).join(', ')}`);
    }
  }
  return [...found].sort() as QueryParameter[];
}

/** The event times a query reads for a period [start, end): the period widened by its look-back and look-ahead. */
export function readWindowOf(query: AggregateQuery, period: { readonly start: Date; readonly end: Date }): { start: Date; end: Date } {
  return { start: new Date(period.start.getTime() - query.lookbackHours * HOUR_IN_MS), end: new Date(period.end.getTime() + query.lookaheadHours * HOUR_IN_MS) };
}

/** `aggregates/<query>/dt=YYYY-MM-DD/hr=HH/<query>.<ext>` for an hour, `aggregates/<query>/dt=YYYY-MM-DD/<query>.<ext>` for a day. */
export function aggregateKey(query: string, period: string, ext: 'csv' | 'parquet'): string {
  const partition = period.length === 10 ? `dt=${period}` : `dt=${period.slice(0, 10)}/hr=${period.slice(11, 13)}`;
  return `${AGGREGATES_PREFIX}${query}/${partition}/${query}.${ext}`;
}
